"""The per-text cache recall's word rules share: results kept for short texts only, and the same as uncached."""

from memory.long_term.duplicates import loose_key
from memory.relevance import held_stems, stem
from memory.retrieval.excerpts import excerpt
from memory.retrieval.memo import per_text


def test_a_short_text_is_computed_once_and_a_long_one_every_time() -> None:
    calls: list[str] = []

    @per_text(8, longest=10)
    def upper(text: str) -> str:
        calls.append(text)
        return text.upper()

    assert [upper("short"), upper("short")] == ["SHORT", "SHORT"]
    assert calls == ["short"]
    long = "x" * 11
    assert [upper(long), upper(long)] == [long.upper()] * 2
    assert calls == ["short", long, long]


def test_cached_rules_give_what_they_gave_before() -> None:
    assert stem("camping") == stem("camped") == "camp"
    assert held_stems("We went camping; the cities were lovely.") == frozenset(
        {"we", "went", "camp", "the", "city", "wer", "lovely"}
    )
    assert loose_key("The Café, again") == loose_key("the cafe again") == "cafe again"
    text = " ".join(f"Sentence {i} talks about nothing in particular at all." for i in range(6))
    text += " We adopted a dog named Biscuit."
    twice = [excerpt(text, {"dog"}), excerpt(text, {"dog"})]
    assert twice[0] == twice[1] and twice[0].endswith("We adopted a dog named Biscuit.") and "…" in twice[0]
    assert excerpt(text, {"biscuit"}) != excerpt(text, {"sentence"})
