"""The memory manager in Chromium: opened by command and by button, search, edit, pin, forget, undo;
and the in-page question when a conversation is deleted."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable

import pytest
from playwright.sync_api import Dialog, Locator, Page, ViewportSize, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.browser.conftest import AppServer, screenshot
from tests.browser.test_web import _new_chat, _open, _ready, _received, _rows, _send

pytestmark = pytest.mark.browser

VIEWPORT: ViewportSize = {"width": 1280, "height": 900}


def _manager(page: Page) -> Locator:
    return page.locator("#memory-manager")


def _row(page: Page, text: str) -> Locator:
    return _manager(page).locator(".asst-memory").filter(has_text=text)


def _pinned_flag(database_url: str, text: str) -> bool:
    rows = _rows(database_url, f"SELECT pinned FROM memories WHERE text = '{text}' AND valid_to IS NULL")
    assert len(rows) == 1, rows
    return bool(rows[0][0])


def _count(database_url: str, query: str) -> int:
    return int(str(_rows(database_url, query)[0][0]))


def test_memory_manager(page: Page, make_app_server: Callable[..., AppServer], database_url: str) -> None:
    server = make_app_server(ASSISTANT_EMBEDDER="hash")
    page.set_viewport_size(VIEWPORT)
    _open(page, server.url)
    # A turn first (the fake model's reply repeats what it was given, so a fact it saw would be in the reply).
    _send(page, "my cat is called Mittens")
    expect(page.get_by_text("Fake reply to: my cat is called Mittens")).to_be_visible()
    _send(page, "/remember I am vegetarian")
    expect(page.get_by_text("Remembered: “I am vegetarian”")).to_be_visible()
    _send(page, "/remember My sister lives in Lisbon")
    expect(page.get_by_text("Remembered: “My sister lives in Lisbon”")).to_be_visible()

    # The manager's routes answer only a signed-in browser.
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{server.url}/assistant/memories", timeout=10)
    assert refused.value.code == 401

    # By command: the manager opens over the chat, grouped by kind, with where each memory came from.
    _send(page, "/memories")
    manager = _manager(page)
    expect(manager).to_be_visible()
    pinned = manager.get_by_test_id("memories-pinned")
    expect(pinned.get_by_text("I am vegetarian")).to_be_visible()
    expect(pinned.get_by_text("My sister lives in Lisbon")).to_be_visible()
    expect(_row(page, "I am vegetarian").get_by_text("remembered with /remember")).to_be_visible()
    expect(manager.get_by_test_id("memories-turns").get_by_text("turn", exact=False).first).to_be_visible()
    screenshot(page, "memories-01-opened")

    # Search narrows the list as one types.
    manager.get_by_label("Search memories").fill("lisbon")
    expect(_row(page, "My sister lives in Lisbon")).to_be_visible()
    expect(_row(page, "I am vegetarian")).to_have_count(0)
    screenshot(page, "memories-02-search")
    # Turns are searched on the server, as /recall searches them.
    manager.get_by_label("Search memories").fill("mittens")
    expect(manager.get_by_test_id("matching-turns").get_by_text("you: my cat is called Mittens")).to_be_visible()
    expect(_row(page, "I am vegetarian")).to_have_count(0)
    screenshot(page, "memories-02b-search-turns")
    manager.get_by_label("Search memories").fill("")

    # Edit, then undo: the old text is current again.
    _row(page, "I am vegetarian").get_by_role("button", name="Edit").click()
    editor = manager.get_by_label("Memory text")
    editor.fill("I am vegan")
    screenshot(page, "memories-03-editing")
    editor.press("Enter")
    expect(_row(page, "I am vegan")).to_be_visible()
    expect(manager.get_by_text("Memory changed.")).to_be_visible()
    assert _rows(database_url, "SELECT 1 FROM memories WHERE text = 'I am vegan' AND valid_to IS NULL")
    screenshot(page, "memories-04-edited")
    manager.get_by_test_id("memory-undo").click()
    expect(_row(page, "I am vegetarian")).to_be_visible()
    expect(_row(page, "I am vegan")).to_have_count(0)
    assert _rows(database_url, "SELECT 1 FROM memories WHERE text = 'I am vegan'") == []
    assert _pinned_flag(database_url, "I am vegetarian")

    # Unpin: the memory moves to the facts; pin it again: back among the pinned.
    _row(page, "My sister lives in Lisbon").get_by_role("button", name="Unpin").click()
    expect(manager.get_by_test_id("memories-facts").get_by_text("My sister lives in Lisbon")).to_be_visible()
    assert not _pinned_flag(database_url, "My sister lives in Lisbon")
    screenshot(page, "memories-05-unpinned")
    _row(page, "My sister lives in Lisbon").get_by_role("button", name="Pin").click()
    expect(pinned.get_by_text("My sister lives in Lisbon")).to_be_visible()
    assert _pinned_flag(database_url, "My sister lives in Lisbon")
    # Undo the pinning: unpinned again.
    manager.get_by_test_id("memory-undo").click()
    expect(manager.get_by_test_id("memories-facts").get_by_text("My sister lives in Lisbon")).to_be_visible()
    assert not _pinned_flag(database_url, "My sister lives in Lisbon")

    # Forget: the manager says what goes and that it is final, then the memory is gone everywhere.
    _row(page, "My sister lives in Lisbon").get_by_role("button", name="Forget").click()
    expect(manager.get_by_text("Forgetting is final")).to_be_visible()
    page.keyboard.press("Escape")  # leaves the question, not the manager
    expect(manager.get_by_text("Forgetting is final")).to_have_count(0)
    expect(_row(page, "My sister lives in Lisbon")).to_be_visible()
    _row(page, "My sister lives in Lisbon").get_by_role("button", name="Forget").click()
    expect(manager.get_by_text("Forgetting is final")).to_be_visible()
    screenshot(page, "memories-06-forget-asks")
    manager.get_by_role("button", name="Forget it").click()
    expect(manager.get_by_text("Lisbon")).to_have_count(0)
    expect(manager.get_by_text("Forgot", exact=False)).to_be_visible()
    screenshot(page, "memories-07-forgotten")
    assert _rows(database_url, "SELECT kind, text, valid_to FROM memories WHERE text ILIKE '%Lisbon%'") == []
    assert _count(database_url, "SELECT count(*) FROM memory_events WHERE before::text ILIKE '%Lisbon%'") == 0
    assert _count(database_url, "SELECT count(*) FROM memory_events WHERE after::text ILIKE '%Lisbon%'") == 0

    # Escape closes the manager; the next turn's model input has the kept fact and not the forgotten one.
    page.keyboard.press("Escape")
    expect(manager).to_have_count(0)
    _send(page, "what should I cook tonight?")
    expect(page.get_by_text("Fake reply to: what should I cook tonight?")).to_be_visible()
    received = json.dumps(_received(server)[-1])
    assert "I am vegetarian" in received
    assert "Lisbon" not in received
    # What was done in the manager was seen there: the chat announces none of it again.
    expect(page.get_by_text("Remembered: “I am vegan”")).to_have_count(0)
    expect(page.get_by_text("Remembered: “”")).to_have_count(0)

    # By button: the header's Memories button opens it too.
    page.locator("#memories-button").click()
    expect(manager).to_be_visible()
    expect(_row(page, "I am vegetarian")).to_be_visible()
    screenshot(page, "memories-08-by-button")
    manager.get_by_role("button", name="Close").click()
    expect(manager).to_have_count(0)

    # The /memories reply has a button that opens the manager again; a conversation's link opens it here.
    page.locator("#open-memory-manager").last.click()
    expect(manager).to_be_visible()
    manager.get_by_test_id("memories-turns").locator("a").first.click()
    expect(manager).to_have_count(0)
    expect(page).to_have_url(re.compile(r"/thread/[0-9a-f-]{36}$"))
    expect(page.get_by_text("Fake reply to: my cat is called Mittens")).to_be_visible()
    screenshot(page, "memories-10-conversation-opened")


def _delete_thread(page: Page, title: str) -> None:
    entry = page.locator("#thread-history").get_by_text(title)
    options = entry.locator("xpath=ancestor::*[.//*[@id='thread-options']][1]").locator("#thread-options")
    # The sidebar is redrawn after the previous deletion; a menu opened during the redraw closes with it.
    for attempt in range(3):
        entry.hover()
        options.click()
        try:
            page.get_by_role("menuitem", name="Delete").click(timeout=10_000)
            break
        except PlaywrightTimeoutError:
            if attempt == 2:
                raise
            page.keyboard.press("Escape")
    page.get_by_role("button", name="Confirm").click()


def test_deleting_a_conversation_asks_in_the_page(
    page: Page, make_app_server: Callable[..., AppServer], database_url: str
) -> None:
    server = make_app_server(ASSISTANT_EMBEDDER="hash")
    page.set_viewport_size(VIEWPORT)
    native: list[str] = []

    def refuse(dialog: Dialog) -> None:
        native.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", refuse)
    _open(page, server.url)
    _send(page, "remember that my train leaves at nine")
    expect(page.get_by_text("Fake reply to: remember that my train leaves at nine")).to_be_visible()
    _new_chat(page)
    _send(page, "a second conversation about tea")
    expect(page.get_by_text("Fake reply to: a second conversation about tea")).to_be_visible()
    turns = "SELECT count(*) FROM memories WHERE kind = 'episodic' AND text LIKE '%train leaves at nine%'"

    # Escape (like "Keep the facts") deletes the conversation and keeps the facts drawn from it.
    _delete_thread(page, "a second conversation about tea")
    question = page.get_by_role("dialog", name="Also forget its memories?")
    expect(question).to_be_visible()
    expect(question.get_by_role("button", name="Keep the facts")).to_be_focused()
    screenshot(page, "memories-09-delete-asks")
    page.keyboard.press("Escape")
    expect(question).to_have_count(0)
    expect(page.locator("#thread-history").get_by_text("a second conversation about tea")).to_have_count(0)
    # It was the open conversation, so the page goes home a moment later; a menu opened before that would close.
    expect(page).to_have_url(re.compile(r"/$"))
    page.wait_for_load_state("networkidle")

    # Tab to "Forget them too" and Enter: the turns of the deleted conversation are forgotten as well.
    _delete_thread(page, "remember that my train leaves at nine")
    expect(question).to_be_visible()
    page.keyboard.press("Tab")
    expect(question.get_by_role("button", name="Forget them too")).to_be_focused()
    page.keyboard.press("Enter")
    expect(question).to_have_count(0)
    expect(page.locator("#thread-history").get_by_text("remember that my train leaves at nine")).to_have_count(0)
    assert _count(database_url, turns) == 0
    assert _count(database_url, "SELECT count(*) FROM memory_events WHERE action = 'forget'") >= 1
    assert native == []  # no browser OK/Cancel box


def _cli(server: AppServer, *args: str, stdin: bytes | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "assistant.cli.main", *args],
        input=stdin,
        env=server.env,
        check=True,
        capture_output=True,
    )
    return done.stdout.decode()


def test_each_user_manages_only_their_own_memories(
    page: Page, make_app_server: Callable[..., AppServer], database_url: str
) -> None:
    server = make_app_server(ASSISTANT_AUTH="password", ASSISTANT_EMBEDDER="hash")
    for name in ("ann", "bob"):
        _cli(server, "users", "add", name, "--password-stdin", stdin=b"correct horse battery\n")
    ann = json.loads(_cli(server, "memory", "remember", "Ann's locker code is 4711", "--user", "ann", "--json"))
    _cli(server, "memory", "remember", "Bob plays the cello", "--user", "bob")
    page.set_viewport_size(VIEWPORT)
    page.goto(server.url)
    page.locator("#email").fill("bob")
    page.locator("#password").fill("correct horse battery")
    page.get_by_role("button", name="Sign In").click()
    _ready(page)

    page.locator("#memories-button").click()
    expect(_row(page, "Bob plays the cello")).to_be_visible()
    expect(_manager(page).get_by_text("locker code")).to_have_count(0)
    # Bob's session cannot change or forget Ann's memory by its id.
    for path, body in (
        (f"/assistant/memories/{ann['id']}/pin", {"pinned": False}),
        (f"/assistant/memories/{ann['id']}/edit", {"text": "changed by bob"}),
    ):
        assert page.request.post(server.url + path, data=body).status == 404
    page.request.post(server.url + "/assistant/memories/forget", data={"ids": [ann["id"]]})
    assert _rows(database_url, "SELECT pinned, text FROM memories WHERE text LIKE 'Ann%'") == [
        (True, "Ann's locker code is 4711")
    ]
