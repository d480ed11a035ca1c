"""Ending a small model's reply where it starts saying the same sentence again.

SmolLM2-135M often runs a reply into near-copies of one sentence ("I hope you're enjoying your summer in Lisbon."
five times, each a little different) until the answer limit. DRY sampling (local_spec) breaks verbatim loops
but not these paraphrases. ``RepeatGuardedModel`` wraps such a model (its profile says so): it passes the reply
through sentence by sentence and, at the first sentence that mostly repeats an earlier one, stops the stream and
ends the reply before it, with ``finish_reason`` ``"repeat"``. What the user saw is exactly the reply's text.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from assistant.providers.base import ChatMessage, ChatModel, Completed, StreamEvent, TextDelta, Usage

log = logging.getLogger(__name__)

REPEAT = "repeat"  # the finish reason of a reply the guard ended
# A sentence repeats an earlier one when most of the shorter one's words are in the other, and both have at
# least this many distinct words (short ones, "Thank you!", may well come twice).
MIN_WORDS = 5
OVERLAP = 0.75
# An unfinished sentence is held back while at least this share of its words so far are in one earlier sentence:
# a paraphrase drifts from its original in the middle ("I hope you're enjoying your summer in ...") and comes back.
HOLD = 0.5
# The same short sentence three times in a row ("The answer is: The answer is: The answer is:"), or three bare
# numbers ("5. 6. 7. 8."), is a loop too.
SAME_IN_A_ROW = 3
# A sentence (or a clause) ends at . ! ? … : or ; followed by white space, or at a line break.
_END = re.compile(r"[.!?…:;]+[\"')\]]*\s+|\n+")
_WORD = re.compile(r"[\w']+")
_MARKER = re.compile(r"(\d{1,3}|[a-zA-Z])[.)]")  # a list item's number or letter
_LEADING_MARKER = re.compile(r"^\s*(\d{1,3}|[a-zA-Z])[.)]\s+")


def _words(text: str) -> frozenset[str]:
    """A sentence's words, without its list item number."""
    return frozenset(w.lower() for w in _WORD.findall(_LEADING_MARKER.sub("", text)))


def _shape(text: str) -> str:
    """A sentence's words in order, any number as ``#``: equal shapes in a row are a loop."""
    return " ".join("#" if w.isdigit() else w.lower() for w in _WORD.findall(_LEADING_MARKER.sub("", text)))


def repeats(sentence: frozenset[str], earlier: frozenset[str]) -> bool:
    shorter = min(len(sentence), len(earlier))
    return shorter >= MIN_WORDS and len(sentence & earlier) / shorter >= OVERLAP


@dataclass
class RepeatGuard:
    """Text in, text out: holds back a sentence while it could still turn out to repeat an earlier one."""

    text: str = ""  # what has been let through
    looping: bool = False
    _current: str = ""  # the sentence being written
    _shown: int = 0  # how much of it was let through (then it is finished whatever it turns out to be)
    _gap: str = ""  # white space after what was let through: sent with what follows, dropped at a repeat
    _lead: str = ""  # finished clauses that end with a colon, held back until what they introduce goes out
    _said: list[frozenset[str]] = field(default_factory=list)
    _shapes: list[str] = field(default_factory=list)

    def feed(self, delta: str) -> str:
        """The text to let through now; once ``looping`` is set, nothing more."""
        if self.looping:
            return ""
        self._current += delta
        out: list[str] = []
        start = 0
        while match := _END.search(self._current, start):
            sentence, rest = self._current[: match.end()], self._current[match.end() :]
            if _MARKER.fullmatch(sentence.strip()):  # "3. " starts a sentence, it does not end one
                start = match.end()
                continue
            start = 0
            words, shape = _words(sentence), _shape(sentence)
            if self._loops(words, shape):
                # A repeat already partly shown is finished, so the reply reads whole; the model stops after it.
                out.append(sentence[self._shown :] if self._shown else "")
                self.looping, self._current = True, ""
                break
            self._said.append(words)
            if shape:
                self._shapes.append(shape)
            if not self._shown and sentence.rstrip().endswith(":"):
                self._lead += sentence  # "The answer is:" goes out with what it introduces, or not at all
            else:
                out.append(self._lead + sentence[self._shown :])
                self._lead = ""
            self._current, self._shown = rest, 0
        if self._current and (self._shown or not self._could_repeat(self._current)):
            out.append(self._lead + self._current[self._shown :])
            self._lead, self._shown = "", len(self._current)
        return self._let_through("".join(out))

    def flush(self) -> str:
        """At the natural end of the reply: whatever is still held back."""
        rest = self._current[self._shown :]
        if not self._shown and self._loops(_words(rest), _shape(rest)):
            self.looping = True  # the last sentence, held back, repeats what came before
        rest = "" if self.looping else self._lead + rest
        self._current, self._shown, self._lead = "", 0, ""
        return self._let_through(rest, end=not self.looping)

    def _let_through(self, released: str, *, end: bool = False) -> str:
        """``released`` after the white space held from before; white space at its end is held in turn, to go
        with what follows (at the natural end it goes; at a repeat it is dropped, so the reply ends cleanly)."""
        if not released and not end and not self.looping:
            return ""
        whole = self._gap + released if released or end else ""
        kept = whole if end else whole.rstrip()
        self._gap = "" if end or self.looping else whole[len(kept) :]
        self.text += kept
        return kept

    def _loops(self, words: frozenset[str], shape: str) -> bool:
        """Whether a finished sentence repeats an earlier one, or is the same short one a third time in a row."""
        if not shape:  # a blank line or an emoji: nothing to judge by
            return False
        recent = self._shapes[-(SAME_IN_A_ROW - 1) :]
        return any(repeats(words, said) for said in self._said) or recent == [shape] * (SAME_IN_A_ROW - 1)

    def _could_repeat(self, partial: str) -> bool:
        """Whether an unfinished sentence may still become a repeat: its words so far are in an earlier one (or
        there are too few of them to tell)."""
        finished = partial if partial[-1:].isspace() else partial.rpartition(" ")[0]  # the last word may go on
        words = _words(finished)
        if len(words) < 3:
            return bool(self._said)
        return any(len(words & said) / len(words) >= HOLD for said in self._said)


class RepeatGuardedModel(ChatModel):
    """A chat model whose replies end at their first sentence that repeats an earlier one."""

    def __init__(self, inner: ChatModel) -> None:
        self.inner = inner
        self.name = inner.name
        self.context_window = inner.context_window
        self.answer_cap = inner.answer_cap

    async def stream(self, messages: Sequence[ChatMessage], *, max_tokens: int) -> AsyncIterator[StreamEvent]:
        guard = RepeatGuard()
        events = aiter(self.inner.stream(messages, max_tokens=max_tokens))
        try:
            async for event in events:
                if isinstance(event, TextDelta):
                    if released := guard.feed(event.text):
                        yield TextDelta(released)
                    if guard.looping:
                        break
                else:
                    if rest := guard.flush():
                        yield TextDelta(rest)
                    ended = REPEAT if guard.looping else event.finish_reason
                    yield Completed(guard.text, event.model, event.usage, ended)
                    return
        finally:
            await _close(events)  # a stopped stream lets go of its request: the model stops generating
        log.info("%s: reply ended at a sentence that repeats an earlier one", self.name)
        yield Completed(guard.text, self.name, Usage(completion_tokens=_tokens(self.name, guard.text)), REPEAT)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _close(events: AsyncIterator[StreamEvent]) -> None:
    close = getattr(events, "aclose", None)
    if close is not None:
        await close()


def _tokens(model: str, text: str) -> int | None:
    from assistant.providers.tokens import TokenCounter

    try:
        return TokenCounter(model).text(text)
    except Exception:  # a model no tokenizer is known for: the count stays unknown
        return None
