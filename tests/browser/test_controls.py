"""The memory switches in a real browser: a private message and a temporary chat keep their marks after a reload."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import AppServer, screenshot
from tests.browser.test_web import _open, _ready, _received, _rows, _send

pytestmark = pytest.mark.browser


def test_private_and_temporary_marks_survive_a_reload(
    page: Page, make_app_server: Callable[..., AppServer], database_url: str
) -> None:
    server = make_app_server(ASSISTANT_EMBEDDER="hash")
    _open(page, server.url)
    _send(page, "hello from an ordinary chat")
    expect(page.get_by_text("Fake reply to: hello from an ordinary chat")).to_be_visible(timeout=20_000)

    _send(page, "/private my locker code is 4711qq")
    expect(page.get_by_text("Fake reply to: my locker code is 4711qq")).to_be_visible(timeout=20_000)
    expect(page.get_by_text("🔒 Private", exact=False).first).to_be_visible()
    _send(page, "what did I tell you?")
    expect(page.get_by_text("Fake reply to: what did I tell you?")).to_be_visible(timeout=20_000)
    assert "4711qq" not in json.dumps(_received(server)[-1])  # the next turn does not see it

    # After a reload the private message and its reply are still marked.
    page.reload()
    _ready(page)
    expect(page.get_by_text("Fake reply to: what did I tell you?")).to_be_visible(timeout=20_000)
    private_steps = page.locator(".step").filter(has_text="4711qq")
    expect(private_steps.first).to_be_visible()
    expect(page.get_by_text("🔒 Private", exact=False)).to_have_count(2)
    private_steps.first.scroll_into_view_if_needed()
    screenshot(page, "controls-01-private-after-reload")
    assert _rows(database_url, "SELECT role, private FROM messages WHERE content LIKE '%4711qq%' ORDER BY seq") == [
        ("user", True),
        ("assistant", True),
    ]

    # A temporary chat: marked while open...
    page.locator("#new-chat-button").click()
    _ready(page)
    page.locator("#chat-settings-open-modal").click()
    # The panel says what each switch does, pinned memories included.
    expect(page.get_by_text("Pinned memories are still shown to the model", exact=False)).to_be_visible()
    page.locator("#thread_memory").click()
    screenshot(page, "controls-02-settings-panel")
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_text("Temporary chat", exact=False).first).to_be_visible()
    screenshot(page, "controls-02a-temporary-switched")
    _send(page, "a question in a temporary chat")
    expect(page.get_by_text("Fake reply to: a question in a temporary chat")).to_be_visible(timeout=20_000)
    reply = page.locator(".step").filter(has_text="Fake reply to: a question in a temporary chat").last
    expect(reply).to_contain_text("🕶️ Temporary chat")
    assert "hello from an ordinary chat" not in json.dumps(_received(server)[-1])  # nothing recalled
    screenshot(page, "controls-02-temporary-open")

    # ...and after a reload, and it is not listed with the ordinary chats in the sidebar.
    page.reload()
    _ready(page)
    expect(page.get_by_text("Fake reply to: a question in a temporary chat")).to_be_visible(timeout=20_000)
    expect(reply).to_contain_text("🕶️ Temporary chat")
    assert "/thread/" in page.url  # the reload opened the temporary chat itself
    history = page.locator("#thread-history")
    expect(history.get_by_text("hello from an ordinary chat")).to_be_visible()
    expect(history.get_by_text("a question in a temporary chat")).to_have_count(0)
    screenshot(page, "controls-03-temporary-after-reload")
