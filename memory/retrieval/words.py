"""The full-text leg's query: the words of a question that can tell records apart, as a ``to_tsquery`` string."""

from __future__ import annotations

import re
from collections.abc import Callable

# Words too common to help a full-text match (English and a few other languages); others count.
STOPWORDS = frozenset(
    (
        "a an and are as at be been but by can could did do does for from had has have he her his how i if in "
        "into is it its me my of on or our she so than that the their them then there these they this to us "
        "was we were what when where which who whom why will with would you your doing about after before "
        "just also very de la le les des du et en un une el los las y o que der die das und ein eine ist "
        "nicht"
    ).split()
)
# Words by which a question asks about the asker's own things ("what's my dog called?"), in the same languages.
POSSESSIVES = frozenset(
    "my mine our ours mon ma mes notre nos mi mis nuestro nuestra mein meine meinen meiner unser unsere "
    "meu minha meus minhas nosso nossa mio mia miei mie nostro nostra".split()
)


def asks_about_own(query: str) -> bool:
    """Whether a question speaks of the asker's own things: it holds one of ``POSSESSIVES``."""
    return not POSSESSIVES.isdisjoint(re.findall(r"\w+", query.lower()))


# A word expected in more of the user's records than this is too common to rank by (see term_stats).
COMMON_MATCHES = 1500


def distinctive_words(query: str, *, max_terms: int = 16) -> list[str]:
    """The query's words that can tell records apart (no stopwords, no single letters), lower-cased, in order."""
    words: list[str] = []
    for word in re.findall(r"\w+", query.lower()):
        if word not in STOPWORDS and word not in words and (len(word) > 1 or not word.isascii()):
            words.append(word)
    return words[:max_terms]


def text_query(query: str, *, max_terms: int = 16, matches: Callable[[str], float] | None = None) -> str | None:
    """An OR query of the query's distinctive words, for ``to_tsquery('simple', ...)``.

    With ``matches`` (expected matches of a word), words too common to be worth ranking are left
    out; when every word is that common, only records holding all of them are asked for.
    """
    words = distinctive_words(query, max_terms=max_terms)
    if matches is None or not words:
        return " | ".join(words) or None
    rare = [w for w in words if matches(w) <= COMMON_MATCHES]
    return " | ".join(rare) if rare else " & ".join(words)
