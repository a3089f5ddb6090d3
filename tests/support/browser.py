"""Headless Chromium for the browser tests: Debian's /usr/bin/chromium driven by
Playwright's driver (the `playwright` Python package); no browser is downloaded.
Screenshots go to test-artifacts/screenshots/ (git-ignored)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Debian's Chromium as root in a sandbox-less container, with no calls home.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
UI_TIMEOUT_MS = 60_000


@contextmanager
def chromium_page(profile: Path) -> Iterator:
    """One page of a fresh Chromium profile (``profile``: an empty folder)."""
    from playwright.sync_api import sync_playwright

    assert shutil.which(CHROMIUM), (
        f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium); "
        ".ci/run does this"
    )
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),  # a fresh --user-data-dir
            executable_path=CHROMIUM,
            args=CHROMIUM_FLAGS,
            headless=True,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            page = context.new_page()
            page.set_default_timeout(UI_TIMEOUT_MS)
            yield page
        finally:
            context.close()


def sign_in(
    page, base: str, username: str, password: str, landing: str, arrived: str | None = None
) -> None:
    """Sign in to the Airflow UI on the way to ``landing`` (a path); ``arrived``: the URL
    pattern of the page it leads back to (default: the landing path)."""
    page.goto(f"{base}{landing}")
    page.wait_for_url("**/auth/login**")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(arrived or f"**{landing}")
