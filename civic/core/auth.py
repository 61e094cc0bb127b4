"""Who may use a route: login and role checks for views."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import abort
from flask_login import current_user, login_required


def roles_required(*roles: str) -> Callable:
    """Allow only signed-in users holding one of `roles` (admins hold every role)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_roles = roles  # read by the test that walks every route
        return wrapped

    return decorator


admin_required = roles_required("admin")
staff_required = roles_required("staff")
