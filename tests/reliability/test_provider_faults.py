"""Provider faults through the real LiteLLM model class and the turn pipeline, against a local stub provider.

For each fault: what is stored (status, text, why), what the user is shown, how many requests were made, and
what the model is sent on the next turn: a partial reply never reaches it as a finished answer. The user's
message is stored in every case, once.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from typer.testing import CliRunner

from assistant.cli.main import app
from assistant.pipeline.turn import ReplyDelta, TurnFinished
from assistant.providers.factory import build_chat_model
from assistant.reply_notes import incomplete_reason, reply_note
from assistant.runtime import Runtime
from assistant.settings import Settings
from assistant.web.data_layer import message_step
from memory.errors import ProviderError
from memory.short_term.window import UNFINISHED
from tests.reliability import provider_stub as stub_
from tests.reliability.provider_stub import Step

MakeRuntime = Callable[..., Runtime]
FAST = {"first_token_timeout": 5.0, "idle_timeout": 2.0, "request_timeout": 10.0, "extraction": "off"}


@dataclass(frozen=True)
class Case:
    name: str
    step: Step
    requests: int  # how many requests one turn makes (retries included)
    status: str | None = None  # the stored reply's status; None: no reply is stored
    error: str | None = None  # what the user is told instead of a reply
    reason: str | None = None  # why a partial reply is partial


CASES = [
    Case("finished reply", stub_.reply("all of the answer"), 1, status="complete"),
    Case("reply cut at the answer cap", stub_.reply("half of the", finish_reason="length"), 1, status="complete"),
    Case("429", stub_.status(429), 3, error="rate limited by the provider"),
    Case("500", stub_.status(500), 3, error="the provider had an error (HTTP 500)"),
    Case("401", stub_.status(401), 1, error="the provider rejected the API key"),
    Case("HTML with 200", stub_.html(), 1, error="the provider sent no reply"),
    Case("empty stream", stub_.empty(), 1, error="the provider sent no reply"),
    Case("hang before the first byte", stub_.hang(), 1, error="the provider sent nothing within 5 s"),
    Case("stream cut mid-way", stub_.cut("the first half of"), 1, status="partial", reason="cut"),
    Case("stream stalls mid-way", stub_.stall("the first half of"), 1, status="partial", reason="stalled"),
    Case("stream ends unsaid", stub_.unfinished("the first half of"), 1, status="partial", reason="unfinished"),
]


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-stub")


async def _runtime(make_runtime: MakeRuntime, settings: Settings, api_base: str, **overrides: Any) -> Runtime:
    config = settings.model_copy(update={"model": "openai/stub-model", "api_base": api_base, **FAST, **overrides})
    model = await build_chat_model(config)  # the real LiteLLM model class, as the app builds it
    model.retry_base_s = 0.05  # type: ignore[attr-defined]  # backoff between retries, shortened for the test
    return make_runtime(model, **FAST, **overrides)


def _conversation(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in messages if m["role"] != "system"]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_a_provider_fault_is_stored_shown_and_never_fed_back_as_finished(
    case: Case, make_runtime: MakeRuntime, settings: Settings
) -> None:
    with stub_.running(case.step) as stub:
        runtime = await _runtime(make_runtime, settings, stub.url)
        user = await runtime.conversations.ensure_user("ann")
        thread = await runtime.conversations.create_thread(user.id)

        shown: list[str] = []
        finished: TurnFinished | None = None
        started = time.monotonic()
        try:
            async for event in runtime.pipeline.run(thread, "question one"):
                if isinstance(event, ReplyDelta):
                    shown.append(event.text)
                elif isinstance(event, TurnFinished):
                    finished = event
        except ProviderError as exc:
            assert case.error and case.error in str(exc), str(exc)
            assert "Error" not in str(exc)  # no exception class names, only plain words
        took = time.monotonic() - started
        assert len(stub.requests) == case.requests
        assert took < 10

        stored = await runtime.conversations.messages(thread)
        assert [(m.role, m.content) for m in stored][:1] == [("user", "question one")]
        if case.status is None:
            assert finished is None and len(stored) == 1
        else:
            assert finished is not None and len(stored) == 2
            reply = stored[1]
            assert (reply.role, reply.status, reply.content) == ("assistant", case.status, "".join(shown))
            assert reply.content == case.step.text
            assert incomplete_reason(reply) == case.reason
            note = reply_note(reply)
            if case.reason:
                assert note and "Incomplete" in note and "again" in note
                # The browser shows the same note, live and when the chat is opened again.
                assert note in message_step(reply, "ann")["output"]
            elif case.step.finish_reason == "length":
                assert note and "Cut off" in note
            else:
                assert note is None

        # The next turn: a partial reply reaches the model marked unfinished; a failed turn leaves no reply.
        stub.script(stub_.reply("second answer"))
        async for _ in runtime.pipeline.run(thread, "question two"):
            pass
        sent = _conversation(stub.last_messages)
        if case.status is None:
            assert sent == [("user", "question one"), ("user", "question two")]
        elif case.status == "partial":
            assert sent == [
                ("user", "question one"),
                ("assistant", case.step.text + UNFINISHED),
                ("user", "question two"),
            ]
        else:
            assert sent == [("user", "question one"), ("assistant", case.step.text), ("user", "question two")]
        stored = await runtime.conversations.messages(thread)
        assert [m.content for m in stored if m.role == "user"] == ["question one", "question two"]


async def test_a_retry_after_a_broken_stream_leaves_the_fragment_out(
    make_runtime: MakeRuntime, settings: Settings
) -> None:
    with stub_.running(stub_.cut("the first half of"), stub_.reply("the whole answer")) as stub:
        runtime = await _runtime(make_runtime, settings, stub.url)
        user = await runtime.conversations.ensure_user("ann")
        thread = await runtime.conversations.create_thread(user.id)
        events = [e async for e in runtime.pipeline.run(thread, "question one")]
        first = events[-1]
        assert isinstance(first, TurnFinished) and first.reply.status == "partial"
        # The browser's Retry answers the stored message again: the fragment after it is not context.
        again = [e async for e in runtime.pipeline.answer(thread, first.user_message)]
        assert _conversation(stub.last_messages) == [("user", "question one")]
    retried = again[-1]
    assert isinstance(retried, TurnFinished), retried
    assert (retried.reply.status, retried.reply.content) == (
        "complete",
        "the whole answer",
    ), retried.reply.usage
    stored = await runtime.conversations.messages(thread)
    assert [(m.role, m.status) for m in stored] == [
        ("user", "complete"),
        ("assistant", "partial"),
        ("assistant", "complete"),
    ]


async def test_a_refused_connection_is_named_in_plain_words(make_runtime: MakeRuntime, settings: Settings) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    runtime = await _runtime(make_runtime, settings, f"http://127.0.0.1:{port}/v1", max_retries=1)
    user = await runtime.conversations.ensure_user("ann")
    thread = await runtime.conversations.create_thread(user.id)
    with pytest.raises(ProviderError) as raised:
        async for _ in runtime.pipeline.run(thread, "anyone there?"):
            pass
    text = str(raised.value)
    assert f"cannot reach the model provider at 127.0.0.1:{port}: connection refused" in text
    assert "InternalServerError" not in text and "Connection error" not in text
    assert [m.content for m in await runtime.conversations.messages(thread)] == ["anyone there?"]


def test_a_hanging_provider_fails_in_seconds_by_default() -> None:
    """Defaults: a remote provider that sends nothing fails after one 30 s wait (a timed-out attempt is not
    retried), not 3 x 120 s; a stream that goes quiet fails after 15 s."""
    defaults = Settings(_env_file=None)
    assert defaults.first_token_timeout == 30.0 and defaults.idle_timeout == 15.0
    assert defaults.first_token_timeout + defaults.idle_timeout < 60


def test_the_cli_shows_a_partial_reply_as_incomplete(
    store_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    runner = CliRunner()
    with stub_.running(stub_.cut("the first half of")) as stub:
        for name, value in {"MODEL": "openai/stub-model", "API_BASE": stub.url, "EXTRACTION": "off"}.items():
            monkeypatch.setenv(f"ASSISTANT_{name}", value)
        monkeypatch.setenv("ASSISTANT_IDLE_TIMEOUT", "2")
        shown = runner.invoke(app, ["chat", "question one", "--user", "ann"])
        assert shown.exit_code == 0, shown.output
        assert "the first half of" in shown.stdout
        assert "Incomplete: the connection to the model provider broke off" in shown.stderr
        stub.script(stub_.stall("the start"))
        as_json = runner.invoke(app, ["chat", "question two", "--user", "ann", "--json"])
    result = json.loads(as_json.stdout)
    assert (result["reply"], result["status"], result["incomplete"]) == ("the start", "partial", "stalled")
    listing = runner.invoke(app, ["threads", "show", result["thread_id"], "--user", "ann"])
    assert "the start [partial: stalled]" in " ".join(listing.stdout.split())
