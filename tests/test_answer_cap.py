"""A reply that reaches the answer length limit is marked on every face; the local model's own cap and stops."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Callable

import pytest
from typer.testing import CliRunner

from assistant.cli.main import app
from assistant.pipeline.turn import TurnFinished
from assistant.providers.base import ChatMessage, Completed, TextDelta
from assistant.providers.fake import FakeChatModel
from assistant.providers.litellm_model import LiteLLMChatModel
from assistant.providers.local_spec import DRY_MULTIPLIER, REPEAT_PENALTY, STOP
from assistant.providers.profile import LOCAL_ANSWER_CAP as ANSWER_CAP
from assistant.providers.profile import LOCAL_LABEL as LABEL
from assistant.providers.profile import profile_for
from assistant.reply_notes import cap_note
from assistant.runtime import Runtime
from assistant.web.data_layer import message_step
from memory.conversations import Message
from tests.reliability import provider_stub

MakeRuntime = Callable[..., Runtime]
LONG = "please repeat " + "all these words " * 60


async def _reply(runtime: Runtime, text: str, user_name: str = "ann") -> Message:
    user = await runtime.conversations.ensure_user(user_name)
    thread = await runtime.conversations.create_thread(user.id)
    finished = [e async for e in runtime.pipeline.run(thread, text) if isinstance(e, TurnFinished)]
    return finished[0].reply


async def test_a_reply_cut_at_the_limit_is_stored_as_such_and_shown_with_a_note(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(FakeChatModel(), answer_tokens=32)
    cut = await _reply(runtime, LONG)
    assert (cut.usage or {})["finish_reason"] == "length"
    note = cap_note(cut)
    assert note is not None and "answer length limit" in note
    assert note in message_step(cut, "ann")["output"]  # a reopened chat shows it too

    whole = await _reply(runtime, "short question", "bob")  # bob's memory holds nothing to echo
    assert (whole.usage or {})["finish_reason"] == "stop"
    assert cap_note(whole) is None
    assert message_step(whole, "ann")["output"] == whole.content


async def test_the_providers_finish_reason_comes_through_litellm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-stub")
    for said, cut in (("stop", False), ("length", True)):
        with provider_stub.running(provider_stub.reply("a whole answer", finish_reason=said)) as stub:
            model = LiteLLMChatModel("openai/gpt-4o-mini", api_base=stub.url)
            events = [e async for e in model.stream([ChatMessage("user", "hi")], max_tokens=20)]
        done = events[-1]
        assert isinstance(done, Completed) and done.finish_reason == said and done.cut_at_cap is cut


async def test_a_models_own_answer_cap_bounds_every_answer_length(make_runtime: MakeRuntime) -> None:
    model = FakeChatModel()
    model.answer_cap = 48
    runtime = make_runtime(model, answer_tokens=512)
    assert runtime.context.answer_tokens == 48
    user = await runtime.conversations.ensure_user("ann")
    thread = await runtime.conversations.create_thread(user.id)
    for asked in (None, 1500):
        events = [e async for e in runtime.turn_pipeline(answer_tokens=asked).run(thread, LONG)]
        finished = next(e for e in events if isinstance(e, TurnFinished))
        assert finished.report.reserve == 48
        assert (finished.reply.usage or {})["finish_reason"] == "length"
    # Another model without a cap of its own gets the answer length asked for.
    other = runtime.turn_pipeline(model=FakeChatModel(name="other"))
    assert other.context.answer_tokens == 512


@pytest.mark.usefixtures("store_env")
def test_the_cli_chat_says_when_a_reply_was_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_ANSWER_TOKENS", "24")
    runner = CliRunner()
    printed = runner.invoke(app, ["chat", "--user", "ann", LONG])
    assert printed.exit_code == 0, printed.output
    assert "Cut off: this reply reached the answer length limit" in printed.output
    as_json = runner.invoke(app, ["chat", "--user", "ann", LONG, "--json"])
    assert json.loads(as_json.stdout)["cut_off"] is True
    short = runner.invoke(app, ["chat", "--user", "bob", "hi"])
    assert "Cut off" not in short.output


def test_the_local_model_is_labelled_by_what_it_is() -> None:
    assert profile_for("openai/smollm2-135m-instruct").label == LABEL == profile_for("local").label
    assert profile_for("openai/gpt-4o-mini").label == "openai/gpt-4o-mini"


@pytest.mark.timeout(600)  # ~15 s on two idle cores; minutes when they are shared
async def test_the_local_model_stops_by_itself_on_a_short_request() -> None:
    from assistant.providers.local_model import LocalChatModel
    from assistant.providers.local_server import LocalModelServer

    server = LocalModelServer(parallel=1)
    await asyncio.to_thread(server.start)
    model = LocalChatModel(server, timeout=120)
    try:
        assert model.answer_cap == ANSWER_CAP
        assert model._kwargs(model.name, ANSWER_CAP)["stop"] == STOP
        base = str(model.api_base).removesuffix("/v1")
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(f"{base}/props", timeout=10) as answer:
            params = json.load(answer)["default_generation_settings"]["params"]
        assert params["repeat_penalty"] == pytest.approx(REPEAT_PENALTY)
        assert params["dry_multiplier"] == pytest.approx(DRY_MULTIPLIER)
        # Sampling is random and its numbers differ between CPUs, so two rambling replies are allowed in five: the
        # claim is that such replies are the exception, and the answer cap ends them anyway.
        outcomes: list[tuple[str | None, int, str, float]] = []
        requests = ("Reply with just OK.", "Say hello in one word.", "What is 2 + 2?", "Thank you!", "Name one colour.")
        for request in requests:
            started = time.monotonic()
            events = [e async for e in model.stream([ChatMessage("user", request)], max_tokens=ANSWER_CAP)]
            done = events[-1]
            assert isinstance(done, Completed)
            text = "".join(e.text for e in events if isinstance(e, TextDelta))
            used = done.usage.completion_tokens or 0
            outcomes.append((done.finish_reason, used, text, time.monotonic() - started))
        stopped_short = [o for o in outcomes if o[0] == "stop" and o[1] < ANSWER_CAP // 2]  # a few sentences at most
        assert len(stopped_short) >= 3, outcomes
    finally:
        await model.aclose()
