"""The LiteLLM provider layer, offline: LiteLLM's own mock responses stand in for a provider."""

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from assistant.providers.base import ChatMessage, Completed, TextDelta
from assistant.providers.factory import build_chat_model
from assistant.providers.fake import FakeChatModel, context_items
from assistant.providers.litellm_model import LiteLLMChatModel, retry_delay
from assistant.providers.offline_litellm import litellm, llm_errors
from assistant.settings import Settings
from memory.errors import ContextLengthError, ProviderError

HELLO = [ChatMessage("user", "hello")]


def _rate_limited(retry_after: str | None) -> Exception:
    headers = {"retry-after": retry_after} if retry_after else {}
    response = httpx.Response(429, headers=headers, request=httpx.Request("POST", "http://provider.invalid"))
    return llm_errors.RateLimitError(message="slow down", llm_provider="openai", model="gpt-4o-mini", response=response)


class Finished:
    """LiteLLM's mock stream, ended as a provider ends one: saying it finished (the mock never says so, and an
    unsaid end counts as a broken stream)."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.received_finish_reason: str | None = None

    async def _chunks(self) -> Any:
        async for chunk in self.stream:
            yield chunk
        self.received_finish_reason = "stop"

    def __aiter__(self) -> Any:
        return self._chunks()


class Scripted:
    """Calls LiteLLM with a mock response, after raising the given errors first."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.models: list[str] = []
        self.times: list[float] = []

    async def __call__(self, **kwargs: Any) -> Any:
        self.models.append(kwargs["model"])
        self.times.append(time.monotonic())
        if self.errors:
            raise self.errors.pop(0)
        return Finished(await litellm.acompletion(mock_response=f"answer from {kwargs['model']}", **kwargs))


async def _collect(model: LiteLLMChatModel) -> list[object]:
    return [event async for event in model.stream(HELLO, max_tokens=20)]


async def test_a_reply_streams_through_litellm_with_usage() -> None:
    events = await _collect(LiteLLMChatModel("openai/gpt-4o-mini", completion=Scripted()))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "answer from openai/gpt-4o-mini"
    done = events[-1]
    assert isinstance(done, Completed) and done.model == "openai/gpt-4o-mini"
    assert done.usage.cost_usd is not None and done.usage.cost_usd >= 0


async def test_rate_limits_are_retried_honouring_retry_after() -> None:
    completion = Scripted(_rate_limited("0.3"), _rate_limited(None))
    model = LiteLLMChatModel("openai/gpt-4o-mini", num_retries=2, retry_base_s=0.05, completion=completion)
    events = await _collect(model)
    assert isinstance(events[-1], Completed)
    assert len(completion.times) == 3
    assert completion.times[1] - completion.times[0] >= 0.29  # the provider's Retry-After
    assert 0.04 <= completion.times[2] - completion.times[1] < 0.3  # backoff
    assert retry_delay(_rate_limited("1000"), 0, 0.5) == 60.0  # never waits unboundedly


async def test_the_fallback_models_are_tried_in_order() -> None:
    auth = llm_errors.AuthenticationError(message="bad key", llm_provider="openai", model="gpt-4o-mini")
    completion = Scripted(auth, _rate_limited(None))
    model = LiteLLMChatModel(
        "openai/gpt-4o-mini",
        num_retries=0,
        fallbacks=["openai/gpt-4o", "anthropic/claude-3-haiku-20240307"],
        completion=completion,
    )
    events = await _collect(model)
    assert completion.models == ["openai/gpt-4o-mini", "openai/gpt-4o", "anthropic/claude-3-haiku-20240307"]
    done = events[-1]
    assert isinstance(done, Completed) and done.model == "anthropic/claude-3-haiku-20240307"


async def test_provider_errors_are_one_clear_line() -> None:
    auth = llm_errors.AuthenticationError(message="bad key", llm_provider="openai", model="gpt-4o-mini")
    with pytest.raises(ProviderError, match="rejected the API key"):
        await _collect(LiteLLMChatModel("openai/gpt-4o-mini", num_retries=0, completion=Scripted(auth)))
    bad = llm_errors.BadRequestError(message="no such parameter", llm_provider="openai", model="gpt-4o-mini")
    with pytest.raises(ProviderError) as raised:
        await _collect(LiteLLMChatModel("openai/gpt-4o-mini", num_retries=0, completion=Scripted(bad)))
    assert "refused the request (HTTP 400)" in str(raised.value) and "Error" not in str(raised.value)
    too_long = llm_errors.ContextWindowExceededError(message="too long", model="gpt-4o-mini", llm_provider="openai")
    with pytest.raises(ContextLengthError):
        await _collect(LiteLLMChatModel("openai/gpt-4o-mini", completion=Scripted(too_long)))


async def test_the_fake_records_what_it_received_and_echoes_context_items() -> None:
    model = FakeChatModel()
    system = ChatMessage(
        "system", 'rules\n## Memories\n[1] likes tea\n[2] lives in Oslo\n<document n="3">\nPage one\n</document>'
    )
    reply = await model.complete([system, ChatMessage("user", "hi")], max_tokens=100)
    assert model.received == [[system, ChatMessage("user", "hi")]]
    assert reply.text.splitlines() == ["Fake reply to: hi", "[1] likes tea", "[2] lives in Oslo", "[3] Page one"]
    assert context_items([ChatMessage("user", "[1] not from the system")]) == []


async def test_the_fake_can_be_scripted_and_fail() -> None:
    model = FakeChatModel(lambda messages: f"{len(messages)} messages", failures=[RuntimeError("boom")])
    with pytest.raises(ProviderError, match="boom"):
        await model.complete(HELLO, max_tokens=5)
    assert (await model.complete(HELLO, max_tokens=5)).text == "1 messages"


def _prompt(name: str) -> ChatMessage:
    """One of the real prompts: the scripted fake knows them by their opening words."""
    return ChatMessage("system", (Path(__file__).resolve().parents[1] / "prompts" / f"{name}.md").read_text())


async def test_the_fake_chosen_by_settings_can_answer_the_background_prompts() -> None:
    """ASSISTANT_FAKE_SCRIPT=memory: facts and summaries for processes a test cannot script (workers)."""
    model = await build_chat_model(Settings(model="fake", fake_script="memory"))
    extracted = await model.complete(
        [_prompt("extract"), ChatMessage("user", "user: I keep bees\nmore")], max_tokens=99
    )
    assert '"The user said: I keep bees"' in extracted.text
    reconciled = await model.complete([_prompt("reconcile"), ChatMessage("user", "New fact: x")], max_tokens=99)
    assert '"add"' in reconciled.text
    new = "New messages:\nuser: one\nassistant: Fake reply to: one\n[1] an item"
    first = await model.complete(
        [_prompt("summarize"), ChatMessage("user", f"Summary so far:\n(none yet)\n\n{new}")], max_tokens=99
    )
    assert first.text.splitlines() == ["user: one", "assistant: Fake reply to: one"]
    later = f"Summary so far:\n{first.text}\n\nNew messages:\nuser: two"
    second = await model.complete([_prompt("summarize"), ChatMessage("user", later)], max_tokens=99)
    assert second.text.splitlines() == ["user: one", "assistant: Fake reply to: one", "user: two"]
    assert (await model.complete(HELLO, max_tokens=9)).text == "Fake reply to: hello"
    echo = await build_chat_model(Settings(model="fake"))  # the default only echoes
    assert (await echo.complete([_prompt("extract"), HELLO[0]], max_tokens=9)).text == "Fake reply to: hello"
