"""A person named by a variant of their name is matched to the speaker's name as stored."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from assistant.jobs.kinds import EMBED_TURN, job
from assistant.providers.fake import FakeChatModel
from assistant.runtime import Runtime
from memory.long_term.tier import LongTermTier
from memory.retrieval.names import edit_distance, name_for, named_speakers, with_known_names

SPEAKERS = ["Caroline", "Melanie", "Jon Snow", "Gina"]


def test_a_variant_of_a_known_name_becomes_that_name() -> None:
    assert with_known_names("What are Mel's hobbies?", SPEAKERS) == "What are Melanie's hobbies?"
    assert with_known_names("When did Carolin go to the parade?", SPEAKERS) == "When did Caroline go to the parade?"
    assert with_known_names("What did Snow buy?", SPEAKERS) == "What did Jon Snow buy?"
    assert with_known_names("Where does Melnaie live?", SPEAKERS) == "Where does Melanie live?"  # swapped letters
    # Chat style: no capitals at all, so any word may be a name.
    assert with_known_names("what did caro say about pottery", SPEAKERS) == "what did Caroline say about pottery"


def test_words_that_are_not_names_are_left_alone() -> None:
    unchanged = [
        "What did Melanie paint?",  # already the name
        "Where did Caroline go camping?",
        "What does the melody sound like?",  # lower-case word in a sentence with capitals
        "How many Games did they play?",  # a common word, capitalised
        "Did Me say it?",  # too short to be a prefix
        "What did Gino cook?",  # four letters: no typo allowed on a name this short
    ]
    for question in unchanged:
        assert with_known_names(question, SPEAKERS) == question
    assert with_known_names("Anything at all", []) == "Anything at all"


def test_a_variant_that_fits_two_people_is_left_as_it_is() -> None:
    assert name_for("Mar", ["Maria", "Mark"]) is None
    assert name_for("Mari", ["Maria", "Mark"]) == "Maria"


def test_the_speakers_a_query_names_are_whole_words() -> None:
    assert named_speakers("What are Melanie's hobbies?", SPEAKERS) == {"Melanie"}
    assert named_speakers("Did Caroline and Melanie meet?", SPEAKERS) == {"Caroline", "Melanie"}
    assert named_speakers("What did Ginardo say?", SPEAKERS) == set()


def test_edit_distance_counts_a_swap_once_and_stops_early() -> None:
    assert edit_distance("melanie", "melanie") == 0
    assert edit_distance("melnaie", "melanie") == 1
    assert edit_distance("carolin", "caroline") == 1
    assert edit_distance("abc", "xyzuvw", limit=2) == 3


async def test_a_misspelt_name_finds_that_persons_turns(make_runtime: Callable[..., Runtime]) -> None:
    runtime = make_runtime(FakeChatModel())
    user = await runtime.conversations.ensure_user("names")
    thread = await runtime.conversations.create_thread(user.id)
    start = datetime(2024, 5, 1, tzinfo=UTC)
    for offset, (speaker, text) in enumerate(
        [("Melanie", "Basil is up in the garden."), ("Caroline", "Tomatoes are up too.")]
    ):
        await runtime.conversations.append_message(  # with its episodic job, as a turn stores it
            thread, "user", text, speaker=speaker, created_at=start + timedelta(minutes=offset), jobs=[job(EMBED_TURN)]
        )
    await runtime.drain()
    tier = LongTermTier(runtime.memories)  # the long-term tier's ranking, before its turns are grouped by date
    for question in ("What did Melanie say?", "What did Melnaie say?", "what did mel say"):
        items = await tier.recall(user.id, question, now=start + timedelta(days=1), exclude=(), limit=10)
        found = [item.line for item in items if not item.below_floor]
        assert found[:1] == ["Melanie: Basil is up in the garden."], question  # then the turn next to it
