"""One helper renders the htmx fragment or the whole page, so no view hand-rolls that branch."""

from __future__ import annotations

from flask import render_template

from civic.extensions import htmx


def render(template: str, fragment: str | None = None, status: int = 200, **context):
    """Render `fragment` for an htmx request (when given), else the full page `template`."""
    if fragment and htmx and not htmx.boosted:
        return render_template(fragment, **context), status
    return render_template(template, **context), status


def is_htmx() -> bool:
    """Whether the current request was made by htmx (and wants a fragment back)."""
    return bool(htmx)
