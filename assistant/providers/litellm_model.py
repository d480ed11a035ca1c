"""Every provider through LiteLLM: streaming, timeouts, retries, fallbacks, usage and cost."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from typing import Any

from assistant.providers.base import ChatMessage, ChatModel, Completed, StreamEvent, TextDelta, Usage
from memory.errors import ProviderError

# LiteLLM fetches its cost map and Hugging Face tokenizers at import and when
# counting tokens unless told not to; this machine (and CI) is offline.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import litellm
from litellm import exceptions as llm_errors

litellm.telemetry = False
litellm.suppress_debug_info = True


class ContextLengthError(ProviderError):
    """The provider rejected the request as longer than its context window."""


def provider_error(model: str, exc: Exception) -> ProviderError:
    """A LiteLLM exception as one line a person can act on."""
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


class LiteLLMChatModel(ChatModel):
    def __init__(
        self,
        model: str,
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout: float = 120.0,
        num_retries: int = 2,
        fallbacks: Sequence[str] = (),
        context_window: int | None = None,
    ) -> None:
        self.name = model
        self.api_base = api_base
        self.api_key = api_key
        self.timeout = timeout
        self.num_retries = num_retries
        self.fallbacks = list(fallbacks)
        self.context_window = context_window

    def _kwargs(self, max_tokens: int) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.name,
            "max_tokens": max_tokens,
            "timeout": self.timeout,
            "num_retries": self.num_retries,
        }
        if self.api_base:
            kwargs["api_base"] = self.api_base
        if self.api_key:
            kwargs["api_key"] = self.api_key
        if self.fallbacks:
            kwargs["fallbacks"] = self.fallbacks
        return kwargs

    async def stream(self, messages: Sequence[ChatMessage], *, max_tokens: int) -> AsyncIterator[StreamEvent]:
        payload = [m.as_dict() for m in messages]
        parts: list[str] = []
        chunks: list[Any] = []
        try:
            response = await litellm.acompletion(
                messages=payload, stream=True, stream_options={"include_usage": True}, **self._kwargs(max_tokens)
            )
            async for chunk in response:
                chunks.append(chunk)
                choices = getattr(chunk, "choices", None) or []
                delta = choices[0].delta.content if choices and choices[0].delta else None
                if delta:
                    parts.append(delta)
                    yield TextDelta(delta)
        except ProviderError:
            raise
        except Exception as exc:
            raise provider_error(self.name, exc) from exc
        text = "".join(parts)
        yield Completed(text, self.name, self._usage(chunks, payload, text))

    def _usage(self, chunks: list[Any], payload: list[dict[str, str]], text: str) -> Usage:
        prompt_tokens = completion_tokens = None
        for chunk in reversed(chunks):
            usage = getattr(chunk, "usage", None)
            if usage:
                prompt_tokens = getattr(usage, "prompt_tokens", None)
                completion_tokens = getattr(usage, "completion_tokens", None)
                break
        cost: float | None
        try:
            cost = float(litellm.completion_cost(model=self.name, messages=payload, completion=text))
        except Exception:  # unknown price (local and custom models): leave it unknown
            cost = None
        return Usage(prompt_tokens, completion_tokens, cost)
