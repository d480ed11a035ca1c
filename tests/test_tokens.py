import pytest

from assistant.providers.base import ChatMessage
from assistant.providers.offline_litellm import litellm
from assistant.providers.tokens import TokenCounter

TEXTS = [
    "",
    " ",
    "hello",
    "[3] 2024-05-07 Ana: we hiked to the lake, número 7 😀",
    "a" * 3000,
    "line\nbreak\ttab",
    "   summaries the model writes after each reply (`prompts/summarize.md`);",
    "excerpts of the user's **documents** (`.txt .md .pdf .html .docx`), found by search",
    "The ⚙️ panel sets the model, answer length, time zone and memory; 📎 attaches files.",
]
MODELS = ["fake", "gpt-4o-mini", "openai/gpt-4o-mini", "ollama/llama3", "openai/smollm2", "gpt-3.5-turbo-0301"]


@pytest.mark.parametrize("model", MODELS)
def test_counts_match_litellms_own_count(model: str) -> None:
    counter = TokenCounter(model)
    assert [counter.text(t) for t in TEXTS] == [litellm.token_counter(model=model, text=t) for t in TEXTS]


@pytest.mark.parametrize("model", MODELS)
def test_message_counts_match_litellms_own_count(model: str) -> None:
    counter = TokenCounter(model)
    conversations = [
        [],
        [ChatMessage("user", "hi")],
        [ChatMessage("system", TEXTS[6]), ChatMessage("user", TEXTS[3]), ChatMessage("assistant", TEXTS[8])],
        [ChatMessage("system", ""), ChatMessage("user", TEXTS[4])],
    ]
    for messages in conversations:
        expected = litellm.token_counter(model=model, messages=[m.as_dict() for m in messages])
        assert counter.messages(messages) == expected


def test_gpt_4o_models_count_with_their_own_tokenizer() -> None:
    # The texts above tell o200k_base (gpt-4o) from cl100k_base apart, so the comparison means something.
    assert [TokenCounter("gpt-4o-mini").text(t) for t in TEXTS] != [TokenCounter("fake").text(t) for t in TEXTS]
