"""The budget is never exceeded, judged by what the fake model actually received."""

import uuid
from collections.abc import Callable, Collection
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.context.budget import Budget
from assistant.pipeline.turn import TurnFinished
from assistant.providers.fake import FakeChatModel
from assistant.providers.profile import profile_for
from assistant.providers.tokens import TokenCounter
from assistant.runtime import Runtime
from assistant.settings import Settings
from memory.recall import RecalledItem

MakeRuntime = Callable[..., Runtime]
WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "a",
    "lazy",
    "dog",
    "while",
    "seven",
    "wizards",
    "quietly",
    "judge",
    "boxing",
]


def _text(tokens: int, seed: int) -> str:
    words = [WORDS[(seed + i) % len(WORDS)] for i in range(max(1, tokens))]
    return " ".join(words)


class Items:
    """A tier filled with given items (the stores of these tiers are tested on their own)."""

    def __init__(self, kind: str, sizes: list[int]) -> None:
        self.items = [
            RecalledItem(id=f"{kind}-{i}", kind=kind, text=_text(size, i), score=1 / (i + 1), reason="test")  # type: ignore[arg-type]
            for i, size in enumerate(sizes)
        ]

    async def pinned(self, user_id: uuid.UUID) -> list[RecalledItem]:
        return self.items

    async def recall(
        self, user_id: uuid.UUID, query: str, *, now: datetime, exclude: Collection[uuid.UUID], limit: int
    ) -> list[RecalledItem]:
        return self.items[:limit]

    async def warm(self, user_id: uuid.UUID, query: str) -> None:
        return None

    async def search(self, user_id: uuid.UUID, thread_id: uuid.UUID, query: str, *, limit: int) -> list[RecalledItem]:
        return self.items[:limit]


windows = st.one_of(st.sampled_from([1024, 2048, 8192, 128_000, 1_000_000]), st.integers(1024, 1_000_000))
fractions = st.floats(0.0, 0.6)


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    window=windows,
    history=st.lists(fractions, max_size=8),
    new_message=fractions,
    pinned=st.lists(fractions, max_size=4),
    long_term=st.lists(fractions, max_size=6),
    documents=st.lists(fractions, max_size=6),
    answer_tokens=st.integers(16, 4096),
)
async def test_the_model_never_receives_more_than_the_budget(
    make_runtime: MakeRuntime,
    window: int,
    history: list[float],
    new_message: float,
    pinned: list[float],
    long_term: list[float],
    documents: list[float],
    answer_tokens: int,
) -> None:
    cap = 150_000  # keeps single texts quick to build and count; tiers still overflow any window

    def size(fraction: float) -> int:
        return min(int(fraction * window), cap)

    model = FakeChatModel(["ok"])
    runtime = make_runtime(model, max_input_tokens=window, answer_tokens=answer_tokens, short_term_turns=20)
    runtime.context.use_source("core", Items("pinned", [size(f) for f in pinned]))
    runtime.context.use_source("long_term", Items("memory", [size(f) for f in long_term]))
    runtime.context.use_source("documents", Items("document", [size(f) for f in documents]))
    user = await runtime.conversations.ensure_user("prop")
    thread = await runtime.conversations.create_thread(user.id)
    for index, fraction in enumerate(history):
        await runtime.conversations.append_message(
            thread, "user" if index % 2 == 0 else "assistant", _text(size(fraction), index)
        )

    # The new message stays within the app's message limit (100,000 characters; about 12,000 of these words).
    events = [e async for e in runtime.pipeline.run(thread, _text(min(size(new_message), 12_000), 99))]
    finished = events[-1]
    assert isinstance(finished, TurnFinished)

    budget = Budget.for_window(window, answer_tokens=answer_tokens)
    received = model.received[-1]
    assert TokenCounter("fake").messages(received) <= budget.total
    assert finished.report.used <= finished.report.budget == budget.total
    assert received[-1].role == "user"  # the new message is always there, last
    ids = [i.id for t in finished.report.tiers for i in t.items]
    assert len(ids) == len(set(ids))  # nothing twice


def test_the_window_comes_from_settings_then_the_model_then_litellm() -> None:
    assert profile_for("openai/gpt-4o-mini", Settings(max_input_tokens=4096)).window() == 4096
    assert profile_for("openai/gpt-4o-mini", Settings(model_windows={"openai/gpt-4o-mini": 4096})).window() == 4096
    assert profile_for("fake").window(reported=2048) == 2048
    assert profile_for("openai/gpt-4o-mini").window() == 128_000
    assert profile_for("no-such/model").window() == 8192


def test_the_answer_reserve_is_at_most_a_quarter_of_the_window() -> None:
    assert Budget.for_window(1024, answer_tokens=4096).reserve == 256
    assert Budget.for_window(128_000, answer_tokens=512).reserve == 512
