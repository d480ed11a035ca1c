"""The chat in a real browser: threads, memory commands, resume, stop, login, documents, bad input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import AppServer, screenshot

pytestmark = pytest.mark.browser


def _ready(page: Page) -> None:
    page.wait_for_load_state("networkidle")
    expect(page.locator("#chat-input")).to_be_visible()
    # The settings button appears once the chat session has started; earlier input would be lost.
    expect(page.locator("#chat-settings-open-modal")).to_be_visible()


def _open(page: Page, url: str) -> None:
    page.goto(url)
    _ready(page)


def _send(page: Page, text: str) -> None:
    box = page.locator("#chat-input")
    box.fill(text)
    # Typing "/" opens the command menu; Escape closes it so that Enter sends the text as typed.
    if text.startswith("/"):
        box.press("Escape")
    # While the previous reply is still being finished, Enter is ignored; press again until the box empties.
    for _ in range(20):
        box.press("Enter")
        for _ in range(10):
            if box.evaluate("e => (e.value ?? e.innerText ?? '').trim()") != text.strip():
                return
            page.wait_for_timeout(100)
    raise AssertionError(f"the chat did not take the message {text!r}")


def _paste(page: Page, text: str) -> None:
    """Paste into the message box as the clipboard does."""
    page.locator("#chat-input").evaluate(
        """(box, text) => {
            const data = new DataTransfer();
            data.setData("text/plain", text);
            box.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }));
        }""",
        text,
    )


def _rows(database_url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(database_url) as conn:
        return list(conn.execute(query).fetchall())


def _received(server: AppServer) -> list[list[dict[str, str]]]:
    path = Path(server.env["ASSISTANT_FAKE_RECORD_PATH"])
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _new_chat(page: Page) -> None:
    # No confirmation: the open chat is kept in the sidebar, so nothing is lost.
    page.locator("#new-chat-button").click()
    _ready(page)


def test_threads_memory_commands_and_resume(
    page: Page, make_app_server: Callable[..., AppServer], database_url: str
) -> None:
    app_server = make_app_server(ASSISTANT_EMBEDDER="hash")
    _open(page, app_server.url)
    screenshot(page, "web-01-welcome")

    _send(page, "hello from the browser")
    expect(page.get_by_text("Fake reply to: hello from the browser")).to_be_visible()
    expect(page.get_by_text("Used memory").first).to_be_visible()
    screenshot(page, "web-02-streamed-reply")

    _send(page, "/remember I am vegetarian")
    expect(page.get_by_text("Remembered: “I am vegetarian”")).to_be_visible()
    expect(page.get_by_role("button", name="Undo")).to_be_visible()
    screenshot(page, "web-03-remembered")

    # A new thread: the pinned fact is in what the model receives.
    _new_chat(page)
    _send(page, "what should I cook tonight?")
    expect(page.get_by_text("Fake reply to: what should I cook tonight?")).to_be_visible()
    last_input = json.dumps(_received(app_server)[-1])
    assert "I am vegetarian" in last_input
    screenshot(page, "web-04-new-thread-uses-memory")

    _send(page, "/memory")
    expect(page.get_by_text("What I know about you")).to_be_visible()
    expect(
        page.locator(".step").filter(has_text="What I know about you").get_by_text("I am vegetarian").first
    ).to_be_visible()  # first: the pinned fact; the reply that used it is listed among the turns too
    screenshot(page, "web-05-memory")

    _send(page, "/forget I am vegetarian")
    expect(page.get_by_text("would be forgotten")).to_be_visible()
    screenshot(page, "web-06-forget-asks")
    page.get_by_role("button", name="Forget", exact=False).last.click()
    expect(page.get_by_text("🗑️ Forgot")).to_be_visible()
    assert _rows(database_url, "SELECT id FROM memories WHERE text = 'I am vegetarian'") == []
    screenshot(page, "web-07-forgotten")

    # Bad input: a clear message each time, and the session keeps working.
    _send(page, "/nosuchcommand")
    expect(page.get_by_text("There is no command /nosuchcommand")).to_be_visible()
    _send(page, "/recall")
    expect(page.get_by_text("needs something after it")).to_be_visible()
    page.locator("#chat-input").fill("   ")
    page.locator("#chat-input").press("Enter")
    # A 1 MB paste would freeze the message box: it becomes an attached text file, stored as a document.
    _paste(page, "The pasted log says the backup ran at 03:00. " * 22_000)
    expect(page.get_by_text("pasted-text-", exact=False).first).to_be_visible()
    page.locator("#chat-input").fill("what time did the backup run?")
    # The box sends nothing while the file is still uploading (slow on a loaded machine): wait for the send button.
    expect(page.locator("#chat-submit")).to_be_enabled(timeout=120_000)
    page.locator("#chat-input").press("Enter")
    expect(page.get_by_text(". Ask about it", exact=False)).to_be_visible(timeout=120_000)
    expect(page.get_by_text("Fake reply to: what time did the backup run?")).to_be_visible()
    screenshot(page, "web-08-bad-input")
    stored = _rows(database_url, "SELECT content FROM messages WHERE role = 'user' ORDER BY seq")
    assert all(str(row[0]).strip() for row in stored)  # nothing empty was stored
    assert _rows(database_url, "SELECT name FROM documents WHERE name LIKE 'pasted-text-%'")

    # The sidebar lists both threads; resuming the first shows its history.
    page.locator("#thread-history").get_by_text("hello from the browser").click()
    _ready(page)
    expect(page.get_by_text("Fake reply to: hello from the browser")).to_be_visible()
    screenshot(page, "web-09-resumed")
    _send(page, "and now?")
    expect(page.get_by_text("Fake reply to: and now?")).to_be_visible()
    # The resumed thread's earlier turn is in the model's input (short-term memory rebuilt from the log).
    assert "hello from the browser" in json.dumps(_received(app_server)[-1])

    # Deleting a thread from the sidebar asks whether to also forget the memories that came from it.
    forget_events = "SELECT count(*) FROM memory_events WHERE action = 'forget'"
    before = int(str(_rows(database_url, forget_events)[0][0]))
    title = page.locator("#thread-history").get_by_text("what should I cook tonight?")
    title.hover()
    title.locator("xpath=ancestor::*[.//*[@id='thread-options']][1]").locator("#thread-options").click()
    page.get_by_role("menuitem", name="Delete").click()
    page.get_by_role("button", name="Confirm").click()
    question = page.get_by_role("dialog", name="Also forget its memories?")
    expect(question).to_be_visible()
    screenshot(page, "web-10-delete-asks")
    question.get_by_role("button", name="Forget them too").click()
    expect(page.locator("#thread-history").get_by_text("what should I cook tonight?")).to_have_count(0)
    gone = "(SELECT id FROM threads WHERE title = 'what should I cook tonight?')"
    assert _rows(database_url, f"SELECT 1 FROM threads WHERE id IN {gone}") == []
    # Its turns were forgotten (audit events say so), not merely deleted with the thread.
    assert _rows(database_url, "SELECT 1 FROM memories WHERE text = 'what should I cook tonight?'") == []
    assert int(str(_rows(database_url, forget_events)[0][0])) >= before + 2


def test_the_stop_button_keeps_the_partial_reply(
    page: Page, make_app_server: Callable[..., AppServer], database_url: str
) -> None:
    app_server = make_app_server(ASSISTANT_EMBEDDER="hash", ASSISTANT_FAKE_TOKEN_DELAY_S="0.05")
    _open(page, app_server.url)
    long_message = " ".join(f"word{i}" for i in range(300))  # echoed back at 50 ms a word: about 15 s
    _send(page, long_message)
    try:
        expect(page.get_by_text("Fake reply to: word0", exact=False).first).to_be_visible()
    finally:
        screenshot(page, "web-11-streaming")
    page.locator("#stop-button").click()
    expect(page.get_by_text("Stopped: this reply is incomplete")).to_be_visible()
    screenshot(page, "web-12-stopped")
    deadline = time.monotonic() + 10
    rows: list[tuple[object, ...]] = []
    while time.monotonic() < deadline:
        rows = _rows(database_url, "SELECT status, length(content) FROM messages WHERE role = 'assistant'")
        if rows:
            break
        time.sleep(0.2)
    assert rows and rows[0][0] == "partial"
    assert 0 < int(str(rows[0][1])) < len("Fake reply to: " + long_message)
    _send(page, "still there?")
    expect(page.get_by_text("Fake reply to: still there?")).to_be_visible()


def test_password_login_and_documents(
    page: Page, make_app_server: Callable[..., AppServer], tmp_path: Path, database_url: str
) -> None:
    server = make_app_server(ASSISTANT_AUTH="password", ASSISTANT_EMBEDDER="hash")
    subprocess.run(
        [sys.executable, "-m", "assistant.cli.main", "users", "add", "ann", "--password-stdin"],
        input=b"correct horse battery\n",
        env=server.env,
        check=True,
        capture_output=True,
    )
    page.goto(server.url)
    page.locator("#email").fill("ann")
    page.locator("#password").fill("wrong password!")
    page.get_by_role("button", name="Sign In").click()
    try:
        expect(
            page.get_by_text(re.compile("wrong user name or password|could not sign in", re.I)).first
        ).to_be_visible()
    finally:
        screenshot(page, "web-13-login-refused")
    page.locator("#password").fill("correct horse battery")
    page.get_by_role("button", name="Sign In").click()
    _ready(page)
    screenshot(page, "web-14-logged-in")

    notes = tmp_path / "trip-notes.md"
    notes.write_text("# Trip\n\nThe ferry to Naxos leaves at 07:30 from gate E7.\n")
    page.locator("#upload-button-input").set_input_files(str(notes))
    _send(page, "When does the ferry to Naxos leave?")
    expect(page.get_by_text("trip-notes.md is ready", exact=False)).to_be_visible()
    expect(page.get_by_text("Fake reply to: When does the ferry to Naxos leave?")).to_be_visible()
    expect(page.get_by_text("Sources", exact=True)).to_be_visible()
    screenshot(page, "web-15-document-cited")
    assert "gate E7" in json.dumps(_received(server)[-1])

    _send(page, "/docs")
    expect(page.get_by_text("Your documents")).to_be_visible()

    bad = tmp_path / "photo.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    page.locator("#upload-button-input").set_input_files(str(bad))
    _send(page, "and this file?")
    try:
        expect(page.get_by_text("unsupported file type", exact=False)).to_be_visible()
        expect(page.get_by_text("Fake reply to: and this file?")).to_be_visible()
    finally:
        screenshot(page, "web-16-unsupported-file")
    assert _rows(database_url, "SELECT name FROM documents ORDER BY name") == [("trip-notes.md",)]
    owners = _rows(database_url, "SELECT u.name FROM threads t JOIN users u ON u.id = t.user_id")
    assert {row[0] for row in owners} == {"ann"}


def test_settings_temporary_chat_and_inspection_commands(
    page: Page, make_app_server: Callable[..., AppServer], database_url: str
) -> None:
    server = make_app_server(ASSISTANT_EMBEDDER="hash")
    _open(page, server.url)
    _send(page, "my name is Ann")
    expect(page.get_by_text("Fake reply to: my name is Ann")).to_be_visible()

    for command, shown in (
        ("/help", "Commands"),
        ("/stats", "This conversation"),
        ("/context", "Context of the last reply"),
        ("/summary", "no summary yet"),
        ("/docs", "no documents yet"),
        ("/export", "Everything stored about you"),
    ):
        _send(page, command)
        expect(page.get_by_text(shown, exact=False).last).to_be_visible()
    expect(page.get_by_text("assistant-export-local-", exact=False).first).to_be_visible()
    screenshot(page, "web-17-inspection-commands")

    # Settings: a temporary chat keeps the conversation but writes nothing to long-term memory.
    page.locator("#chat-settings-open-modal").click()
    page.locator("#thread_memory").click()
    page.locator("#timezone").fill("Mars/Olympus")
    screenshot(page, "web-18-settings")
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_text("Settings saved", exact=False)).to_be_visible()
    expect(page.get_by_text("not a time zone I know", exact=False)).to_be_visible()
    _send(page, "my locker code is 4711")
    expect(page.get_by_text("Fake reply to: my locker code is 4711")).to_be_visible()
    remembered = "SELECT remember FROM messages WHERE content = 'my locker code is 4711'"
    deadline = time.monotonic() + 15  # the turn is marked once the reply is complete
    while _rows(database_url, remembered) != [(False,)] and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.5)  # episodic memory is written off the reply path
    assert _rows(database_url, "SELECT 1 FROM memories WHERE text LIKE '%4711%'") == []
    assert _rows(database_url, "SELECT remember FROM messages WHERE content = 'my locker code is 4711'") == [(False,)]
    assert _rows(database_url, "SELECT 1 FROM memories WHERE text = 'my name is Ann'")
