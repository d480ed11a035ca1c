"""One turn of a conversation: the user's message is durable before the model is called.

Store the message → short-term window → context manager → model (streamed) →
store the reply and its context report; each message is stored with its jobs (assistant/jobs/kinds.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

from opentelemetry import trace

from assistant.context.manager import BuiltContext, ContextManager
from assistant.context.report import ContextReport
from assistant.pipeline.background import BackgroundWork
from assistant.pipeline.memory_use import MemoryUse
from assistant.pipeline.memory_writer import MemoryWriter
from assistant.pipeline.summarizer import Summarizer
from assistant.providers.base import INCOMPLETE, ChatModel, Completed, Incomplete, StreamIncomplete, TextDelta
from memory import text_input
from memory.context_reports import ContextReportStore
from memory.conversations import ConversationStore, Message, Thread
from memory.errors import ContextLengthError, ProviderError, RateLimitError, StoreError
from memory.short_term.rate_limit import RateLimiter
from memory.store_faults import in_turn

tracer = trace.get_tracer("assistant.turn")
log = logging.getLogger("assistant.turn")


@dataclass(frozen=True)
class TurnStarted:
    user_message: Message
    report: ContextReport


@dataclass(frozen=True)
class Notice:
    """Something the user should know about this turn (e.g. their message was cut to fit)."""

    text: str


@dataclass(frozen=True)
class ReplyDelta:
    text: str


@dataclass(frozen=True)
class TurnFinished:
    user_message: Message
    reply: Message
    report: ContextReport


TurnEvent = TurnStarted | Notice | ReplyDelta | TurnFinished


class TurnPipeline:
    def __init__(
        self,
        conversations: ConversationStore,
        writer: MemoryWriter,
        context: ContextManager,
        reports: ContextReportStore,
        model: ChatModel,
        *,
        window: int,
        summarizer: Summarizer | None = None,
        background: BackgroundWork | None = None,
        limits: RateLimiter | None = None,
        max_message_chars: int = text_input.MAX_MESSAGE_CHARS,
    ) -> None:
        self.conversations = conversations
        self.writer = writer
        self.context = context
        self.reports = reports
        self.model = model
        self.window = window
        self.summarizer = summarizer
        self.background = background or BackgroundWork()
        self.limits = limits
        self.max_message_chars = max_message_chars

    async def run(
        self, thread: Thread, text: str, *, private: bool = False, window: int | None = None
    ) -> AsyncIterator[TurnEvent]:
        """Stream one turn. A cancelled turn keeps its partial reply, marked ``partial``. A ``private`` message and
        its reply are stored, marked, and reach no memory tier (see ``memory_use``)."""
        text = text_input.message(text, max_chars=self.max_message_chars)  # the one input boundary
        window = window or self.window
        with tracer.start_as_current_span("turn") as span:
            span.set_attribute("assistant.thread_id", str(thread.id))
            try:
                use = await self.memory_use(thread, private=private)
                if use.recall:
                    self.context.warm(thread, text)
                with tracer.start_as_current_span("write.user_message"):
                    user_message = await self.conversations.append_message(
                        thread,
                        "user",
                        text,
                        private=use.private,
                        remember=use.write,
                        jobs=self.writer.jobs.for_user_message(write=use.write),
                    )
            except StoreError as exc:
                raise in_turn(exc, saved=False) from exc
            await self.writer.message_stored(thread, user_message)
            try:  # from here on a store fault leaves the user's message saved, and says so
                # After the message is stored: a turn refused by a rate limit leaves it saved, unanswered.
                await self._admit(thread, user_message)
                built = await self._build(thread, user_message, window, use)
                yield TurnStarted(user_message, built.report)
                if built.report.truncated:
                    cut = built.report.truncated
                    yield Notice(
                        f"Your message was too long for the model's context window: only the first "
                        f"{cut.sent_tokens:,} of its {cut.original_tokens:,} tokens were sent (all of it is saved)."
                    )
                # Closed with this generator: a stop that lands while the face is busy still stores the partial reply.
                async with contextlib.aclosing(self._reply(thread, user_message, built, window, use)) as replies:
                    async for event in replies:
                        yield event
            except StoreError as exc:
                raise in_turn(exc, saved=True) from exc

    async def memory_use(self, thread: Thread, *, private: bool = False) -> MemoryUse:
        """What this turn may read and write, from the user's switches as they are now."""
        return MemoryUse.decide(await self.conversations.memory_switches(thread.user_id, thread.id), private=private)

    async def answer(self, thread: Thread, message: Message, *, window: int | None = None) -> AsyncIterator[TurnEvent]:
        """Answer a user message that is already stored (a retry after a provider error): nothing is stored twice."""
        window = window or self.window
        await self._admit(thread, message)
        use = await self.memory_use(thread, private=message.private)
        built = await self._build(thread, message, window, use)
        yield TurnStarted(message, built.report)
        async with contextlib.aclosing(self._reply(thread, message, built, window, use)) as replies:
            async for event in replies:
                yield event

    async def _admit(self, thread: Thread, message: Message) -> None:
        """The user's rate limits (memory/short_term/rate_limit.py); a refusal names the stored message."""
        if self.limits is None:
            return
        try:
            await self.limits.admit_turn(thread.user_id)
        except RateLimitError as exc:
            exc.message_id = message.id
            raise

    async def _build(self, thread: Thread, message: Message, window: int, use: MemoryUse) -> BuiltContext:
        with tracer.start_as_current_span("context.assemble") as span:
            built = await self.context.build(
                thread, message, model=self.model.name, window=window, long_term_off=use.why_off
            )
            span.set_attribute("assistant.context.used_tokens", built.report.used)
            return built

    async def _reply(
        self, thread: Thread, user_message: Message, built: BuiltContext, window: int, use: MemoryUse
    ) -> AsyncGenerator[TurnEvent, None]:
        parts: list[str] = []
        started = time.perf_counter()
        retried = False
        try:
            while True:
                try:
                    with tracer.start_as_current_span("model.call"):
                        async for event in self.model.stream(built.messages, max_tokens=built.report.reserve):
                            if isinstance(event, TextDelta):
                                parts.append(event.text)
                                yield ReplyDelta(event.text)
                            elif isinstance(event, Completed):
                                reply = await self._finish(thread, user_message, event, built, started, use)
                                await self._spend(thread, event, built)
                                yield TurnFinished(user_message, reply, built.report)
                    return
                except ContextLengthError:
                    if retried or parts:
                        raise
                    retried = True
                    window = max(1024, int(built.report.used * 0.8) + built.report.reserve)
                    log.info("context too long for %s; retrying with a %d-token window", self.model.name, window)
                    built = await self._build(thread, user_message, window, use)
                except ProviderError as exc:
                    if not parts:
                        raise
                    # The stream broke, stalled or ended unsaid after some text: keep that text as a partial reply.
                    reason = exc.reason if isinstance(exc, StreamIncomplete) else "cut"
                    log.info("partial reply (%s): %s", reason, exc)
                    reply = await self._store_partial(thread, "".join(parts), built, use, reason=reason)
                    yield TurnFinished(user_message, reply, built.report)
                    return
        except (asyncio.CancelledError, GeneratorExit):
            if parts:
                # Shielded so the partial reply is stored even though this task is being cancelled.
                await asyncio.shield(self._store_partial(thread, "".join(parts), built, use))
            raise

    async def _finish(
        self,
        thread: Thread,
        user_message: Message,
        event: Completed,
        built: BuiltContext,
        started: float,
        use: MemoryUse,
    ) -> Message:
        with tracer.start_as_current_span("write.reply"):
            total_ms = (time.perf_counter() - started) * 1000
            built.report.timings_ms["model"] = total_ms
            reply = await self.conversations.append_message(
                thread,
                "assistant",
                event.text,
                model=event.model,
                usage={**event.usage.as_dict(), "finish_reason": event.finish_reason},
                latency_ms=total_ms,
                private=use.private,
                remember=use.write,
                jobs=self.writer.jobs.for_reply(
                    write=use.write,
                    summarize=use.summarize and not use.private and self.summarizer is not None,
                    user_message_id=user_message.id,
                ),
            )
            await self._store_report(thread, reply, built, use)
        return reply

    async def _spend(self, thread: Thread, event: Completed, built: BuiltContext) -> None:
        """Count the reply's tokens against the user's daily budget (ours where the provider gave none)."""
        if self.limits is not None:
            usage = event.usage
            tokens = (usage.prompt_tokens or built.report.used) + (usage.completion_tokens or 0)
            await self.limits.spend_tokens(thread.user_id, tokens)

    async def _store_partial(
        self, thread: Thread, text: str, built: BuiltContext, use: MemoryUse, *, reason: Incomplete = "stopped"
    ) -> Message:
        reply = await self.conversations.append_message(
            thread,
            "assistant",
            text,
            status="partial",
            model=self.model.name,
            usage={"finish_reason": None, INCOMPLETE: reason},
            private=use.private,
            remember=use.write,
            jobs=self.writer.jobs.for_reply(write=use.write, summarize=False, user_message_id=None, complete=False),
        )
        await self._store_report(thread, reply, built, use)
        return reply

    async def _store_report(self, thread: Thread, reply: Message, built: BuiltContext, use: MemoryUse) -> None:
        await asyncio.gather(
            self.writer.message_stored(thread, reply),
            self.reports.save(thread, reply.id, built.report.model_dump(mode="json")),
        )
