"""Attaching every document format in the browser (picker and drag-and-drop), and the note on a cut-off reply."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import AppServer, screenshot
from tests.browser.test_web import _open, _ready, _received, _rows, _send
from tests.test_documents import docx_bytes, pdf_bytes

pytestmark = pytest.mark.browser

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _drop(page: Page, name: str, data: bytes, mime: str) -> None:
    """Drop a file on the chat as a user drags one from their file manager."""
    transfer = page.evaluate_handle(
        """([name, b64, mime]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: mime }));
            return transfer;
        }""",
        [name, base64.b64encode(data).decode(), mime],
    )
    box = page.locator("#chat-input")
    for kind in ("dragenter", "dragover", "drop"):
        box.dispatch_event(kind, {"dataTransfer": transfer})


def test_pdf_and_docx_attach_and_are_cited(
    page: Page, make_app_server: Callable[..., AppServer], tmp_path: Path, database_url: str
) -> None:
    server = make_app_server(ASSISTANT_EMBEDDER="hash")
    _open(page, server.url)

    # The picker offers the document types (Chainlit used to drop "application/*" from the list).
    accept = page.locator("#upload-button-input").get_attribute("accept") or ""
    for wanted in ("application/pdf", ".pdf", DOCX_TYPE, ".docx", "text/*"):
        assert wanted in accept.split(","), accept

    handbook = tmp_path / "handbook.pdf"
    handbook.write_bytes(pdf_bytes([["Ferry times"], ["The ferry to Naxos leaves at 07:30 from gate E7."]]))
    page.locator("#upload-button-input").set_input_files(str(handbook))
    expect(page.get_by_text("handbook.pdf").first).to_be_visible()  # the chip under the message box
    _send(page, "When does the ferry to Naxos leave?")
    expect(page.get_by_text("handbook.pdf is ready", exact=False)).to_be_visible()
    expect(page.get_by_text("2 pages", exact=False).first).to_be_visible()
    expect(page.get_by_text("Fake reply to: When does the ferry to Naxos leave?")).to_be_visible()
    expect(page.get_by_text("Sources", exact=True)).to_be_visible()
    screenshot(page, "attach-01-pdf-cited")
    received = json.dumps(_received(server)[-1])
    assert "gate E7" in received

    _drop(page, "policy.docx", docx_bytes(), DOCX_TYPE)
    expect(page.get_by_text("policy.docx").first).to_be_visible()
    _send(page, "How much are meals refunded?")
    expect(page.get_by_text("policy.docx is ready", exact=False)).to_be_visible()
    expect(page.get_by_text("Fake reply to: How much are meals refunded?")).to_be_visible()
    expect(page.get_by_text("Sources", exact=True).last).to_be_visible()
    screenshot(page, "attach-02-docx-dropped-and-cited")
    assert "40 euros" in json.dumps(_received(server)[-1])
    stored = _rows(database_url, "SELECT name, type FROM documents ORDER BY name")
    assert stored == [("handbook.pdf", "pdf"), ("policy.docx", "docx")]

    # A PDF without a text layer: the same plain message as `assistant docs add`, and nothing stored.
    blank = tmp_path / "scan.pdf"
    blank.write_bytes(pdf_bytes([[]]))
    page.locator("#upload-button-input").set_input_files(str(blank))
    _send(page, "and this scan?")
    expect(page.get_by_text("the PDF has no text layer", exact=False)).to_be_visible()
    screenshot(page, "attach-03-pdf-without-text")
    assert len(_rows(database_url, "SELECT name FROM documents")) == 2


def test_the_welcome_names_the_model_and_a_cut_off_reply_says_so(
    page: Page, make_app_server: Callable[..., AppServer]
) -> None:
    server = make_app_server(ASSISTANT_EMBEDDER="hash", ASSISTANT_ANSWER_TOKENS="40", ASSISTANT_FAKE_TOKEN_DELAY_S="0")
    _open(page, server.url)
    # The welcome page says which model answers out of the box and how to name a real one.
    page.get_by_role("button", name="Readme").click()
    expect(page.get_by_text("a tiny offline model (SmolLM2-135M) answers", exact=False)).to_be_visible()
    screenshot(page, "attach-00-welcome-names-the-model")
    page.keyboard.press("Escape")
    _send(page, "short question")
    expect(page.get_by_text("Fake reply to: short question")).to_be_visible()
    _send(page, "please repeat " + "all these words " * 40)
    note = page.get_by_text("Cut off: this reply reached the answer length limit", exact=False)
    expect(note).to_have_count(1)  # the short reply ended by itself: no note
    screenshot(page, "attach-04-cut-off-note")

    page.reload()
    _ready(page)
    expect(note).to_have_count(1)
    screenshot(page, "attach-05-cut-off-note-after-reload")


def test_a_file_sent_alone_is_stored_at_once_and_turns_ready_when_indexed(
    page: Page, make_app_server: Callable[..., AppServer], tmp_path: Path, database_url: str
) -> None:
    server = make_app_server(ASSISTANT_EMBEDDER="hash")
    _open(page, server.url)
    notes = tmp_path / "packing-list.md"
    notes.write_text("# Packing\n\nBring the blue umbrella and two adapters.\n")
    page.locator("#upload-button-input").set_input_files(str(notes))
    expect(page.get_by_text("packing-list.md").first).to_be_visible()
    page.locator("#chat-input").press("Enter")  # no question: the upload answers once the file is stored
    # The in-process worker embeds it; the upload message then says it is ready.
    expect(page.get_by_text("packing-list.md is ready", exact=False)).to_be_visible(timeout=30_000)
    assert _rows(database_url, "SELECT count(*) FROM document_chunks WHERE embedding IS NULL") == [(0,)]
    screenshot(page, "attach-06a-file-alone-ready")
    assert _rows(database_url, "SELECT title FROM threads") == [("packing-list.md",)]  # named by its file
    _send(page, "/docs")
    expect(page.get_by_text("Your documents")).to_be_visible()
    screenshot(page, "attach-06-file-alone-ready-and-docs")
    assert _rows(database_url, "SELECT status::text FROM procrastinate_jobs WHERE task_name = 'documents.embed'") == [
        ("succeeded",)
    ]
