"""One chat turn in the browser: streamed reply, what was recalled, stop, errors with a retry."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import chainlit as cl

from assistant.context.report import ContextReport
from assistant.context.tiers import tier_shares
from assistant.pipeline.turn import Notice, ReplyDelta, TurnEvent, TurnFinished, TurnPipeline, TurnStarted
from assistant.web import notices, page, render, session, state
from assistant.web.data_layer import (
    ASSISTANT_NAME,
    PARTIAL_MARK,
    RECEIPT_NAME,
    RECEIPT_TYPE,
    STOPPED_EARLY,
    reply_marks,
)
from memory.conversations import Message, Thread, User
from memory.errors import AssistantError, InvalidInputError, ProviderError, RateLimitError, describe

log = logging.getLogger("assistant.web.turn")


async def _pipeline(owner: User) -> TurnPipeline:
    """The pipeline with this user's choices (it reads the memory switches itself, on every face)."""
    app = state.assistant()
    prefs = await session.preferences(owner)
    answer_tokens = session.ANSWER_LENGTHS.get(prefs.answer_length)
    shares = tier_shares(app.settings, prefs.shares) if prefs.shares else None
    model = await app.chat_model(prefs.model)
    return app.pipeline(model=model, answer_tokens=answer_tokens, shares=shares, system_note=_note(prefs))


def _note(prefs: session.Preferences) -> str | None:
    """What the model should know about the user's settings: their local time, the answer length."""
    lines = []
    if prefs.timezone:
        try:
            now = datetime.now(ZoneInfo(prefs.timezone))
            lines.append(f"The user's time zone is {prefs.timezone}; their local time is {now:%A %Y-%m-%d %H:%M}.")
        except (KeyError, ValueError):
            pass
    if prefs.answer_length in session.LENGTH_NOTES:
        lines.append(session.LENGTH_NOTES[prefs.answer_length])
    return "\n".join(lines) or None


async def _show_recall(report: ContextReport | None) -> None:
    """The receipt under a reply (shown as "Used memory"; data_layer.receipt_step shows it again on reload)."""
    if report is None:
        return
    async with cl.Step(name=RECEIPT_NAME, type=RECEIPT_TYPE, default_open=False) as step:
        step.output = render.recalled(report)


async def run(owner: User, text: str, *, private: bool = False) -> None:
    """Store the message and stream the reply; a stopped reply is kept, marked incomplete."""
    if not text.strip():
        await cl.Message(content="Your message is empty; type something to send.").send()
        return
    thread = await session.thread(owner)
    if not private:
        await page.name_after_command(owner, thread, text)
    pipeline = await _pipeline(owner)
    await notices.memory_notices(owner)
    await _stream(thread, pipeline, text, private=private, temporary=await session.is_temporary(owner))


async def _stream(
    thread: Thread,
    pipeline: TurnPipeline,
    text: str | None,
    *,
    private: bool = False,
    temporary: bool = False,
    stored: Message | None = None,
) -> None:
    reply = cl.Message(content="", author=ASSISTANT_NAME)
    user_message = stored
    streamed = False
    report: ContextReport | None = None
    events: AsyncIterator[TurnEvent] | None = None
    try:
        if stored is None:
            assert text is not None
            events = pipeline.run(thread, text, private=private)
        else:
            # Retry after a provider error: the user's message is already stored; only reply to it.
            events = pipeline.answer(thread, stored)
        async for event in events:
            if isinstance(event, TurnStarted):
                user_message = event.user_message
                report = event.report  # shown under the reply once it is written
            elif isinstance(event, Notice):
                await cl.Message(content=f"ℹ️ {event.text}", author=ASSISTANT_NAME).send()
            elif isinstance(event, ReplyDelta):
                streamed = True
                await reply.stream_token(event.text)
            elif isinstance(event, TurnFinished):
                # The same marks as when the thread is opened again (data_layer.message_step).
                reply.content = event.reply.content + reply_marks(event.reply, temporary=temporary)
                if event.reply.status == "partial":  # the provider's stream broke off: offer to answer again
                    reply.actions = [_retry_action(str(event.user_message.id))]
                await (reply.update() if streamed else reply.send())
                await _show_recall(event.report)
                from assistant.web import documents

                await documents.show_citations(event.report, event.reply.content)
    except asyncio.CancelledError:
        close = getattr(events, "aclose", None)
        if close is not None:
            # A stop that lands while this face awaits the socket leaves the turn suspended: close it now, so it
            # stores the partial reply at once rather than whenever the generator is collected.
            await asyncio.shield(close())
        # The one notice of a stop (the app's own stop handler sends none): on the partial reply, or alone.
        if streamed:
            reply.content += PARTIAL_MARK
            await asyncio.shield(reply.update())
            await asyncio.shield(_show_recall(report))
        else:
            await asyncio.shield(cl.Message(content=STOPPED_EARLY, author=ASSISTANT_NAME).send())
        raise
    except ProviderError as exc:
        if streamed:
            reply.content += PARTIAL_MARK
            await reply.update()
            await _show_recall(report)
        actions = [_retry_action(str(user_message.id))] if user_message is not None else []
        await cl.Message(
            content=f"⚠️ The model could not answer: {describe(exc)}", author=ASSISTANT_NAME, actions=actions
        ).send()
    except RateLimitError as exc:
        # The message is stored; Retry answers it once the limit allows (it is not sent again).
        retry = [] if exc.message_id is None else [_retry_action(str(exc.message_id))]
        await cl.Message(content=f"⚠️ {describe(exc)}", author=ASSISTANT_NAME, actions=retry).send()
    except InvalidInputError as exc:
        await cl.Message(content=f"⚠️ {describe(exc)}", author=ASSISTANT_NAME).send()
    except AssistantError as exc:
        await cl.Message(content=f"⚠️ {describe(exc)}", author=ASSISTANT_NAME).send()


def _retry_action(message_id: str) -> cl.Action:
    return cl.Action(name="retry_reply", payload={"message": message_id}, label="Retry", icon="refresh-cw")


@cl.action_callback("retry_reply")
async def _retry(action: cl.Action) -> None:
    owner = await session.user()
    await action.remove()
    try:
        message_id = uuid.UUID(str(action.payload.get("message")))
        found = await state.assistant().conversations.messages_by_id(owner.id, [message_id])
    except (ValueError, AssistantError):
        found = []
    if not found:
        await cl.Message(content="That message is gone; send it again.").send()
        return
    thread = await state.assistant().conversations.get_thread(owner.id, found[0].thread_id)
    # A retried private message stays private: the pipeline reads the mark from the stored message.
    temporary = await session.is_temporary(owner)
    await _stream(thread, await _pipeline(owner), None, temporary=temporary, stored=found[0])
