import re


def test_security_headers_on_pages(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_pages_load_no_third_party_script_or_style(client):
    page = client.get("/").get_data(as_text=True)
    for src in re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page):
        assert src.startswith("/"), src
    assert "<script>" not in page and "style=" not in page


def test_session_cookie_flags(client, make_user):
    user = make_user()
    response = client.post(
        "/account/login", data={"email": user.email, "password": "correct-horse-battery"}
    )
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def _csrf_token(client, url):
    page = client.get(url).get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def test_form_post_without_csrf_token_is_refused(csrf_app, make_user):
    client = csrf_app.test_client()
    response = client.post("/account/login", data={"email": "a@b.org", "password": "x" * 12})
    assert response.status_code == 400
    assert "form expired" in response.get_data(as_text=True)


def test_form_post_with_csrf_token_is_accepted(csrf_app, make_user):
    user = make_user()
    client = csrf_app.test_client()
    token = _csrf_token(client, "/account/login")
    response = client.post(
        "/account/login",
        data={"email": user.email, "password": "correct-horse-battery", "csrf_token": token},
    )
    assert response.status_code == 302


def test_htmx_post_needs_the_csrf_header(csrf_app, make_user):
    user = make_user()
    client = csrf_app.test_client()
    page = client.get("/").get_data(as_text=True)
    header_token = re.search(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'', page).group(1)
    data = {"email": user.email, "password": "correct-horse-battery"}
    refused = client.post("/account/login", data=data, headers={"HX-Request": "true"})
    assert refused.status_code == 400
    accepted = client.post(
        "/account/login", data=data, headers={"HX-Request": "true", "X-CSRFToken": header_token}
    )
    assert accepted.status_code == 302


def test_open_redirect_after_login_is_refused(client, make_user):
    user = make_user()
    response = client.post(
        "/account/login?next=https://evil.example/",
        data={"email": user.email, "password": "correct-horse-battery"},
    )
    assert response.headers["Location"] == "/"


def test_error_pages_are_translated_and_never_500_for_bad_input(client):
    response = client.get("/no-such-page?lang=fr")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert 'lang="fr"' in page
    assert "Page not found" not in page


def test_unexpected_error_gives_translated_500_page(app, client):
    @app.get("/boom")
    def boom():
        raise RuntimeError("kaboom")

    response = client.get("/boom?lang=es")
    assert response.status_code == 500
    assert "kaboom" not in response.get_data(as_text=True)
    assert "Something went wrong on our side" not in response.get_data(as_text=True)
