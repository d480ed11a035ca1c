"""The second pass over the browser chat (issue 17): receipts that stay, clean sources, a deleted chat that
stays deleted, a thread address that is not yours, commands in one Enter, plain wording, visible memory state.

Screenshots go to a temporary folder (printed; BROWSER_SHOTS names another) to be looked at.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import AppServer
from tests.browser.test_web import _open, _ready, _rows, _send

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("BROWSER_SHOTS") or tempfile.mkdtemp(prefix="assistant-shots-"))


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.bring_to_front()  # a tab in the background may not paint
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    print(f"screenshot: {SHOTS / name}.png")


def _steps_text(page: Page) -> list[str]:
    return [" ".join(t.split()) for t in page.locator(".step").all_inner_texts()]


def _cli(server: AppServer, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "assistant.cli.main", *args], env=server.env, capture_output=True, check=True
    )
    return done.stdout.decode()


def _index(texts: list[str], needle: str) -> int:
    return next(i for i, t in enumerate(texts) if needle in t)


def test_receipts_stay_under_their_reply_with_clean_sources(
    page: Page, make_app_server: Callable[..., AppServer], tmp_path: Path
) -> None:
    server = make_app_server(ASSISTANT_EMBEDDER="hash")
    _open(page, server.url)
    notes = tmp_path / "Trip-Notes.md"
    notes.write_text("# Greece\n\n## Ferries\n\nThe ferry to Naxos leaves at 07:30 from gate E7.\n")
    page.locator("#upload-button-input").set_input_files(str(notes))
    _send(page, "When does the ferry to Naxos leave?")
    expect(page.get_by_text("Trip-Notes.md is ready", exact=False)).to_be_visible()
    expect(page.get_by_text("Fake reply to: When does the ferry to Naxos leave?")).to_be_visible()
    expect(page.get_by_text("Sources", exact=True)).to_be_visible()
    expect(page.get_by_text("Used memory").first).to_be_visible()

    # The receipt sits under its reply, and the cited excerpt keeps the file's case, with its heading path.
    shot(page, "polish-01a-reply")
    texts = _steps_text(page)
    reply = _index(texts, "Fake reply to: When does the ferry")
    assert reply < _index(texts, "Used memory") or "Used memory" in texts[reply], texts
    sources = page.locator(".step").filter(has_text="Sources").last
    expect(sources).to_contain_text("Trip-Notes.md")
    expect(sources).to_contain_text("gate E7")
    # Nothing opened a side panel by itself.
    expect(page.locator("#side-view-title")).to_have_count(0)
    page.get_by_text("Used memory").first.click()
    receipt = page.locator(".step").filter(has_text="Token budget").first
    expect(receipt).to_contain_text("gate E7")
    expect(receipt).to_contain_text("Trip-Notes.md")
    assert "<document" not in receipt.inner_text() and "matched by" not in receipt.inner_text()
    shot(page, "polish-01-receipt-under-reply")

    # After a reload the receipt is rebuilt from the stored report, still under its reply.
    page.reload()
    _ready(page)
    expect(page.get_by_text("Fake reply to: When does the ferry to Naxos leave?")).to_be_visible()
    expect(page.get_by_text("Used memory").first).to_be_visible()
    texts = _steps_text(page)
    assert _index(texts, "Fake reply to: When does the ferry") <= _index(texts, "Used memory"), texts
    # The sources it cited come back under it too.
    expect(page.locator(".step").filter(has_text="Sources").last).to_contain_text("Trip-Notes.md")
    page.get_by_text("Used memory").first.click()
    expect(page.locator(".step").filter(has_text="Token budget").first).to_contain_text("gate E7")
    shot(page, "polish-02-receipt-after-reload")

    # /context shows no internal timings unless asked; /docs gives sizes in words.
    _send(page, "/context")
    expect(page.get_by_text("Context of the last reply")).to_be_visible()
    context = page.locator(".step").filter(has_text="Context of the last reply").last
    expect(context).to_contain_text("--timings")
    assert " ms" not in context.inner_text()
    _send(page, "/context --timings")
    expect(page.get_by_text("Time each step took", exact=False)).to_be_visible()
    _send(page, "/docs")
    expect(page.get_by_text("Your documents")).to_be_visible()
    size = notes.stat().st_size
    expect(page.get_by_text(f"{size} bytes", exact=False)).to_be_visible()
    shot(page, "polish-03-context-and-docs")


def test_a_deleted_open_chat_is_left_and_stays_deleted(
    page: Page, make_app_server: Callable[..., AppServer], database_url: str
) -> None:
    server = make_app_server(ASSISTANT_EMBEDDER="hash")
    _open(page, server.url)
    _send(page, "a chat about to be deleted")
    expect(page.get_by_text("Fake reply to: a chat about to be deleted")).to_be_visible()
    expect(page).to_have_url(re.compile("/thread/"))
    deleted_url = page.url
    thread_id = deleted_url.rsplit("/thread/", 1)[1]

    # A second tab stays open on the chat while the first deletes it.
    other = page.context.new_page()
    _open(other, deleted_url)
    expect(other.get_by_text("Fake reply to: a chat about to be deleted")).to_be_visible()

    page.bring_to_front()
    title = page.locator("#thread-history").get_by_text("a chat about to be deleted")
    title.hover()
    title.locator("xpath=ancestor::*[.//*[@id='thread-options']][1]").locator("#thread-options").click()
    page.get_by_role("menuitem", name="Delete").click()
    page.get_by_role("button", name="Confirm").click()
    question = page.get_by_role("dialog", name="Also forget its memories?")
    question.get_by_role("button", name="Keep the facts").click()  # the in-page question: no
    # The page leaves the deleted chat for a new one.
    expect(page).not_to_have_url(re.compile("/thread/"))
    _ready(page)
    expect(page.get_by_text("Fake reply to: a chat about to be deleted")).to_have_count(0)
    shot(page, "polish-04-deleted-chat-left")

    # The tab still showing it cannot write into it: refused, said so, nothing stored.
    other.bring_to_front()
    _send(other, "one more message into the deleted chat")
    expect(other.get_by_text("this conversation was deleted", exact=False).first).to_be_visible()
    shot(other, "polish-05-deleted-chat-refuses")
    assert _rows(database_url, "SELECT 1 FROM messages WHERE content LIKE 'one more message%'") == []
    assert _rows(database_url, f"SELECT 1 FROM threads WHERE id = '{thread_id}'") == []
    other.close()

    # After a reload it does not come back, in the sidebar or on the command line.
    page.reload()
    _ready(page)
    expect(page.locator("#thread-history").get_by_text("a chat about to be deleted")).to_have_count(0)
    assert "a chat about to be deleted" not in _cli(server, "threads", "list")
    assert _rows(database_url, "SELECT count(*) FROM threads") == [(0,)]


def test_a_thread_address_that_is_not_yours(page: Page, make_app_server: Callable[..., AppServer]) -> None:
    server = make_app_server(ASSISTANT_AUTH="password", ASSISTANT_EMBEDDER="hash")
    for name in ("ann", "bob"):
        subprocess.run(
            [sys.executable, "-m", "assistant.cli.main", "users", "add", name, "--password-stdin"],
            input=f"{name} horse battery\n".encode(),
            env=server.env,
            check=True,
            capture_output=True,
        )
    page.goto(server.url)
    page.locator("#email").fill("ann")
    page.locator("#password").fill("wrong password!")
    page.get_by_role("button", name="Sign In").click()
    try:
        expect(page.get_by_text("Wrong user name or password", exact=False).first).to_be_visible()
        page.wait_for_timeout(500)  # a toast would show by now
        expect(page.get_by_text("credentialssignin", exact=False)).to_have_count(0)
    finally:
        shot(page, "polish-06-login-refused")
    page.locator("#password").fill("ann horse battery")
    page.get_by_role("button", name="Sign In").click()
    _ready(page)
    _send(page, "ann's own chat")
    expect(page.get_by_text("Fake reply to: ann's own chat")).to_be_visible()
    expect(page).to_have_url(re.compile("/thread/"))
    ann_thread = page.url

    def refused(url: str, name: str) -> None:
        page.goto(url)
        page.wait_for_load_state("networkidle")
        try:
            expect(page.get_by_text("This conversation does not exist or is not yours")).to_be_visible()
        finally:
            shot(page, name)
        expect(page.locator("#chat-settings-open-modal")).to_be_visible()  # the settings button stays
        expect(page.get_by_role("link", name="Start a new chat")).to_be_visible()
        expect(page.get_by_text("Could not reach", exact=False)).to_have_count(0)
        expect(page.get_by_text("Couldn't resume chat", exact=False)).to_have_count(0)
        expect(page.get_by_text("ann's own chat").first if "bob" in name else page.locator("body")).to_be_visible()
        shot(page, name)

    base = server.url
    refused(f"{base}/thread/{uuid.uuid4()}", "polish-07-unknown-thread")

    # Bob opens ann's address: the same plain message, none of her messages.
    page.context.clear_cookies()
    page.goto(base)
    page.locator("#email").fill("bob")
    page.locator("#password").fill("bob horse battery")
    page.get_by_role("button", name="Sign In").click()
    _ready(page)
    page.goto(ann_thread)
    page.wait_for_load_state("networkidle")
    expect(page.get_by_text("This conversation does not exist or is not yours")).to_be_visible()
    expect(page.locator("#chat-settings-open-modal")).to_be_visible()
    expect(page.get_by_text("Could not reach", exact=False)).to_have_count(0)
    expect(page.get_by_text("Fake reply to: ann's own chat")).to_have_count(0)
    shot(page, "polish-08-another-users-thread")
    page.get_by_role("link", name="Start a new chat").click()
    _ready(page)
    _send(page, "bob is here")
    expect(page.get_by_text("Fake reply to: bob is here")).to_be_visible()


def test_commands_titles_stop_and_wording(
    page: Page, make_app_server: Callable[..., AppServer], database_url: str
) -> None:
    server = make_app_server(ASSISTANT_EMBEDDER="hash", ASSISTANT_FAKE_TOKEN_DELAY_S="0.2")
    _open(page, server.url)
    # "/stats" and one Enter: sent, not merely picked from the menu.
    box = page.locator("#chat-input")
    box.press_sequentially("/stats", delay=30)
    box.press("Enter")
    expect(page.get_by_text("No replies in this conversation yet.")).to_be_visible()
    shot(page, "polish-09-stats-one-enter")

    # The chat is named by its first real message, not by the command.
    _send(page, "plan a weekend in Lisbon")
    expect(page.get_by_text("Fake reply to: plan a weekend in Lisbon")).to_be_visible()
    titles = _rows(database_url, "SELECT title FROM threads")
    assert titles == [("plan a weekend in Lisbon",)], titles
    expect(page.locator("#thread-history").get_by_text("plan a weekend in Lisbon")).to_be_visible()

    # One memory is "This memory", not "These 1 memories".
    _send(page, "/remember my bike is green")
    expect(page.get_by_text("Remembered: “my bike is green”")).to_be_visible()
    _send(page, "/forget my bike is green")
    expect(page.get_by_text("would be forgotten")).to_be_visible()
    expect(page.get_by_text("These 1 memories")).to_have_count(0)
    shot(page, "polish-10-forget-one")
    page.get_by_role("button", name="Keep it").click()

    # Stopping a reply prints one notice.
    _send(page, " ".join(f"word{i}" for i in range(300)))
    expect(page.get_by_text("Fake reply to: word0", exact=False).first).to_be_visible()
    try:
        page.locator("#stop-button").click()
    finally:
        shot(page, "polish-11a-streaming")
    expect(page.get_by_text("Stopped: this reply is incomplete")).to_be_visible()
    page.wait_for_timeout(1500)
    expect(page.get_by_text("Task manually stopped", exact=False)).to_have_count(0)
    shot(page, "polish-11-stopped-once")

    # New chat asks nothing (the chat is kept in the sidebar); Enter submits a rename.
    page.locator("#new-chat-button").click()
    expect(page.get_by_role("button", name="Confirm")).to_have_count(0)
    _ready(page)
    title = page.locator("#thread-history").get_by_text("plan a weekend in Lisbon")
    title.hover()
    title.locator("xpath=ancestor::*[.//*[@id='thread-options']][1]").locator("#thread-options").click()
    page.get_by_role("menuitem", name="Rename").click()
    shot(page, "polish-12-rename-dialog")
    field = page.get_by_role("dialog").locator("input").first
    field.fill("Lisbon weekend")
    field.press("Enter")
    expect(page.locator("#thread-history").get_by_text("Lisbon weekend").first).to_be_visible()
    assert _rows(database_url, "SELECT title FROM threads") == [("Lisbon weekend",)]
    shot(page, "polish-13-renamed")


def test_memory_state_is_visible_while_it_holds_and_after_a_reload(
    page: Page, make_app_server: Callable[..., AppServer]
) -> None:
    server = make_app_server(ASSISTANT_EMBEDDER="hash")
    _open(page, server.url)
    badge = page.locator("#assistant-memory-state")
    expect(badge).to_have_count(0)
    _send(page, "/private my locker code is 4711qq")
    expect(page.get_by_text("🔒 Private", exact=False).first).to_be_visible()

    # Temporary chat: a badge at the top while it holds, and after a reload.
    page.locator("#chat-settings-open-modal").click()
    page.locator("#thread_memory").click()
    page.get_by_role("button", name="Confirm").click()
    expect(badge).to_contain_text("Temporary chat")
    shot(page, "polish-14-temporary-badge")
    _send(page, "a question in a temporary chat")
    expect(page.get_by_text("Fake reply to: a question in a temporary chat")).to_be_visible()
    page.reload()
    _ready(page)
    expect(badge).to_contain_text("Temporary chat")
    expect(page.get_by_text("🔒 Private", exact=False).first).to_be_visible()
    shot(page, "polish-15-temporary-after-reload")

    # Long-term memory off for all chats: its own badge, on every chat, until turned on again.
    page.locator("#chat-settings-open-modal").click()
    page.locator("#thread_memory").click()
    page.locator("#memory").click()
    page.get_by_role("button", name="Confirm").click()
    expect(badge).to_contain_text("Long-term memory off")
    expect(badge).not_to_contain_text("Temporary chat")
    page.locator("#new-chat-button").click()
    _ready(page)
    expect(badge).to_contain_text("Long-term memory off")
    page.reload()
    _ready(page)
    expect(badge).to_contain_text("Long-term memory off")
    shot(page, "polish-16-memory-off-badge")
    page.locator("#chat-settings-open-modal").click()
    page.locator("#memory").click()
    page.get_by_role("button", name="Confirm").click()
    expect(badge).to_have_count(0)
