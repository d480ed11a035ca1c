"""The app served by `assistant serve` on a free port with the fake model, and Debian's Chromium."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from assistant.embedded.manager import Endpoints

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
# Assertions wait as long as page actions do: on a loaded 2-core machine a reply can take more than 5 s.
expect.set_options(timeout=30_000)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class AppServer:
    url: str
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "assistant.cli.main", "serve", "--port", self.url.rsplit(":", 1)[1]],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the app exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url, timeout=2):
                    return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"the app did not answer: {self.log.read_text()[-2000:]}")

    def kill(self, sig: int = signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(timeout=30)


def _app_env(tmp_path: Path, database_url: str, services: Endpoints, redis_prefix: str) -> dict[str, str]:
    return dict(
        os.environ,
        ASSISTANT_DATABASE_URL=database_url,
        ASSISTANT_REDIS_URL=services.redis_url,
        ASSISTANT_REDIS_PREFIX=redis_prefix,
        ASSISTANT_DATA_DIR=str(tmp_path / "data"),
        ASSISTANT_MODEL="fake",
        ASSISTANT_FAKE_TOKEN_DELAY_S="0.02",
        ASSISTANT_FAKE_RECORD_PATH=str(tmp_path / "fake-received.jsonl"),
    )


@pytest.fixture
def app_server(tmp_path: Path, database_url: str, services: Endpoints, redis_prefix: str) -> Iterator[AppServer]:
    server = AppServer(
        f"http://127.0.0.1:{_free_port()}",
        _app_env(tmp_path, database_url, services, redis_prefix),
        tmp_path / "app.log",
    )
    server.start()
    yield server
    server.kill()


@pytest.fixture
def make_app_server(
    tmp_path: Path, database_url: str, services: Endpoints, redis_prefix: str
) -> Iterator[Callable[..., AppServer]]:
    """Start the app with extra environment variables (e.g. ASSISTANT_AUTH=password)."""
    started: list[AppServer] = []

    def make(**env: str) -> AppServer:
        server = AppServer(
            f"http://127.0.0.1:{_free_port()}",
            _app_env(tmp_path, database_url, services, redis_prefix) | env,
            tmp_path / "app.log",
        )
        server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.kill()


# Module scope: sync Playwright runs an event loop on this thread while it is open, which
# would stop the asyncio tests of other modules from running theirs.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (make test installs it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
