"""Headless Chromium for the explorer pages: the browser tests, the page-open benchmark and the
screenshots in docs/ all open pages through here.

The browser is the system's Chromium (Debian's ``chromium`` package, or ``EGOINSTRUCT_CHROMIUM``),
driven by Playwright for Python; Playwright's own browser download is never used, so nothing is
fetched at run time. ``tests/browser/install-chromium.sh`` installs the package (CI runs it).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from egoinstruct.errors import MissingModelError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium_executable() -> str | None:
    """The Chromium to drive: ``EGOINSTRUCT_CHROMIUM`` if set, else the first on PATH, else None."""
    configured = os.environ.get("EGOINSTRUCT_CHROMIUM")
    if configured:
        return configured
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


@contextmanager
def headless_chromium() -> Iterator[Any]:
    """A headless Chromium (a Playwright ``Browser``), closed on exit."""
    executable = chromium_executable()
    if executable is None:
        raise MissingModelError(
            "no Chromium found: install Debian's chromium package (tests/browser/install-chromium.sh, as root) "
            "or set EGOINSTRUCT_CHROMIUM to a Chromium or Chrome executable"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - playwright is in the pinned environment
        raise MissingModelError("playwright is not installed; run ./setup.sh (requirements/lock.txt)") from exc
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True,
            # muted videos may play without a click, as in a person's browser after one
            args=["--autoplay-policy=no-user-gesture-required", "--disable-gpu", "--no-sandbox"],
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class OpenedPage:
    """A page opened from disk, with what happened while it loaded."""

    page: Any
    seconds_to_ready: float
    console: list[tuple[str, str]] = field(default_factory=list)  # (type, text)
    requests: list[str] = field(default_factory=list)  # every URL asked for

    @property
    def errors(self) -> list[str]:
        return [text for kind, text in self.console if kind in ("error", "pageerror")]

    @property
    def remote_requests(self) -> list[str]:
        """Requests that left the disk (anything but file: and data: URLs)."""
        return [url for url in self.requests if not url.startswith(("file:", "data:", "blob:"))]


def open_page(browser: Any, html: str | Path, width: int = 1400, height: int = 1000,
              timeout_s: float = 30.0) -> OpenedPage:
    """Open an explorer page and wait until it has loaded its data (``body[data-ready]``);
    ``seconds_to_ready`` runs from the navigation to that moment."""
    # bypass_csp: the page forbids eval, which Playwright's waiting helpers use; requests are still
    # all recorded (remote_requests), so a page that reached out would be caught there
    page = browser.new_page(viewport={"width": width, "height": height}, bypass_csp=True)
    opened = OpenedPage(page, 0.0)
    page.on("console", lambda message: opened.console.append((message.type, message.text)))
    page.on("pageerror", lambda error: opened.console.append(("pageerror", str(error))))
    page.on("request", lambda request: opened.requests.append(request.url))
    start = time.perf_counter()
    page.goto(Path(html).resolve().as_uri())
    page.wait_for_selector("body[data-ready]", state="attached", timeout=timeout_s * 1000)
    opened.seconds_to_ready = time.perf_counter() - start
    return opened


def wait_for_videos(page: Any, timeout_s: float = 15.0) -> None:
    """Until every video can show its current frame (readyState >= 2) and none is seeking."""
    page.wait_for_function(
        "[...document.querySelectorAll('video')].every(v => v.readyState >= 2 && !v.seeking)",
        timeout=timeout_s * 1000,
    )
