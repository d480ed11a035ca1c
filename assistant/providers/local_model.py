"""The offline default: SmolLM2-135M-Instruct served in-process by xllamacpp, called through LiteLLM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

from assistant.providers import local_spec
from assistant.providers.litellm_model import LiteLLMChatModel
from assistant.providers.local_server import LocalModelServer
from assistant.providers.offline_litellm import litellm
from assistant.providers.profile import profile_for
from assistant.settings import LOCAL_MODEL, Settings

PROFILE = profile_for(LOCAL_MODEL)


class LocalChatModel(LiteLLMChatModel):
    """A LiteLLM model whose endpoint is a llama.cpp server this process owns."""

    answer_cap = PROFILE.answer_cap
    timeout_settings = ("ASSISTANT_LOCAL_STREAM_TIMEOUT", "ASSISTANT_LOCAL_STREAM_TIMEOUT")

    def __init__(
        self,
        server: LocalModelServer,
        *,
        timeout: float,
        first_token_timeout: float = 600.0,
        idle_timeout: float = 600.0,
    ) -> None:
        info = server.info
        assert info is not None, "start the server first"
        super().__init__(
            info.model,
            api_base=info.api_base,
            api_key="local",
            timeout=timeout,
            first_token_timeout=first_token_timeout,
            idle_timeout=idle_timeout,
            num_retries=0,
            context_window=int(info.context_window * PROFILE.tokenizer_slack),
        )
        self.server = server
        # LiteLLM warns at start-up that a free local model has no cache pricing; nothing for a user to act on.
        with _quiet("LiteLLM"):
            litellm.register_model(
                {
                    info.model: {
                        "max_input_tokens": info.context_window,
                        "max_output_tokens": 2048,
                        "litellm_provider": "openai",
                        "mode": "chat",
                        "input_cost_per_token": 0.0,
                        "output_cost_per_token": 0.0,
                    }
                }
            )

    def _kwargs(self, model: str, max_tokens: int) -> dict[str, Any]:
        return super()._kwargs(model, max_tokens) | {"stop": local_spec.STOP}

    @classmethod
    async def start(cls, settings: Settings) -> LocalChatModel:
        # The server is on loopback; never send its requests through a configured HTTP proxy.
        no_proxy = {p for p in os.environ.get("NO_PROXY", "").split(",") if p}
        os.environ["NO_PROXY"] = ",".join(sorted(no_proxy | {"127.0.0.1", "localhost"}))
        server = LocalModelServer(
            settings.local_model_path, context_window=settings.local_context_window, threads=settings.local_threads
        )
        await asyncio.to_thread(server.start)
        return cls(
            server,
            timeout=settings.request_timeout,
            first_token_timeout=settings.local_stream_timeout,
            idle_timeout=settings.local_stream_timeout,
        )

    async def aclose(self) -> None:
        await asyncio.to_thread(self.server.stop)


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
