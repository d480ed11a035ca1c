"""A scripted chat model for tests and benchmarks: no network, and a record of exactly what it received.

Like httpx's ``MockTransport``: give it canned replies or a function, optional
per-token latency and failures, then assert on ``received``.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

from assistant.providers.base import LENGTH, ChatMessage, ChatModel, Completed, StreamEvent, TextDelta, Usage
from assistant.providers.tokens import TokenCounter
from memory.errors import ProviderError

Script = Callable[[Sequence[ChatMessage]], str]


_ITEM = re.compile(r"^\[(\d+)\] (.*)$")
_DOCUMENT = re.compile(r'^<document n="(\d+)"[^>]*>$')


def context_items(messages: Sequence[ChatMessage]) -> list[str]:
    """``[n] <first 100 characters>`` for each memory, summary or document item in the system messages."""
    found: list[str] = []
    for message in messages:
        if message.role != "system":
            continue
        lines = message.content.splitlines()
        for index, line in enumerate(lines):
            if item := _ITEM.match(line):
                found.append(f"[{item.group(1)}] {item.group(2)[:100]}")
            elif document := _DOCUMENT.match(line):
                body = lines[index + 1] if index + 1 < len(lines) else ""
                found.append(f"[{document.group(1)}] {body[:100]}")
    return found


def default_reply(messages: Sequence[ChatMessage]) -> str:
    """``Fake reply to: <the user's message>``, then one line per context item it was given."""
    last_user = next((m.content for m in reversed(messages) if m.role == "user"), "")
    return "\n".join([f"Fake reply to: {last_user}", *context_items(messages)])


class FakeChatModel(ChatModel):
    def __init__(
        self,
        replies: Sequence[str] | Script | None = None,
        *,
        name: str = "fake",
        context_window: int = 8192,
        token_delay_s: float = 0.0,
        failures: Sequence[Exception] = (),
        record_path: Path | None = None,
    ) -> None:
        self.name = name
        self.context_window = context_window
        self.token_delay_s = token_delay_s
        self.received: list[list[ChatMessage]] = []
        self._script: Script | None = replies if callable(replies) else None
        self._canned = list(replies) if replies is not None and not callable(replies) else []
        self._failures = list(failures)
        self._record_path = record_path

    def _reply_for(self, messages: Sequence[ChatMessage]) -> str:
        if self._script is not None:
            return self._script(messages)
        if self._canned:
            return self._canned.pop(0)
        return default_reply(messages)

    def _record(self, messages: list[ChatMessage]) -> None:
        self.received.append(messages)
        if self._record_path is not None:
            line = json.dumps([m.as_dict() for m in messages], ensure_ascii=False)
            with self._record_path.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")

    async def stream(self, messages: Sequence[ChatMessage], *, max_tokens: int) -> AsyncIterator[StreamEvent]:
        received = list(messages)
        self._record(received)
        if self._failures:
            failure = self._failures.pop(0)
            raise failure if isinstance(failure, ProviderError) else ProviderError(str(failure))
        whole = self._reply_for(received)
        reply = self._limit(whole, max_tokens)
        words = reply.split(" ")
        # Tokens come at a steady rate from the request on, as from a remote server: a late read here
        # does not slow the model down, so the event loop's lateness is not counted twice.
        started = asyncio.get_running_loop().time()
        for index, word in enumerate(words):
            if self.token_delay_s:
                due = started + (index + 1) * self.token_delay_s
                await asyncio.sleep(max(0.0, due - asyncio.get_running_loop().time()))
            yield TextDelta(word if index == 0 else " " + word)
        text = reply
        prompt_tokens = sum(len(m.content.split()) for m in received)
        finish = LENGTH if len(reply) < len(whole) else "stop"
        yield Completed(text, self.name, Usage(prompt_tokens, len(words), 0.0), finish)

    def _limit(self, reply: str, max_tokens: int) -> str:
        """Cut the reply at ``max_tokens`` tokens, as a real model stops at its limit."""
        return TokenCounter(self.name).truncate(reply, max_tokens)


# The background prompts (prompts/extract.md, reconcile.md, summarize.md), known by their opening words.
_EXTRACT, _RECONCILE, _SUMMARIZE = "You read one exchange", "You keep a list of facts", "You keep a running summary"
_FOLDED_LINE = re.compile(r"^[^\s\[<:]+: ")  # "user: ...", a message's first line (not a context item's)


def memory_reply(messages: Sequence[ChatMessage]) -> str:
    """``default_reply``, and deterministic answers to the background prompts (``ASSISTANT_FAKE_SCRIPT=memory``).

    Extraction: one fact per exchange, ``The user said: <the first line of the user's message>``; reconciling:
    always add; a summary: the summary so far plus the first line of each new message, so a message folded in
    twice shows up twice. Tests of separate processes (workers, web instances) check these stored once.
    """
    system = messages[0].content if messages and messages[0].role == "system" else ""
    body = messages[-1].content if messages else ""
    if system.startswith(_EXTRACT):
        said = [line.removeprefix("user: ") for line in body.splitlines() if line.startswith("user: ")]
        facts = [{"text": f"The user said: {said[0]}", "stated_by": "user", "importance": 0.6}] if said else []
        return json.dumps({"facts": facts})
    if system.startswith(_RECONCILE):
        return json.dumps({"action": "add", "reason": "new"})
    if system.startswith(_SUMMARIZE):
        previous, _, new = body.removeprefix("Summary so far:\n").partition("\n\nNew messages:\n")
        kept = [] if previous.strip() == "(none yet)" else previous.splitlines()
        return "\n".join(kept + [line for line in new.splitlines() if _FOLDED_LINE.match(line)])
    return default_reply(messages)
