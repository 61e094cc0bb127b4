import threading

import pytest

from civic.accounts import services
from civic.accounts.models import User, VerificationCode
from civic.core.errors import DomainError, TooManyRequests
from civic.core.models import AuditEvent, OutboxMessage
from civic.extensions import db


def test_register_creates_a_resident_with_a_modern_password_hash(app):
    user = services.register_user(" Ana@Example.ORG ", "long enough pw", "Ana", "es")
    assert user.email == "ana@example.org"
    assert user.roles == {"resident"}
    assert user.password_hash.startswith(("scrypt:", "pbkdf2:sha256:600000", "argon2"))
    assert "long enough pw" not in user.password_hash
    assert not user.is_verified


def test_register_refuses_duplicate_email_and_short_password(app):
    services.register_user("a@example.org", "long enough pw", "A")
    with pytest.raises(DomainError) as duplicate:
        services.register_user("A@example.org", "long enough pw", "B")
    assert duplicate.value.field == "email"
    with pytest.raises(DomainError) as short:
        services.register_user("b@example.org", "short", "B")
    assert short.value.field == "password"


def test_authenticate_accepts_right_and_refuses_wrong_password(app, make_user):
    user = make_user()
    assert services.authenticate(user.email, "correct-horse-battery", "1.2.3.4").id == user.id
    with pytest.raises(DomainError, match="not correct"):
        services.authenticate(user.email, "wrong password", "1.2.3.4")


def test_login_attempts_are_rate_limited(app, make_user):
    user = make_user()
    for _ in range(app.config["CIVIC_LOGIN_MAX_FAILURES"]):
        with pytest.raises(DomainError):
            services.authenticate(user.email, "wrong password", "1.2.3.4")
    # Even the right password is refused while the limit holds.
    with pytest.raises(TooManyRequests):
        services.authenticate(user.email, "correct-horse-battery", "1.2.3.4")


def test_password_reset_token_works_once(app, make_user):
    user = make_user()
    with app.test_request_context("/"):
        services.request_password_reset(user.email)
    message = db.session.scalars(db.select(OutboxMessage)).one()
    assert message.recipient == user.email
    token = message.body.split("/account/reset-password/")[1].split()[0]
    services.reset_password(token, "a brand new password")
    assert services.authenticate(user.email, "a brand new password", "x").id == user.id
    with pytest.raises(DomainError, match="already been used"):
        services.reset_password(token, "another new password")


def test_password_reset_email_is_in_the_users_language(app, make_user):
    user = make_user(locale="fr")
    with app.test_request_context("/"):
        services.request_password_reset(user.email)
    message = db.session.scalars(db.select(OutboxMessage)).one()
    assert message.subject != "Reset your password"
    assert "Hello" not in message.body


def test_password_reset_for_unknown_address_sends_nothing(app):
    with app.test_request_context("/"):
        services.request_password_reset("nobody@example.org")
    assert db.session.query(OutboxMessage).count() == 0


def test_tampered_reset_token_is_refused(app, make_user):
    user = make_user()
    token = services.make_reset_token(user)
    with pytest.raises(DomainError, match="not valid"):
        services.reset_password(token[:-2] + "xx", "a brand new password")


def test_roles_can_be_combined_and_changes_are_audited(app, make_user):
    admin = make_user(roles=("admin",))
    user = make_user()
    services.set_roles(admin.id, user.id, ["resident", "judge", "staff"])
    assert user.roles == {"resident", "judge", "staff"}
    assert user.has_role("judge") and not user.has_role("facilitator")
    event = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "user.roles")).one()
    assert event.actor_id == admin.id
    assert event.before == {"roles": ["resident"]}
    assert event.after == {"roles": ["judge", "resident", "staff"]}


def test_only_admins_change_roles(app, make_user):
    staff = make_user(roles=("staff",))
    user = make_user()
    with pytest.raises(DomainError) as refused:
        services.set_roles(staff.id, user.id, ["admin"])
    assert refused.value.status_code == 403
    assert "admin" not in user.roles


def test_admin_cannot_remove_own_admin_role(app, make_user):
    admin = make_user(roles=("admin",))
    with pytest.raises(DomainError):
        services.set_roles(admin.id, admin.id, ["resident"])


def test_unknown_role_is_refused_by_the_database_too(app, make_user):
    from sqlalchemy.exc import IntegrityError

    from civic.accounts.models import UserRole

    user = make_user()
    db.session.add(UserRole(user_id=user.id, role="emperor"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_staff_verification_sets_and_withdraws_district(app, make_user, districts):
    staff = make_user(roles=("staff",))
    user = make_user()
    services.set_verification(staff.id, user.id, districts["porto"].id)
    assert user.is_verified and user.verified_district.code == "porto"
    assert user.verified_by_id == staff.id
    services.set_verification(staff.id, user.id, None)
    assert not user.is_verified and user.verified_district_id is None


def test_verification_code_verifies_once(app, make_user, districts):
    staff = make_user(roles=("staff",))
    codes = services.create_verification_codes(staff.id, districts["ribeira"].id, 2)
    assert len(codes) == 2 and all(len(c) == 14 for c in codes)
    # Only hashes are stored.
    stored = db.session.scalars(db.select(VerificationCode.code_hash)).all()
    assert not set(codes) & set(stored)
    first, second = make_user(), make_user()
    services.redeem_verification_code(first.id, codes[0].lower().replace("-", " "))
    assert first.is_verified and first.verified_district.code == "ribeira"
    with pytest.raises(DomainError, match="already been used"):
        services.redeem_verification_code(second.id, codes[0])
    assert not second.is_verified
    with pytest.raises(DomainError, match="not valid"):
        services.redeem_verification_code(second.id, "AAAA-BBBB-CCCC")


def test_expired_code_is_refused(app, make_user, districts):
    from datetime import timedelta

    from civic.core.time import utcnow

    staff = make_user(roles=("staff",))
    code = services.create_verification_codes(staff.id, districts["centro"].id, 1)[0]
    row = db.session.scalars(db.select(VerificationCode)).one()
    row.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    with pytest.raises(DomainError, match="expired"):
        services.redeem_verification_code(make_user().id, code)


def test_concurrent_redemptions_of_one_code_verify_exactly_one_user(app, make_user, districts):
    staff = make_user(roles=("staff",))
    code = services.create_verification_codes(staff.id, districts["centro"].id, 1)[0]
    users = [make_user().id for _ in range(8)]
    results: list[str] = []
    barrier = threading.Barrier(len(users))

    def redeem(user_id: int) -> None:
        with app.app_context():
            barrier.wait()
            try:
                services.redeem_verification_code(user_id, code)
                results.append("ok")
            except DomainError:
                results.append("refused")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=redeem, args=(uid,)) for uid in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["ok"] + ["refused"] * (len(users) - 1)
    verified = db.session.scalars(
        db.select(User).where(User.verification_level == "verified")
    ).all()
    assert len(verified) == 1


def test_export_and_delete_account(app, make_user, districts):
    user = make_user(home_district_id=districts["porto"].id)
    data = services.export_user_data(user.id)
    assert data["account"]["email"] == user.email
    assert data["account"]["home_district"] == "porto"
    with pytest.raises(DomainError):
        services.delete_account(user.id, "wrong")
    services.delete_account(user.id, "correct-horse-battery")
    assert db.session.get(User, user.id) is None


def test_departments(app, make_user):
    admin = make_user(roles=("admin",))
    department = services.create_department(admin.id, "Parks", {"en": "Parks"}, None)
    assert department.code == "parks"
    with pytest.raises(DomainError):
        services.create_department(admin.id, "parks", {"en": "Parks again"}, None)
    with pytest.raises(DomainError):
        services.create_department(admin.id, "bad code!", {"en": "x"}, None)
    user = make_user(roles=("staff",))
    services.set_departments(admin.id, user.id, [department.id])
    assert user.department_ids == {department.id}
