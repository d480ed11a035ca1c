"""The offline default: SmolLM2-135M-Instruct served in-process by xllamacpp, called through LiteLLM."""

from __future__ import annotations

import asyncio

from assistant.providers.litellm_model import LiteLLMChatModel
from assistant.providers.local_server import LocalModelServer
from assistant.settings import Settings


class LocalChatModel(LiteLLMChatModel):
    """A LiteLLM model whose endpoint is a llama.cpp server this process owns."""

    def __init__(self, server: LocalModelServer, *, timeout: float) -> None:
        info = server.info
        assert info is not None, "start the server first"
        super().__init__(
            info.model,
            api_base=info.api_base,
            api_key="local",
            timeout=timeout,
            num_retries=0,
            context_window=info.context_window,
        )
        self.server = server

    @classmethod
    async def start(cls, settings: Settings) -> LocalChatModel:
        server = LocalModelServer(
            settings.local_model_path, context_window=settings.local_context_window, threads=settings.local_threads
        )
        await asyncio.to_thread(server.start)
        return cls(server, timeout=settings.request_timeout)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.server.stop)
