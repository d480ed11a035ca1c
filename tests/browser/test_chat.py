import signal
import time

import psycopg
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import AppServer, screenshot

pytestmark = pytest.mark.browser


def _send(page: Page, text: str) -> None:
    box = page.locator("#chat-input")
    box.fill(text)
    box.press("Enter")


def _open(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    expect(page.locator("#chat-input")).to_be_visible()
    # The settings button appears once the chat session has started: messages typed earlier are lost.
    expect(page.locator("#chat-settings-open-modal")).to_be_visible()


def _stored(database_url: str) -> list[tuple[str, str, str]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT role, content, status FROM messages ORDER BY seq").fetchall()
    return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]


def test_a_message_gets_a_streamed_reply_and_is_stored(page: Page, app_server: AppServer, database_url: str) -> None:
    _open(page, app_server.url)
    screenshot(page, "01-welcome")
    _send(page, "hello from the browser")
    expect(page.get_by_text("Fake reply to: hello from the browser")).to_be_visible()
    screenshot(page, "02-reply")
    deadline = time.monotonic() + 15
    while len(_stored(database_url)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _stored(database_url) == [
        ("user", "hello from the browser", "complete"),
        ("assistant", "Fake reply to: hello from the browser", "complete"),
    ]


def test_killing_the_app_loses_no_message(page: Page, app_server: AppServer, database_url: str) -> None:
    _open(page, app_server.url)
    _send(page, "remember this line")
    expect(page.get_by_text("Fake reply to: remember this line")).to_be_visible()
    app_server.kill(signal.SIGKILL)
    app_server.start()
    _open(page, app_server.url)
    _send(page, "did you remember the line?")
    expect(page.get_by_text("Fake reply to: did you remember the line?")).to_be_visible()
    # The reply is visible as it streams; it is stored when it is complete.
    deadline = time.monotonic() + 15
    while len(_stored(database_url)) < 4 and time.monotonic() < deadline:
        time.sleep(0.2)
    contents = [c for _, c, _ in _stored(database_url)]
    assert contents[:3] == ["remember this line", "Fake reply to: remember this line", "did you remember the line?"]
    # The new conversation after the restart recalls the first one from long-term memory (it shares "remember" and "line").
    assert contents[3].startswith("Fake reply to: did you remember the line?") and "remember this line" in contents[3]
