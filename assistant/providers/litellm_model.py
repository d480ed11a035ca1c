"""Every provider through LiteLLM: streaming, timeouts, retries, fallbacks, usage and cost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from assistant.providers.base import ChatMessage, ChatModel, Completed, StreamEvent, TextDelta, Usage
from memory.errors import ProviderError


class ContextLengthError(ProviderError):
    """The provider rejected the request as longer than its context window."""


def provider_error(model: str, exc: Exception) -> ProviderError:
    """A LiteLLM exception as one line a person can act on."""
    from assistant.providers.offline_litellm import llm_errors

    detail = str(getattr(exc, "message", "") or exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
    if isinstance(exc, llm_errors.ContextWindowExceededError):
        return ContextLengthError(f"{model}: the request is longer than the model's context window")
    if isinstance(exc, llm_errors.AuthenticationError):
        return ProviderError(f"{model}: the provider rejected the API key", hint="check the provider's key variable")
    if isinstance(exc, llm_errors.RateLimitError):
        return ProviderError(f"{model}: rate limited by the provider", hint="wait a moment and retry")
    if isinstance(exc, llm_errors.Timeout):
        return ProviderError(f"{model}: the provider did not answer in time", hint="retry, or raise the timeout")
    if isinstance(exc, llm_errors.APIConnectionError):
        return ProviderError(f"{model}: cannot reach the provider: {detail}", hint="check the network or api_base")
    if isinstance(exc, llm_errors.NotFoundError):
        return ProviderError(f"{model}: unknown model: {detail}", hint="check ASSISTANT_MODEL")
    return ProviderError(f"{model}: {type(exc).__name__}: {detail}")


def retryable(exc: Exception) -> bool:
    """Whether another attempt at the same model may succeed."""
    from assistant.providers.offline_litellm import llm_errors

    return isinstance(
        exc,
        (
            llm_errors.RateLimitError,
            llm_errors.InternalServerError,
            llm_errors.ServiceUnavailableError,
            llm_errors.APIConnectionError,
            llm_errors.Timeout,
        ),
    )


MAX_RETRY_AFTER_S = 60.0


def retry_delay(exc: Exception, attempt: int, base_s: float) -> float:
    """The provider's Retry-After when it sent one, else exponential backoff."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or getattr(exc, "litellm_response_headers", None) or {}
    raw = headers.get("retry-after") if hasattr(headers, "get") else None
    if raw is not None:
        try:
            return float(min(float(raw), MAX_RETRY_AFTER_S))
        except (TypeError, ValueError):
            pass
    return float(min(base_s * (2**attempt), 20.0))


Completion = Callable[..., Awaitable[Any]]


class LiteLLMChatModel(ChatModel):
    """Streams through ``litellm.acompletion``; retries, then tries each fallback model in order.

    A retry or fallback happens only before the first token has been streamed.
    """

    def __init__(
        self,
        model: str,
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout: float = 120.0,
        num_retries: int = 2,
        retry_base_s: float = 0.5,
        fallbacks: Sequence[str] = (),
        context_window: int | None = None,
        completion: Completion | None = None,
    ) -> None:
        self.name = model
        self.api_base = api_base
        self.api_key = api_key
        self.timeout = timeout
        self.num_retries = num_retries
        self.retry_base_s = retry_base_s
        self.fallbacks = list(fallbacks)
        self.context_window = context_window
        if completion is None:
            from assistant.providers.offline_litellm import litellm

            completion = litellm.acompletion
        self._completion: Completion = completion

    def _kwargs(self, model: str, max_tokens: int) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "timeout": self.timeout, "num_retries": 0}
        if model == self.name and self.api_base:
            kwargs["api_base"] = self.api_base
        if model == self.name and self.api_key:
            kwargs["api_key"] = self.api_key
        return kwargs

    async def stream(self, messages: Sequence[ChatMessage], *, max_tokens: int) -> AsyncIterator[StreamEvent]:
        from assistant.providers.offline_litellm import llm_errors

        payload = [m.as_dict() for m in messages]
        failure: Exception | None = None
        for model in [self.name, *self.fallbacks]:
            for attempt in range(self.num_retries + 1):
                streamed = False
                try:
                    async for event in self._stream_once(model, payload, max_tokens):
                        streamed = True
                        yield event
                    return
                except Exception as exc:
                    if streamed or isinstance(exc, llm_errors.ContextWindowExceededError):
                        raise provider_error(model, exc) from exc
                    failure = exc
                    if not retryable(exc) or attempt == self.num_retries:
                        break  # on to the next fallback model
                    await asyncio.sleep(retry_delay(exc, attempt, self.retry_base_s))
        assert failure is not None
        raise provider_error(self.name, failure) from failure

    async def _stream_once(
        self, model: str, payload: list[dict[str, str]], max_tokens: int
    ) -> AsyncIterator[StreamEvent]:
        parts: list[str] = []
        chunks: list[Any] = []
        finish_reason: str | None = None
        response = await self._completion(
            messages=payload, stream=True, stream_options={"include_usage": True}, **self._kwargs(model, max_tokens)
        )
        async for chunk in response:
            chunks.append(chunk)
            choices = getattr(chunk, "choices", None) or []
            delta = choices[0].delta.content if choices and choices[0].delta else None
            if choices and getattr(choices[0], "finish_reason", None):
                finish_reason = str(choices[0].finish_reason)
            if delta:
                parts.append(delta)
                yield TextDelta(delta)
        text = "".join(parts)
        yield Completed(text, model, self._usage(model, chunks, payload, text), finish_reason)

    @staticmethod
    def _usage(model: str, chunks: list[Any], payload: list[dict[str, str]], text: str) -> Usage:
        prompt_tokens = completion_tokens = None
        for chunk in reversed(chunks):
            usage = getattr(chunk, "usage", None)
            if usage:
                prompt_tokens = getattr(usage, "prompt_tokens", None)
                completion_tokens = getattr(usage, "completion_tokens", None)
                break
        from assistant.providers.offline_litellm import litellm

        cost: float | None
        try:
            cost = float(litellm.completion_cost(model=model, messages=payload, completion=text))
        except Exception:  # unknown price (local and custom models): leave it unknown
            cost = None
        return Usage(prompt_tokens, completion_tokens, cost)
