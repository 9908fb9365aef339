"""End to end in a real browser: headless Chromium, the Starlette example under uvicorn, and a
Sentinel topology whose master is killed while the user keeps clicking.

Skipped only when no Chromium binary exists (install: ``apt-get install chromium``; never
``playwright install``, which downloads a browser).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import Page, expect, sync_playwright

from hasession.testing import SentinelTopology, wait_until

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Milliseconds one click may take: a click during the failover is held until the new master answers.
CLICK_TIMEOUT = 15_000

pytestmark = [
    # Chromium keeps Secure cookies on http://localhost: the http warning does not apply to it.
    pytest.mark.filterwarnings("ignore:hasession. a Secure session cookie:hasession.InsecureCookieWarning"),
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
]


@pytest.fixture
def sentinel() -> Iterator[SentinelTopology]:
    with SentinelTopology(down_after_ms=1000) as topology:
        yield topology


@pytest.fixture
def base_url(
    sentinel: SentinelTopology, monkeypatch: pytest.MonkeyPatch, load_example: Callable[[str], Any]
) -> Iterator[str]:
    """The Starlette example, configured by ``$HASESSION_URL``, served by uvicorn in a thread."""
    monkeypatch.setenv("HASESSION_URL", sentinel.url)
    app = load_example("starlette_app").app  # what `uvicorn examples.starlette_app:app` serves
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), timeout=10, message="uvicorn to start")
        assert server.started, "uvicorn exited while starting"
        # localhost: Chromium treats it as a secure origin, so the Secure session cookie is kept over http
        yield f"http://localhost:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def click_and_expect(page: Page, count: int) -> None:
    page.click("#incr")
    expect(page.locator("#count")).to_have_text(str(count), timeout=CLICK_TIMEOUT)


def test_a_browser_stays_logged_in_through_a_master_kill(sentinel: SentinelTopology, base_url: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(base_url + "/")
            page.fill("#name", "alice")
            page.click("#login")
            expect(page.locator("#user")).to_have_text("alice")
            [cookie] = page.context.cookies()
            assert (cookie["name"], cookie["httpOnly"], cookie["secure"], cookie["sameSite"]) == (
                "session",
                True,
                True,
                "Lax",
            )
            count = 0
            for _ in range(3):
                count += 1
                click_and_expect(page, count)

            def kill() -> None:
                sentinel.wait_for_replicas_synced()
                sentinel.wait_for_new_master(sentinel.kill_master())

            fault = threading.Thread(target=kill, name="kill-master")
            fault.start()
            before = count
            while fault.is_alive():  # keep clicking through the failover
                count += 1
                click_and_expect(page, count)
            fault.join()
            print(f"\n{count - before} clicks while the master was killed and replaced")
            for _ in range(3):
                count += 1
                click_and_expect(page, count)
            page.reload()
            expect(page.locator("#user")).to_have_text("alice")
            expect(page.locator("#count")).to_have_text(str(count))
        finally:
            browser.close()
