"""A reply whose stream breaks off, in the browser: the text that arrived, the note saying why, and a Retry."""

import time
from collections.abc import Callable

import psycopg
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import AppServer, screenshot
from tests.browser.test_chat import _open, _send
from tests.reliability import provider_stub

pytestmark = pytest.mark.browser


def _replies(database_url: str, count: int) -> list[tuple[str, str]]:
    deadline = time.monotonic() + 15
    rows: list[tuple[str, str]] = []
    while time.monotonic() < deadline:
        with psycopg.connect(database_url) as conn:
            found = conn.execute("SELECT content, status FROM messages WHERE role = 'assistant' ORDER BY seq")
            rows = [(str(r[0]), str(r[1])) for r in found.fetchall()]
        if len(rows) >= count:
            break
        time.sleep(0.2)
    return rows


def test_a_reply_that_breaks_off_is_kept_marked_and_can_be_retried(
    page: Page, make_app_server: Callable[..., AppServer], database_url: str
) -> None:
    with provider_stub.running(
        provider_stub.cut("Here is the first half of"), provider_stub.reply("All of it.")
    ) as stub:
        server = make_app_server(
            ASSISTANT_MODEL="openai/stub-model",
            ASSISTANT_API_BASE=stub.url,
            OPENAI_API_KEY="sk-stub",
            ASSISTANT_EXTRACTION="off",
        )
        _open(page, server.url)
        _send(page, "tell me everything")
        expect(page.get_by_text("Incomplete: the connection to the model provider broke off")).to_be_visible()
        # What arrived before the cut is kept and shown: all of it here, as the stub waits before cutting; the
        # promise checked is that the stored fragment and the shown one are the same.
        [(fragment, status)] = _replies(database_url, 1)
        assert status == "partial"
        assert fragment and "Here is the first half of".startswith(fragment), fragment
        expect(page.get_by_text(fragment, exact=True)).to_be_visible()
        screenshot(page, "partial-01-broke-off")

        page.get_by_role("button", name="Retry").click()
        expect(page.get_by_text("All of it.")).to_be_visible()
        screenshot(page, "partial-02-retried")
        assert _replies(database_url, 2) == [(fragment, "partial"), ("All of it.", "complete")]
        # The retry answered the stored message alone: the fragment was not sent as context.
        assert [m["role"] for m in stub.last_messages if m["role"] != "system"] == ["user"]
