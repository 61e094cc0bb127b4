import re

import pytest

from civic.accounts.models import User
from civic.core.models import OutboxMessage
from civic.extensions import db


def test_register_signs_in_and_lands_home(client, districts):
    response = client.post(
        "/account/register",
        data={
            "display_name": "Bia",
            "email": "bia@example.org",
            "password": "a long password",
            "home_district": districts["porto"].id,
            "locale": "pt_BR",
            "accept_terms": "y",
        },
    )
    assert response.status_code == 302
    user = db.session.scalars(db.select(User)).one()
    assert (user.email, user.locale, user.home_district.code) == (
        "bia@example.org",
        "pt_BR",
        "porto",
    )
    assert 'lang="pt-BR"' in client.get("/").get_data(as_text=True)


def test_register_with_bad_values_keeps_the_form_and_marks_the_field(client):
    response = client.post(
        "/account/register",
        data={"display_name": "Bia", "email": "not-an-email", "password": "a long password"},
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'value="Bia"' in page
    assert 'value="not-an-email"' in page
    # The error sits next to the field and the field points at it.
    assert re.search(r'id="email-error"', page)
    assert re.search(
        r'<input[^>]*aria-describedby="email-error"[^>]*id="email"', page
    ) or re.search(r'<input[^>]*id="email"[^>]*aria-describedby="email-error"', page)
    assert 'aria-invalid="true"' in page
    assert db.session.query(User).count() == 0


def test_register_duplicate_email_shows_error_on_email(client, make_user):
    user = make_user()
    response = client.post(
        "/account/register",
        data={
            "display_name": "X",
            "email": user.email,
            "password": "a long password",
            "accept_terms": "y",
        },
    )
    assert response.status_code == 400
    assert "already exists" in response.get_data(as_text=True)


def test_login_and_logout(client, make_user):
    user = make_user()
    response = client.post(
        "/account/login", data={"email": user.email, "password": "correct-horse-battery"}
    )
    assert response.status_code == 302
    assert "My account" in client.get("/").get_data(as_text=True)
    client.post("/account/logout")
    assert "My account" not in client.get("/").get_data(as_text=True)
    assert client.get("/account/profile").status_code == 302


def test_wrong_password_says_so_and_keeps_the_email(client, make_user):
    user = make_user()
    response = client.post(
        "/account/login", data={"email": user.email, "password": "nope nope nope"}
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "not correct" in page and f'value="{user.email}"' in page


def test_too_many_attempts_gives_429(client, make_user, app):
    user = make_user()
    for _ in range(app.config["CIVIC_LOGIN_MAX_FAILURES"]):
        client.post("/account/login", data={"email": user.email, "password": "nope nope nope"})
    response = client.post(
        "/account/login", data={"email": user.email, "password": "correct-horse-battery"}
    )
    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.get_data(as_text=True)


def test_password_reset_end_to_end(client, make_user):
    user = make_user()
    client.post("/account/forgot-password", data={"email": user.email})
    body = db.session.scalars(db.select(OutboxMessage)).one().body
    link = re.search(r"http://localhost(/account/reset-password/\S+)", body).group(1)
    page = client.get(link)
    assert page.status_code == 200
    mismatch = client.post(link, data={"password": "new password 1", "confirm": "other password"})
    assert mismatch.status_code == 400
    assert "do not match" in mismatch.get_data(as_text=True)
    done = client.post(link, data={"password": "new password 1", "confirm": "new password 1"})
    assert done.status_code == 302
    assert (
        client.post(
            "/account/login", data={"email": user.email, "password": "new password 1"}
        ).status_code
        == 302
    )


def test_password_change_logs_out_other_sessions(app, make_user):
    user = make_user()
    first, second = app.test_client(), app.test_client()
    for c in (first, second):
        c.post("/account/login", data={"email": user.email, "password": "correct-horse-battery"})
    response = first.post(
        "/account/password",
        data={"current_password": "correct-horse-battery", "password": "a different one"},
    )
    assert response.status_code == 302
    assert first.get("/account/profile").status_code == 200
    assert second.get("/account/profile").status_code == 302


def test_profile_update_and_bad_district(client, auth, make_user, districts):
    user = make_user()
    auth.login(user)
    response = client.post(
        "/account/profile",
        data={"display_name": "New name", "locale": "de", "home_district": districts["centro"].id},
    )
    assert response.status_code == 302
    db.session.refresh(user)
    assert (user.display_name, user.locale, user.home_district.code) == ("New name", "de", "centro")
    bad = client.post("/account/profile", data={"display_name": "Kept", "home_district": 9999})
    assert bad.status_code == 400
    assert 'value="Kept"' in bad.get_data(as_text=True)


def test_redeem_code_view(client, auth, make_user, districts):
    from civic.accounts import services

    staff = make_user(roles=("staff",))
    code = services.create_verification_codes(staff.id, districts["porto"].id, 1)[0]
    user = make_user()
    auth.login(user)
    wrong = client.post("/account/verify", data={"code": "ZZZZ-ZZZZ-ZZZZ"})
    assert wrong.status_code == 400
    assert 'value="ZZZZ-ZZZZ-ZZZZ"' in wrong.get_data(as_text=True)
    assert client.post("/account/verify", data={"code": code}).status_code == 302
    db.session.refresh(user)
    assert user.verified_district.code == "porto"


def test_export_download(client, auth, make_user):
    user = make_user()
    auth.login(user)
    response = client.get("/account/export")
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.json["account"]["email"] == user.email
    assert "polls" in response.json and response.json["reports"] == []


def test_delete_account_view(client, auth, make_user):
    user = make_user()
    auth.login(user)
    assert client.post("/account/delete", data={"password": "nope"}).status_code == 400
    assert (
        client.post("/account/delete", data={"password": "correct-horse-battery"}).status_code
        == 302
    )
    assert db.session.query(User).count() == 0


# --- Who may use the back office -------------------------------------------------------------


def _admin_routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("admin."):
            view = app.view_functions[rule.endpoint]
            method = "POST" if "POST" in rule.methods and "GET" not in rule.methods else "GET"
            url = rule.rule.replace("<int:user_id>", "1")
            yield rule.endpoint, method, url, view.required_roles


def test_every_admin_route_declares_its_roles(app):
    routes = list(_admin_routes(app))
    assert len(routes) >= 10
    for endpoint, _m, _u, roles in routes:
        assert roles in (("admin",), ("staff",)), endpoint


@pytest.mark.parametrize(
    "who", ["anonymous", "resident", "judge", "facilitator", "team_member", "staff"]
)
def test_wrong_role_is_refused_on_every_admin_route(app, make_user, who):
    user = make_user(roles=("resident",)) if who == "anonymous" else make_user(roles=(who,))
    client = app.test_client()
    if who != "anonymous":
        client.post(
            "/account/login", data={"email": user.email, "password": "correct-horse-battery"}
        )
    checked = 0
    for endpoint, method, url, roles in _admin_routes(app):
        allowed = who in roles
        if allowed:
            continue
        response = client.open(url, method=method)
        if who == "anonymous":
            assert (
                response.status_code == 302 and "/account/login" in response.headers["Location"]
            ), endpoint
        else:
            assert response.status_code == 403, (endpoint, response.status_code)
        checked += 1
    assert checked >= (4 if who == "staff" else 10)


def test_admin_reaches_every_admin_page(app, make_user, districts):
    admin = make_user(roles=("admin",))
    client = app.test_client()
    client.post("/account/login", data={"email": admin.email, "password": "correct-horse-battery"})
    for endpoint, method, url, _roles in _admin_routes(app):
        if method == "GET":
            url = url.replace("/users/1", f"/users/{admin.id}")
            assert client.get(url).status_code == 200, endpoint


def test_staff_verifies_a_user_from_the_back_office(app, make_user, districts):
    staff = make_user(roles=("staff",))
    user = make_user()
    client = app.test_client()
    client.post("/account/login", data={"email": staff.email, "password": "correct-horse-battery"})
    page = client.get(f"/admin/users?q={user.email}").get_data(as_text=True)
    assert user.display_name in page
    response = client.post(
        f"/admin/users/{user.id}/verification", data={"district": districts["ribeira"].id}
    )
    assert response.status_code == 302
    db.session.refresh(user)
    assert user.verified_district.code == "ribeira"
    # Staff cannot change roles.
    assert (
        client.post(f"/admin/users/{user.id}/roles", data={"roles": ["admin"]}).status_code == 403
    )


def test_staff_prints_codes(app, make_user, districts):
    staff = make_user(roles=("staff",))
    client = app.test_client()
    client.post("/account/login", data={"email": staff.email, "password": "correct-horse-battery"})
    page = client.post(
        "/admin/verification-codes",
        data={"district": districts["centro"].id, "count": 3, "valid_days": 7},
    ).get_data(as_text=True)
    assert len(re.findall(r'class="code">[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}<', page)) == 3
    bad = client.post(
        "/admin/verification-codes",
        data={"district": districts["centro"].id, "count": 0, "valid_days": 7},
    )
    assert bad.status_code == 400


def test_admin_uploads_districts_and_bad_file_is_refused(app, make_user):
    import io
    import json

    from civic.config import SEEDS_DIR

    admin = make_user(roles=("admin",))
    client = app.test_client()
    client.post("/account/login", data={"email": admin.email, "password": "correct-horse-battery"})
    bad = client.post(
        "/admin/districts",
        data={"geojson": (io.BytesIO(b"{not json"), "d.geojson")},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 400 and "not valid JSON" in bad.get_data(as_text=True)
    invalid = client.post(
        "/admin/districts",
        data={
            "geojson": (
                io.BytesIO(json.dumps({"type": "FeatureCollection", "features": []}).encode()),
                "d.geojson",
            )
        },
        content_type="multipart/form-data",
    )
    assert invalid.status_code == 400 and "no features" in invalid.get_data(as_text=True)
    good = client.post(
        "/admin/districts",
        data={"geojson": (io.BytesIO((SEEDS_DIR / "districts.geojson").read_bytes()), "d.geojson")},
        content_type="multipart/form-data",
    )
    assert good.status_code == 302
    assert "Jardim das Flores" in client.get("/admin/districts").get_data(as_text=True)


def test_admin_changes_roles_and_departments(app, make_user):
    from civic.accounts import services

    admin = make_user(roles=("admin",))
    dept = services.create_department(admin.id, "roads", {"en": "Roads"}, None)
    user = make_user()
    client = app.test_client()
    client.post("/account/login", data={"email": admin.email, "password": "correct-horse-battery"})
    assert (
        client.post(f"/admin/users/{user.id}/roles", data={"roles": ["staff", "judge"]}).status_code
        == 302
    )
    assert (
        client.post(
            f"/admin/users/{user.id}/departments", data={"departments": [dept.id]}
        ).status_code
        == 302
    )
    db.session.refresh(user)
    assert user.roles == {"staff", "judge"} and user.department_ids == {dept.id}
    assert "user.roles" in client.get("/admin/audit").get_data(as_text=True)
