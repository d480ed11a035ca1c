"""Long recalled turns shown without the sentences farthest from the question's words (memory/retrieval/excerpts.py)."""

from __future__ import annotations

import re

from memory.relevance import stem
from memory.retrieval.excerpts import CUT, MAX_CUT, excerpt, sentences

LONG = (
    "Hey Mel, it has been a while since we last talked about everything going on around here. "
    "I finally signed up for a pottery class last week and it was so much fun. My kids loved the bowls I made! "
    "Anyway, how are you doing these days with the new job and that long commute of yours?"
)


def stems(*words: str) -> set[str]:
    return {stem(w) for w in words}


def distinct(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def test_sentences_split_at_end_marks_and_captions() -> None:
    assert sentences("Hi! Look at this. [shares a photo: a red bowl]") == [
        "Hi!",
        "Look at this.",
        "[shares a photo: a red bowl]",
    ]
    assert sentences("one line\nsecond line?") == ["one line", "second line?"]


def test_a_long_turn_loses_the_sentences_farthest_from_the_words_and_stays_mostly_itself() -> None:
    shown = excerpt(LONG, stems("pottery"))
    assert "pottery class" in shown and shown.endswith(CUT)  # the closing question was farthest from the match
    assert "Hey Mel" in shown  # the cut stops before it would take more than MAX_CUT of the words
    assert len(distinct(LONG) - distinct(shown)) <= MAX_CUT * len(distinct(LONG))


def test_a_photo_caption_is_kept_and_not_counted() -> None:
    caption = " [shares a photo: " + " ".join(f"thing{i}" for i in range(40)) + "]"
    turn = "We went hiking. Great weather today." + caption
    assert excerpt(turn, stems("hiking")) == turn  # the words said are few: shown whole
    shown = excerpt(LONG + caption, stems("pottery"))
    assert shown.endswith(caption.strip()) and CUT in shown


def test_short_unmatched_turns_and_small_cuts_are_left_whole() -> None:
    assert (
        excerpt("Hey! I love pottery. It calms me down.", stems("pottery")) == "Hey! I love pottery. It calms me down."
    )
    assert excerpt(LONG, stems("guitar")) == LONG  # no sentence to prefer: recalled for its meaning
    assert excerpt(LONG, set()) == LONG
    everywhere = " ".join(f"Pottery is fun number {i}." for i in range(10))
    assert excerpt(everywhere, stems("pottery")) == everywhere  # nothing to leave out
