"""The bundled SmolLM2 model served in-process and called through LiteLLM."""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import litellm
import pytest

from assistant.providers.local_server import LocalModelServer, default_gguf_path


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_local_server_answers_through_litellm() -> None:
    assert default_gguf_path().is_file()
    server = LocalModelServer(parallel=1)
    try:
        info = server.start()
        assert server.start() == info
        assert server.info == info
        assert info.model == "openai/smollm2-135m-instruct"
        assert info.api_base.startswith("http://127.0.0.1:")
        assert info.context_window == 8192

        response = litellm.completion(
            model=info.model,
            api_base=info.api_base,
            api_key="local",
            messages=[{"role": "user", "content": "Say hello"}],
            max_tokens=8,
        )
        reply = response.choices[0].message.content
        assert isinstance(reply, str) and reply.strip()
    finally:
        server.stop()
    assert server.info is None
    server.stop()
