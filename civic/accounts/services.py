"""Account rules: registration, sign-in, password reset, profile, roles, verification."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import Flask, current_app, url_for
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import delete, func, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from civic.accounts.models import (
    ROLES,
    DepartmentMember,
    LoginAttempt,
    User,
    UserRole,
    VerificationCode,
)
from civic.config import LANGUAGES
from civic.core import audit
from civic.core.errors import Conflict, DomainError, NotFound, TooManyRequests
from civic.core.mail import deliver_outbox_message, queue_email
from civic.core.models import Department, District, OutboxMessage, StoredFile
from civic.core.time import utcnow
from civic.extensions import db, login_manager
from civic.jobs import enqueue

MIN_PASSWORD_LENGTH = 10
RESET_TOKEN_MAX_AGE = 3600  # seconds
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


def init_login(app: Flask) -> None:
    """Tell flask-login how to load users and where to send anonymous visitors."""
    login_manager.login_view = "accounts.login"
    login_manager.login_message = _l("Please sign in to continue.")
    login_manager.login_message_category = "info"

    @login_manager.user_loader
    def load_user(session_id: str) -> User | None:
        user_id, _sep, stamp = session_id.partition(":")
        if not user_id.isdigit():
            return None
        user = db.session.get(User, int(user_id))
        if user is None or str(user.security_stamp) != stamp:
            return None
        return user


def normalise_email(email: str) -> str:
    """Trimmed, lower-cased e-mail address."""
    return (email or "").strip().lower()


def _check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise DomainError(
            _l("Use at least %(count)s characters.", count=MIN_PASSWORD_LENGTH), field="password"
        )


def _check_locale(locale: str | None) -> str | None:
    if locale and locale not in LANGUAGES:
        raise DomainError(_l("This language is not available."), field="locale")
    return locale or None


def _check_district(district_id: int | None, field: str = "home_district") -> int | None:
    if district_id and db.session.get(District, district_id) is None:
        raise DomainError(_l("Please choose a district from the list."), field=field)
    return district_id or None


def get_user(user_id: int) -> User:
    """The user with this id, or NotFound."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(_l("This account does not exist."))
    return user


def get_user_by_email(email: str) -> User | None:
    """The user with this e-mail address, if any."""
    return db.session.scalar(db.select(User).where(User.email == normalise_email(email)))


def register_user(
    email: str,
    password: str,
    display_name: str,
    locale: str | None = None,
    home_district_id: int | None = None,
    roles: tuple[str, ...] = ("resident",),
) -> User:
    """Create an account; residents by default."""
    email = normalise_email(email)
    _check_password(password)
    if get_user_by_email(email) is not None:
        raise DomainError(_l("An account with this e-mail address already exists."), field="email")
    user = User(
        email=email,
        password_hash=generate_password_hash(password),
        display_name=display_name.strip(),
        locale=_check_locale(locale),
        home_district_id=_check_district(home_district_id),
    )
    user.role_rows = [UserRole(role=role) for role in roles]
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError as exc:  # a concurrent registration with the same address
        db.session.rollback()
        raise DomainError(
            _l("An account with this e-mail address already exists."), field="email"
        ) from exc
    return user


def _too_many_failures(email: str, ip_address: str) -> bool:
    config = current_app.config
    since = utcnow() - timedelta(minutes=config["CIVIC_LOGIN_WINDOW_MINUTES"])
    by_email = db.session.scalar(
        db.select(func.count(LoginAttempt.id)).where(
            LoginAttempt.email == email, LoginAttempt.created_at >= since
        )
    )
    by_ip = db.session.scalar(
        db.select(func.count(LoginAttempt.id)).where(
            LoginAttempt.ip_address == ip_address, LoginAttempt.created_at >= since
        )
    )
    limit = config["CIVIC_LOGIN_MAX_FAILURES"]
    return by_email >= limit or by_ip >= limit * 4


def authenticate(email: str, password: str, ip_address: str) -> User:
    """Check the credentials, refusing after too many recent failures."""
    email = normalise_email(email)
    if _too_many_failures(email, ip_address):
        raise TooManyRequests(
            _l("Too many failed sign-in attempts. Please wait 15 minutes or reset your password.")
        )
    user = get_user_by_email(email)
    if user is None or not check_password_hash(user.password_hash, password or ""):
        db.session.add(LoginAttempt(email=email, ip_address=ip_address))
        db.session.commit()
        raise DomainError(_l("The e-mail address or password is not correct."), field="password")
    if not user.is_active_account:
        raise DomainError(_l("This account has been disabled."), field="email")
    db.session.execute(delete(LoginAttempt).where(LoginAttempt.email == email))
    db.session.commit()
    return user


def _reset_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="civic-password-reset")


def make_reset_token(user: User) -> str:
    """A signed, expiring token that dies when the password changes."""
    return _reset_serializer().dumps({"id": user.id, "stamp": user.security_stamp})


def request_password_reset(email: str) -> None:
    """E-mail a reset link if the address has an account (and say nothing either way)."""
    user = get_user_by_email(email)
    if user is None:
        return
    link = url_for("accounts.reset_password", token=make_reset_token(user), _external=True)
    with force_locale(user.locale or current_app.config["CIVIC_DEFAULT_LOCALE"]):
        message = queue_email(
            user.email,
            str(_l("Reset your password")),
            "emails/password_reset.txt",
            user=user,
            link=link,
        )
    db.session.commit()
    enqueue(deliver_outbox_message, message.id)


def reset_password(token: str, new_password: str) -> User:
    """Set a new password from a valid reset token; the token then stops working."""
    try:
        data = _reset_serializer().loads(token, max_age=RESET_TOKEN_MAX_AGE)
    except SignatureExpired as exc:
        raise DomainError(_l("This reset link has expired. Please ask for a new one.")) from exc
    except BadSignature as exc:
        raise DomainError(_l("This reset link is not valid.")) from exc
    user = db.session.get(User, data.get("id"))
    if user is None or user.security_stamp != data.get("stamp"):
        raise DomainError(_l("This reset link has already been used."))
    _check_password(new_password)
    user.password_hash = generate_password_hash(new_password)
    user.security_stamp += 1
    db.session.execute(delete(LoginAttempt).where(LoginAttempt.email == user.email))
    db.session.commit()
    return user


def change_password(user_id: int, current_password: str, new_password: str) -> User:
    """Change a password after checking the current one."""
    user = get_user(user_id)
    if not check_password_hash(user.password_hash, current_password or ""):
        raise DomainError(_l("The current password is not correct."), field="current_password")
    _check_password(new_password)
    user.password_hash = generate_password_hash(new_password)
    user.security_stamp += 1
    db.session.commit()
    return user


def update_profile(
    user_id: int, display_name: str, locale: str | None, home_district_id: int | None
) -> User:
    """Change name, preferred language and home district."""
    user = get_user(user_id)
    if not display_name.strip():
        raise DomainError(_l("Please enter a name."), field="display_name")
    user.display_name = display_name.strip()
    user.locale = _check_locale(locale)
    user.home_district_id = _check_district(home_district_id)
    db.session.commit()
    return user


def set_locale(user_id: int, locale: str) -> None:
    """Save the language a signed-in user switched to."""
    user = get_user(user_id)
    if user.locale != _check_locale(locale):
        user.locale = locale
        db.session.commit()


def set_roles(actor_id: int, user_id: int, roles: list[str]) -> User:
    """Replace a user's roles (admin only; checked by the view and here)."""
    actor = get_user(actor_id)
    if not actor.has_role("admin"):
        raise DomainError(_l("Only administrators can change roles."), status_code=403)
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise DomainError(_l("Unknown role."), field="roles")
    user = get_user(user_id)
    if actor.id == user.id and "admin" not in roles:
        raise DomainError(_l("You cannot remove your own administrator role."), field="roles")
    before = sorted(user.roles)
    wanted = set(roles)
    user.role_rows = [r for r in user.role_rows if r.role in wanted] + [
        UserRole(role=role) for role in sorted(wanted - user.roles)
    ]
    audit.record(
        actor.id, "user.roles", "user", user.id, {"roles": before}, {"roles": sorted(wanted)}
    )
    db.session.commit()
    return user


def set_departments(actor_id: int, user_id: int, department_ids: list[int]) -> User:
    """Replace the departments a staff member belongs to."""
    user = get_user(user_id)
    known = set(
        db.session.scalars(db.select(Department.id).where(Department.id.in_(department_ids)))
    )
    if known != set(department_ids):
        raise DomainError(_l("Unknown department."), field="departments")
    before = sorted(user.department_ids)
    user.department_rows = [r for r in user.department_rows if r.department_id in known] + [
        DepartmentMember(department_id=dep_id) for dep_id in sorted(known - user.department_ids)
    ]
    audit.record(
        actor_id,
        "user.departments",
        "user",
        user.id,
        {"departments": before},
        {"departments": sorted(known)},
    )
    db.session.commit()
    return user


def set_verification(actor_id: int, user_id: int, district_id: int | None) -> User:
    """Staff verify a user as a resident of a district, or withdraw verification (None)."""
    user = get_user(user_id)
    before = {"level": user.verification_level, "district_id": user.verified_district_id}
    if district_id:
        _check_district(district_id, field="district")
        user.verification_level = "verified"
        user.verified_district_id = district_id
        user.verified_at = utcnow()
        user.verified_by_id = actor_id
    else:
        user.verification_level = "unverified"
        user.verified_district_id = None
        user.verified_at = None
        user.verified_by_id = None
    after = {"level": user.verification_level, "district_id": user.verified_district_id}
    audit.record(actor_id, "user.verification", "user", user.id, before, after)
    db.session.commit()
    return user


def _hash_code(code: str) -> str:
    cleaned = "".join(ch for ch in code.upper() if ch.isalnum())
    return hashlib.sha256(cleaned.encode()).hexdigest()


def create_verification_codes(
    actor_id: int, district_id: int, count: int, valid_days: int = 30
) -> list[str]:
    """One-time codes for a service desk to print; only their hashes are stored."""
    _check_district(district_id, field="district")
    if not 1 <= count <= 500:
        raise DomainError(_l("Choose between 1 and 500 codes."), field="count")
    if not 1 <= valid_days <= 365:
        raise DomainError(_l("Choose between 1 and 365 days."), field="valid_days")
    codes = []
    expires_at = utcnow() + timedelta(days=valid_days)
    for _ in range(count):
        raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(12))
        code = f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"
        codes.append(code)
        db.session.add(
            VerificationCode(
                code_hash=_hash_code(code),
                district_id=district_id,
                created_by_id=actor_id,
                expires_at=expires_at,
            )
        )
    audit.record(
        actor_id, "verification_codes.create", "district", district_id, None, {"count": count}
    )
    db.session.commit()
    return codes


def redeem_verification_code(user_id: int, code: str) -> User:
    """Verify the user for the code's district; each code works exactly once."""
    user = get_user(user_id)
    row = db.session.scalar(
        db.select(VerificationCode).where(VerificationCode.code_hash == _hash_code(code))
    )
    if row is None:
        raise DomainError(
            _l("This code is not valid. Please check it and try again."), field="code"
        )
    if row.expires_at < utcnow():
        raise DomainError(
            _l("This code has expired. Please ask at a service desk for a new one."), field="code"
        )
    # The conditional update makes a second, concurrent redemption find nothing to claim.
    now = utcnow()
    claimed = db.session.execute(
        update(VerificationCode)
        .where(VerificationCode.id == row.id, VerificationCode.redeemed_at.is_(None))
        .values(redeemed_at=now, redeemed_by_id=user.id)
    ).rowcount
    if not claimed:
        db.session.rollback()
        raise Conflict(_l("This code has already been used."), field="code")
    user.verification_level = "verified"
    user.verified_district_id = row.district_id
    user.verified_at = now
    user.verified_by_id = row.created_by_id
    db.session.commit()
    return user


def create_department(
    actor_id: int, code: str, names: dict[str, str], email: str | None
) -> Department:
    """Add a department."""
    code = code.strip().lower()
    if not code or not all(ch.isalnum() or ch in "-_" for ch in code):
        raise DomainError(_l("Use letters, digits, '-' or '_' for the code."), field="code")
    if db.session.scalar(db.select(Department).where(Department.code == code)):
        raise DomainError(_l("A department with this code already exists."), field="code")
    if not names:
        raise DomainError(_l("Please enter a name."), field="name")
    department = Department(code=code, name=names, email=email or None)
    db.session.add(department)
    db.session.flush()
    audit.record(
        actor_id,
        "department.create",
        "department",
        department.id,
        None,
        {"code": code, "name": names},
    )
    db.session.commit()
    return department


def list_departments() -> list[Department]:
    """All departments by code."""
    return list(db.session.scalars(db.select(Department).order_by(Department.code)))


@dataclass(frozen=True)
class UserPage:
    """A page of users for the admin list."""

    users: list[User]
    total: int
    page: int
    per_page: int


def list_users(
    search: str = "", role: str | None = None, page: int = 1, per_page: int = 50
) -> UserPage:
    """Users matching a search on name or e-mail, optionally holding a role."""
    query = db.select(User)
    if search:
        like = f"%{search.strip().lower()}%"
        query = query.where(
            func.lower(User.email).like(like) | func.lower(User.display_name).like(like)
        )
    if role:
        query = query.where(User.id.in_(db.select(UserRole.user_id).where(UserRole.role == role)))
    total = db.session.scalar(db.select(func.count()).select_from(query.subquery()))
    users = list(
        db.session.scalars(
            query.order_by(User.id).limit(per_page).offset((max(page, 1) - 1) * per_page)
        )
    )
    return UserPage(users, total, page, per_page)


def export_user_data(user_id: int) -> dict[str, Any]:
    """Everything Civic holds about a person, for their download."""
    user = get_user(user_id)
    return {
        "account": {
            "email": user.email,
            "display_name": user.display_name,
            "locale": user.locale,
            "home_district": user.home_district.code if user.home_district else None,
            "roles": sorted(user.roles),
            "verification_level": user.verification_level,
            "verified_district": user.verified_district.code if user.verified_district else None,
            "verified_at": user.verified_at.isoformat() if user.verified_at else None,
            "created_at": user.created_at.isoformat(),
        },
        "emails": [
            {"subject": m.subject, "created_at": m.created_at.isoformat(), "status": m.status}
            for m in db.session.scalars(
                db.select(OutboxMessage).where(OutboxMessage.recipient == user.email)
            )
        ],
        "files": [
            {"key": f.key, "content_type": f.content_type, "created_at": f.created_at.isoformat()}
            for f in db.session.scalars(db.select(StoredFile).where(StoredFile.owner_id == user.id))
        ],
        "polls": _polls_export(user.id),
        "reports": _reports_export(user.id),
    }


def _polls_export(user_id: int) -> dict:
    """What the polls module holds about the person (it owns that data, so it builds the export)."""
    from civic.polls.services import export_user_polls

    return export_user_polls(user_id)


def _reports_export(user_id: int) -> list[dict]:
    """The problems the person reported, as they wrote them."""
    from civic.reports.models import Report

    return [
        {
            "id": r.id,
            "created_at": r.created_at.isoformat(),
            "state": r.state,
            "description": r.description,
            "address": r.address,
            "latitude": r.latitude,
            "longitude": r.longitude,
        }
        for r in db.session.scalars(db.select(Report).where(Report.reporter_id == user_id))
    ]


def delete_account(user_id: int, password: str) -> None:
    """Delete a person's account after they confirm with their password.

    Public contributions stay (attributed to a deleted account), personal data goes.
    """
    user = get_user(user_id)
    if not check_password_hash(user.password_hash, password or ""):
        raise DomainError(_l("The password is not correct."), field="password")
    db.session.execute(delete(OutboxMessage).where(OutboxMessage.recipient == user.email))
    db.session.execute(delete(LoginAttempt).where(LoginAttempt.email == user.email))
    db.session.delete(user)
    db.session.commit()


def ensure_user(
    email: str,
    password: str,
    display_name: str,
    roles: tuple[str, ...],
    locale: str | None = None,
    home_district_id: int | None = None,
) -> User:
    """Create the user unless it exists (seeds and create-admin), then grant the roles."""
    user = get_user_by_email(email)
    if user is None:
        user = register_user(email, password, display_name, locale, home_district_id, roles)
    missing = set(roles) - user.roles
    if missing:
        user.role_rows.extend(UserRole(role=role) for role in sorted(missing))
        db.session.commit()
    return user
