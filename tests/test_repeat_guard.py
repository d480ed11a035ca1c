"""A small model's reply ends where it starts repeating a sentence: what streamed is what is stored, no note."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence

from psycopg_pool import AsyncConnectionPool

from assistant.pipeline.turn import ReplyDelta, TurnFinished
from assistant.providers.base import ChatMessage, ChatModel, Completed, StreamEvent, TextDelta
from assistant.providers.fake import FakeChatModel
from assistant.providers.profile import profile_for
from assistant.providers.repeat_guard import REPEAT, RepeatGuard, RepeatGuardedModel
from assistant.reply_notes import reply_note
from assistant.runtime import Runtime
from assistant.settings import LOCAL_MODEL
from memory.short_term.connection import RedisClient
from tests.store_scan import scan

MakeRuntime = Callable[..., Runtime]
KEPT = (
    "Dana, I'm glad to hear that you keep bees on your roof. "
    "Lisbon must be beautiful in August when your sister visits.\n\n"
    "I hope you're having a wonderful summer in Lisbon."
)
LOOP = KEPT + (
    " I hope you're having a lovely summer in Lisbon. "
    "I hope you're enjoying your summer in Lisbon. I hope you're enjoying your summer in Lisbon."
)


def _fed(guard: RepeatGuard, text: str, size: int) -> str:
    out = [guard.feed(text[i : i + size]) for i in range(0, len(text), size)]
    return "".join(out) + guard.flush()


def test_a_paraphrased_sentence_ends_the_reply_before_it_whatever_the_chunking() -> None:
    for size in (1, 3, 7, 40):
        guard = RepeatGuard()
        assert _fed(guard, LOOP, size) == KEPT == guard.text
        assert guard.looping


def test_a_reply_without_repeats_passes_whole_and_short_sentences_may_come_twice() -> None:
    text = (
        "Thanks! Here are three tips for Tokyo.\n1. Buy a Suica card for trains and buses.\n"
        "2. Carry some cash, since small shops may not take cards.\n3. Book popular restaurants early. Thanks!"
    )
    for size in (1, 5, 200):
        guard = RepeatGuard()
        assert _fed(guard, text, size) == text and not guard.looping


def test_text_is_let_through_before_the_sentence_ends_unless_it_may_repeat() -> None:
    guard = RepeatGuard()
    assert guard.feed("The ferry leaves at 07:30 from gate E7. ") == "The ferry leaves at 07:30 from gate E7."
    assert guard.feed("Tickets are sold at") == " Tickets are sold at"  # not like the first: streamed at once
    assert guard.feed(" the port. The ferry leaves") == " the port."  # may be the first again: held
    assert guard.feed(" at 07:30 from gate E7. More") == ""
    assert guard.looping and guard.text == "The ferry leaves at 07:30 from gate E7. Tickets are sold at the port."


class _Endless(ChatModel):
    """Says one sentence again and again until it is stopped; remembers whether its stream was closed."""

    name = "endless"
    closed = False
    sent = 0

    async def stream(self, messages: Sequence[ChatMessage], *, max_tokens: int) -> AsyncIterator[StreamEvent]:
        try:
            yield TextDelta("Bees are wonderful creatures to keep on a roof. ")
            while True:
                self.sent += 1
                yield TextDelta("Bees are such wonderful creatures to keep on a roof! ")
        finally:
            self.closed = True


async def test_the_guarded_model_stops_the_provider_and_says_why() -> None:
    inner = _Endless()
    model = RepeatGuardedModel(inner)
    events = [e async for e in model.stream([ChatMessage("user", "hi")], max_tokens=200)]
    deltas = "".join(e.text for e in events if isinstance(e, TextDelta))
    done = events[-1]
    assert isinstance(done, Completed) and done.finish_reason == REPEAT and not done.cut_at_cap
    assert done.text == deltas == "Bees are wonderful creatures to keep on a roof."
    assert inner.closed and inner.sent == 1
    assert model.name == "endless"


def test_the_local_models_are_guarded_and_the_others_are_not() -> None:
    assert profile_for(LOCAL_MODEL).ends_repeats
    assert profile_for("openai/smollm2-135m-instruct").ends_repeats
    assert not profile_for("openai/gpt-4o-mini").ends_repeats
    assert not profile_for("anthropic/claude-sonnet-4-5").ends_repeats


async def test_a_turn_stores_what_streamed_and_shows_no_cut_off_note(
    make_runtime: MakeRuntime, pool: AsyncConnectionPool, redis: RedisClient, redis_prefix: str
) -> None:
    runtime = make_runtime(RepeatGuardedModel(FakeChatModel([LOOP])))
    user = await runtime.conversations.ensure_user("dana")
    thread = await runtime.conversations.create_thread(user.id)
    events = [e async for e in runtime.pipeline.run(thread, "Hi! I keep bees in Lisbon.")]
    streamed = "".join(e.text for e in events if isinstance(e, ReplyDelta))
    reply = next(e for e in events if isinstance(e, TurnFinished)).reply
    assert reply.content == streamed == KEPT
    assert (reply.usage or {})["finish_reason"] == REPEAT and reply_note(reply) is None
    stored = await runtime.conversations.messages(thread)
    assert [m.content for m in stored] == ["Hi! I keep bees in Lisbon.", KEPT]
    await runtime.drain()
    assert not await scan(pool, redis, redis_prefix, "lovely summer")  # what was held back is nowhere


def test_a_repeated_list_item_goes_with_its_number() -> None:
    kept = "Three tips:\n1. Arrive early in the morning at the station.\n2. Try the food at the small local places."
    looped = kept + "\n3. Arrive early in the morning at the big station."
    for size in (1, 4, 300):
        guard = RepeatGuard()
        assert _fed(guard, looped, size) == kept and guard.looping


def test_short_sentences_or_bare_numbers_three_times_in_a_row_end_the_reply() -> None:
    for kept, looped in (
        ("Sure. The answer is: Paris.", " The answer is: The answer is: The answer is: The answer is:"),
        ("Tips: 1. Go early. 2. Eat well. 3. Sleep, 4. 5. 6. 7. 8.", " 9. 10. 11. 12. 13. 14."),  # numbers in pairs
    ):
        for size in (1, 6, 100):
            guard = RepeatGuard()
            assert _fed(guard, kept + looped, size) == kept and guard.looping
    # A clause that ends with a colon waits for what it introduces, unless it was already streaming.
    looped = "You keep them in a beehive.\n\nThe correct answer is: The correct answer is: The correct answer is:"
    assert _fed(RepeatGuard(), looped, 100) == "You keep them in a beehive."
    assert _fed(RepeatGuard(), looped, 1) == "You keep them in a beehive.\n\nThe correct answer is:"
    guard = RepeatGuard()
    text = "Yes. Yes. No, I said 4 then 5 then 6.\n\n\n\n🙂\n🙂\n🙂\nThen 7."
    assert _fed(guard, text, 3) == text and not guard.looping
