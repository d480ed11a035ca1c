import pytest

from assistant.context.tokens import TokenCounter
from assistant.providers.offline_litellm import litellm

TEXTS = ["", " ", "hello", "[3] 2024-05-07 Ana: we hiked to the lake, número 7 😀", "a" * 3000, "line\nbreak\ttab"]


@pytest.mark.parametrize("model", ["fake", "gpt-4o-mini", "openai/gpt-4o-mini", "ollama/llama3", "openai/smollm2"])
def test_counts_match_litellms_own_count(model: str) -> None:
    counter = TokenCounter(model)
    assert [counter.text(t) for t in TEXTS] == [litellm.token_counter(model=model, text=t) for t in TEXTS]
