"""Browser tests: Debian's Chromium driven by Playwright against a live Civic on 127.0.0.1.

Never `playwright install`: the browser is /usr/bin/chromium (or CIVIC_CHROMIUM)."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

CHROMIUM = os.environ.get("CIVIC_CHROMIUM", "/usr/bin/chromium")
AXE_SOURCE = (Path(__file__).parent / "axe.min.js").read_text(encoding="utf-8")
PHONE = {"width": 390, "height": 844}


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is required in CI and {CHROMIUM} is missing")
        pytest.skip(f"{CHROMIUM} is missing: run the README's test command, which installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def live_server(app, base_config):
    """Civic served on a free port, with CSRF on as in production, sharing the test database."""
    from tests.conftest import _make_app

    served = _make_app({**base_config, "WTF_CSRF_ENABLED": True})
    server = make_server("127.0.0.1", 0, served, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    served.url = f"http://127.0.0.1:{server.server_port}"
    yield served
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
    from civic.extensions import db

    with served.app_context():
        db.engine.dispose()


@pytest.fixture
def context(browser):
    context = browser.new_context(viewport=PHONE, locale="en-US", device_scale_factor=2)
    yield context
    context.close()


@pytest.fixture
def page(context):
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


def check_accessibility(page, allow: tuple[str, ...] = ()) -> None:
    """Run axe-core in the page; fail on serious or critical violations."""
    page.evaluate(AXE_SOURCE + "\n;undefined")
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} -> {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical") and v["id"] not in allow
    ]
    assert not bad, f"{page.url}: " + "; ".join(bad)


def check_fits_phone(page, width: int = 360) -> None:
    """The page has no horizontal scroll at a small phone's width."""
    original = page.viewport_size
    page.set_viewport_size({"width": width, "height": 780})
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    page.set_viewport_size(original)
    assert overflow <= 0, f"{page.url} overflows a {width}px screen by {overflow}px"
