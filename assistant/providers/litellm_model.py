"""Every provider through LiteLLM: streaming, timeouts, retries, fallbacks, usage and cost."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from assistant.providers.base import (
    ChatMessage,
    ChatModel,
    Completed,
    StreamEvent,
    StreamIncomplete,
    TextDelta,
    Usage,
)
from memory.errors import ContextLengthError, ProviderError

log = logging.getLogger("assistant.providers")


def provider_error(model: str, exc: Exception, *, api_base: str | None = None) -> ProviderError:
    """A LiteLLM exception as one line a person can act on."""
    from assistant.providers.offline_litellm import llm_errors

    if isinstance(exc, ProviderError):
        return exc
    detail = str(getattr(exc, "message", "") or exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
    unreachable = _unreachable(exc)
    if unreachable is not None:
        host = _host(api_base) or _request_host(exc) or "its address"
        return ProviderError(
            f"{model}: cannot reach the model provider at {host}: {unreachable}", hint="check the network or api_base"
        )
    if isinstance(exc, llm_errors.ContextWindowExceededError):
        return ContextLengthError(f"{model}: the request is longer than the model's context window")
    if isinstance(exc, llm_errors.AuthenticationError):
        return ProviderError(f"{model}: the provider rejected the API key", hint="check the provider's key variable")
    if isinstance(exc, llm_errors.RateLimitError):
        return ProviderError(f"{model}: rate limited by the provider", hint="wait a moment and retry")
    if isinstance(exc, llm_errors.Timeout):
        return ProviderError(f"{model}: the provider did not answer in time", hint="retry, or raise the timeout")
    if isinstance(exc, llm_errors.NotFoundError):
        return ProviderError(f"{model}: unknown model: {_plain(detail)}", hint="check ASSISTANT_MODEL")
    status = getattr(exc, "status_code", None)
    if isinstance(exc, (llm_errors.InternalServerError, llm_errors.ServiceUnavailableError)) or (
        isinstance(status, int) and status >= 500
    ):
        code = f" (HTTP {status})" if isinstance(status, int) else ""
        return ProviderError(f"{model}: the provider had an error{code}: {_plain(detail)}", hint="retry later")
    if isinstance(exc, llm_errors.APIConnectionError):
        return ProviderError(
            f"{model}: cannot reach the provider: {_plain(detail)}", hint="check the network or api_base"
        )
    if isinstance(status, int):
        return ProviderError(f"{model}: the provider refused the request (HTTP {status}): {_plain(detail)}")
    return ProviderError(f"{model}: the provider call failed: {_plain(detail)}")


_CLASS_NAMES = re.compile(r"^(?:[\w.]*(?:Error|Exception)\s*[:-]\s*)+")


def _plain(detail: str) -> str:
    """LiteLLM's message without the class names it stacks in front ("litellm.X: X: OpenAIException - ...")."""
    detail = detail.rsplit(" - ", 1)[-1].strip() if " - " in detail else detail
    return _CLASS_NAMES.sub("", detail) or detail


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 20:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _unreachable(exc: BaseException) -> str | None:
    """Why the provider's host could not be reached, in plain words; None when it was reached."""
    import socket

    for cause in _causes(exc):
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return "no such host"
        if isinstance(cause, OSError) and cause.errno is not None and "unreachable" in str(cause).lower():
            return "network unreachable"
    return None


def _host(url: str | None) -> str | None:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc or None if url else None


def _request_host(exc: BaseException) -> str | None:
    """The host of the deepest request in the chain (LiteLLM puts a placeholder request on its own exception)."""
    host = None
    for cause in _causes(exc):
        request = getattr(cause, "request", None)
        url = getattr(request, "url", None)
        if url is not None and getattr(url, "host", None):
            host = f"{url.host}:{url.port}" if url.port else str(url.host)
    return host


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

    A retry or fallback happens only before the first token has been streamed. A reply counts as finished only
    when the provider said so; a stream that breaks, stalls or just ends after some text raises
    ``StreamIncomplete`` (the pipeline keeps that text as a partial reply). No text within
    ``first_token_timeout`` seconds, or none for ``idle_timeout`` seconds between pieces, fails the attempt;
    a timed-out attempt is not retried (a provider that hangs once tends to hang again).
    """

    # The settings behind first_token_timeout and idle_timeout, named in hints.
    timeout_settings = ("ASSISTANT_FIRST_TOKEN_TIMEOUT", "ASSISTANT_IDLE_TIMEOUT")

    def __init__(
        self,
        model: str,
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout: float = 120.0,
        first_token_timeout: float = 30.0,
        idle_timeout: float = 15.0,
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
        self.first_token_timeout = first_token_timeout
        self.idle_timeout = idle_timeout
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
            base = self.api_base if model == self.name else None
            for attempt in range(self.num_retries + 1):
                streamed = False
                try:
                    async for event in self._stream_once(model, payload, max_tokens):
                        streamed = True
                        yield event
                    return
                except Exception as exc:
                    if streamed and not isinstance(exc, ProviderError):
                        log.info("%s: stream broke off: %s", model, exc)
                        raise StreamIncomplete(
                            f"{model}: the connection to the provider broke off in the middle of the reply",
                            reason="cut",
                        ) from exc
                    if streamed and isinstance(exc, ProviderError):
                        raise
                    if streamed or isinstance(exc, llm_errors.ContextWindowExceededError):
                        raise provider_error(model, exc, api_base=base) from exc
                    failure = exc
                    if not retryable(exc) or attempt == self.num_retries:
                        break  # on to the next fallback model
                    await asyncio.sleep(retry_delay(exc, attempt, self.retry_base_s))
        assert failure is not None
        error = provider_error(self.name, failure, api_base=self.api_base)
        if error is failure:
            raise error
        raise error from failure

    async def _stream_once(
        self, model: str, payload: list[dict[str, str]], max_tokens: int
    ) -> AsyncIterator[StreamEvent]:
        loop = asyncio.get_running_loop()
        first_due = loop.time() + self.first_token_timeout
        parts: list[str] = []
        chunks: list[Any] = []
        finish_reason: str | None = None

        def waiting() -> float:
            return self.idle_timeout if parts else max(0.0, first_due - loop.time())

        try:
            async with asyncio.timeout(waiting()):
                response = await self._completion(
                    messages=payload,
                    stream=True,
                    stream_options={"include_usage": True},
                    **self._kwargs(model, max_tokens),
                )
        except TimeoutError:
            raise self._silent(model) from None
        pieces = aiter(response)
        try:
            while True:
                try:
                    async with asyncio.timeout(waiting()):
                        chunk = await anext(pieces)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    if not parts:
                        raise self._silent(model) from None
                    raise StreamIncomplete(
                        f"{model}: the provider stopped sending for {self.idle_timeout:g} s in the middle of the reply",
                        reason="stalled",
                    ) from None
                chunks.append(chunk)
                choices = getattr(chunk, "choices", None) or []
                delta = choices[0].delta.content if choices and choices[0].delta else None
                if choices and getattr(choices[0], "finish_reason", None):
                    finish_reason = str(choices[0].finish_reason)
                if delta:
                    parts.append(delta)
                    yield TextDelta(delta)
        finally:
            await _close(response)
        said = _said_finish(response, finish_reason)
        text = "".join(parts)
        if said is None:
            if text:
                raise StreamIncomplete(
                    f"{model}: the provider's stream ended without saying the reply was finished", reason="unfinished"
                )
            raise ProviderError(
                f"{model}: the provider sent no reply (an empty stream, or a body that is not a chat stream)",
                hint="check api_base: it should point at an OpenAI-compatible API",
            )
        yield Completed(text, model, self._usage(model, chunks, payload, text), said)

    def _silent(self, model: str) -> ProviderError:
        return ProviderError(
            f"{model}: the provider sent nothing within {self.first_token_timeout:g} s",
            hint=f"retry later, or raise {self.timeout_settings[0]}",
        )

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


def _said_finish(response: Any, seen: str | None) -> str | None:
    """The finish reason the provider itself sent. LiteLLM's stream wrapper adds a final chunk saying "stop" even
    when the provider never said it, so its own record of what arrived is asked first."""
    if hasattr(response, "received_finish_reason"):
        said = response.received_finish_reason or getattr(response, "intermittent_finish_reason", None)
        return str(said) if said else None
    return seen


async def _close(response: Any) -> None:
    """Let go of the HTTP connection of a stream that was not read to its end."""
    for target in (getattr(response, "completion_stream", None), response):
        closer = getattr(target, "aclose", None) or getattr(target, "close", None)
        if closer is None:
            continue
        with contextlib.suppress(Exception):
            result = closer()
            if asyncio.iscoroutine(result):
                await result
        return
