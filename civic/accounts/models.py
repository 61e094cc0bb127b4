"""Users, their roles, department memberships, verification codes and login attempts."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from civic.core.models import Department, District, created_at_column
from civic.core.time import UTCDateTime
from civic.extensions import db

ROLES = ("resident", "team_member", "staff", "judge", "facilitator", "admin")
VERIFICATION_LEVELS = ("unverified", "verified")


class User(UserMixin, db.Model):
    """A person with an account; may hold several roles."""

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(120))
    locale: Mapped[str | None] = mapped_column(String(10))
    home_district_id: Mapped[int | None] = mapped_column(
        ForeignKey("district.id", ondelete="SET NULL")
    )
    verification_level: Mapped[str] = mapped_column(String(20), default="unverified")
    verified_district_id: Mapped[int | None] = mapped_column(
        ForeignKey("district.id", ondelete="SET NULL")
    )
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    is_active_account: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped on password change and reset, so reset links and sessions from before stop working.
    security_stamp: Mapped[int] = mapped_column(Integer, default=0)
    # Optional, for poll statistics only, and used only while shares_demographics is on
    # (set at /polls/privacy-settings).
    birth_year: Mapped[int | None] = mapped_column(Integer)
    gender: Mapped[str | None] = mapped_column(String(20))
    shares_demographics: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = created_at_column()

    home_district: Mapped[District | None] = relationship(foreign_keys=[home_district_id])
    verified_district: Mapped[District | None] = relationship(foreign_keys=[verified_district_id])
    role_rows: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )
    department_rows: Mapped[list[DepartmentMember]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    __table_args__ = (
        CheckConstraint(
            "verification_level IN ('unverified', 'verified')", name="verification_level"
        ),
        CheckConstraint(
            "verification_level = 'unverified' OR verified_district_id IS NOT NULL",
            name="verified_has_district",
        ),
    )

    @property
    def roles(self) -> set[str]:
        """The names of the roles this user holds."""
        return {row.role for row in self.role_rows}

    def has_role(self, *names: str) -> bool:
        """True when the user holds any of the named roles (admin holds all)."""
        held = self.roles
        return "admin" in held or any(name in held for name in names)

    @property
    def department_ids(self) -> set[int]:
        """Ids of the departments this staff member belongs to."""
        return {row.department_id for row in self.department_rows}

    @property
    def is_verified(self) -> bool:
        """True when staff or a desk code verified the user as a resident of a district."""
        return self.verification_level == "verified" and self.verified_district_id is not None

    @property
    def is_active(self) -> bool:  # flask-login reads this
        return self.is_active_account

    def get_id(self) -> str:
        # The stamp in the session id logs out every session after a password change.
        return f"{self.id}:{self.security_stamp}"


class UserRole(db.Model):
    """One role held by one user."""

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = created_at_column()

    user: Mapped[User] = relationship(back_populates="role_rows")

    __table_args__ = (
        UniqueConstraint("user_id", "role"),
        CheckConstraint(
            "role IN ('resident', 'team_member', 'staff', 'judge', 'facilitator', 'admin')",
            name="known_role",
        ),
    )


class DepartmentMember(db.Model):
    """A staff member's membership of a department."""

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id", ondelete="CASCADE"))

    user: Mapped[User] = relationship(back_populates="department_rows")
    department: Mapped[Department] = relationship()

    __table_args__ = (UniqueConstraint("user_id", "department_id"),)


class VerificationCode(db.Model):
    """A one-time code staff print at a service desk; redeeming it verifies a resident."""

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("district.id", ondelete="CASCADE"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    redeemed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    redeemed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    district: Mapped[District] = relationship()


class LoginAttempt(db.Model):
    """A failed login, kept briefly to rate-limit guessing across all app servers."""

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    ip_address: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = created_at_column()
