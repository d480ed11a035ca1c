"""The LoCoMo harness: loading, the source rule, the baselines against the published table, and the runner."""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from assistant.bench.locomo.baselines import BASELINES, BM25Okapi
from assistant.bench.locomo.dataset import DEV_FILE, SHARED_DEV_FILE, Conversation, dev_file, load_locomo, parse_date
from assistant.bench.locomo.metric import SourceIndex, count_tokens, pack, recall, render_turn, sources_of
from assistant.bench.locomo.runner import ContextItem, item_sources, read_run, run_locomo
from assistant.bench.locomo.unrelated import load_requests

# The reference table published with the dev file (the team's shared/bench/README.md), budgets 500, 1000, 2000, 4000.
REFERENCE = {
    "recency": {500: 0.014, 1000: 0.027, 2000: 0.080, 4000: 0.157},
    "bm25": {500: 0.550, 1000: 0.640, 2000: 0.700, 4000: 0.744},
}


def _sample_json(**extra: Any) -> list[dict[str, Any]]:
    """A tiny conversation in the LoCoMo format: three sessions, one with an unreadable date."""
    conversation: dict[str, Any] = {
        "speaker_a": "Ana",
        "speaker_b": "Ben",
        "session_10": [
            {"speaker": "Ana", "dia_id": "D10:1", "text": "My cat Pixel learned to open the fridge."},
            {"speaker": "Ben", "dia_id": "D10:2", "text": "Ha, clever cat!"},
        ],
        "session_10_date_time": "sometime in the spring",
        "session_2_date_time": "07.01.2024, 05:59:58",
        "session_2": [
            {
                "speaker": "Ana",
                "dia_id": "D2:1",
                "text": "I started learning Portuguese in Lisbon.",
                "blip_caption": "a tram",
            },
            {"speaker": "Ben", "dia_id": "D2:2", "text": "Bye!"},
        ],
        "session_1_date_time": "1:56 pm on 8 May, 2023",
        "session_1": [
            {"speaker": "Ana", "dia_id": "D1:1", "text": "I moved to Lisbon last spring for a new job."},
            {"speaker": "Ben", "dia_id": "D1:2", "text": "That sounds like a big change, how is the new job going?"},
        ],
        "session_3_date_time": "9:00 am on 1 June, 2024",
    }
    qa = [
        {"question": "Where did Ana move?", "answer": "Lisbon", "evidence": ["D1:1"], "category": 4},
        {"question": "When did Ana move?", "answer": 2022, "evidence": ["D1:1", "D"], "category": 2},
        {"question": "What language?", "answer": "Portuguese", "evidence": ["D2:1", "D:11:26"], "category": 1},
        {"question": "What can Pixel do?", "answer": "open the fridge", "evidence": ["D10:1"], "category": 3},
        {"question": "Broken", "answer": "x", "evidence": ["D8:6; D9:17", "D99:1"], "category": 1},
        {"question": "Adversarial", "adversarial_answer": "no", "evidence": ["D10:2"], "category": 5},
    ]
    return [{"sample_id": "tiny", "conversation": conversation, "qa": qa, **extra}]


@pytest.fixture
def tiny_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(_sample_json(session_summary="SECRET", observation="SECRET", event_summary="SECRET")))
    return path


def _dev_file() -> Path:
    """The dev file shipped in the repository: missing is a failure, never a skip."""
    assert DEV_FILE.is_file(), f"the LoCoMo dev file is missing from the repository: expected {DEV_FILE}"
    return DEV_FILE


def test_the_shipped_dev_file_is_the_default_and_matches_the_shared_copy() -> None:
    assert dev_file() == DEV_FILE
    assert (DEV_FILE.parent / "LICENSE.txt").is_file() and (DEV_FILE.parent / "README.md").is_file()
    if SHARED_DEV_FILE.is_file():  # the team's copy is optional; where it exists, the two are the same bytes
        assert SHARED_DEV_FILE.read_bytes() == DEV_FILE.read_bytes()


def test_baselines_reproduce_the_reference_table() -> None:
    samples = load_locomo(_dev_file())
    figures: dict[str, dict[int, list[float]]] = {name: {b: [] for b in REFERENCE[name]} for name in REFERENCE}
    for sample in samples:
        questions = [q for q in sample.questions if q.category in (1, 2, 3, 4)]
        index = SourceIndex([turn for _, turn in sample.conversation.turns()])
        for name, baseline in BASELINES.items():
            for question, ranked in zip(questions, baseline(sample.conversation, questions), strict=True):
                for budget in REFERENCE[name]:
                    present = {s for item in pack(ranked, budget) for s in index.sources(item)}
                    figures[name][budget].append(recall(question.evidence, present))
    for name, by_budget in REFERENCE.items():
        for budget, expected in by_budget.items():
            values = figures[name][budget]
            assert abs(sum(values) / len(values) - expected) <= 0.01, (name, budget, sum(values) / len(values))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1:56 pm on 8 May, 2023", datetime(2023, 5, 8, 13, 56)),
        ("12:48 am on 1 February, 2023", datetime(2023, 2, 1, 0, 48)),
        ("07.01.2024, 05:59:58", datetime(2024, 1, 7, 5, 59, 58)),
        ("2023-05-08T13:56:00", datetime(2023, 5, 8, 13, 56)),
        ("May 8, 2023", datetime(2023, 5, 8)),
        ("Monday, 8th of May 2023 at 9:05 p.m.", datetime(2023, 5, 8, 21, 5)),
        ("sometime in the spring", None),
        ("", None),
    ],
)
def test_parse_date(text: str, expected: datetime | None) -> None:
    assert parse_date(text) == expected


def test_loading_keeps_session_order_and_raw_dates(tiny_file: Path) -> None:
    (sample,) = load_locomo(tiny_file)
    sessions = sample.conversation.sessions
    assert [s.index for s in sessions] == [1, 2, 10]  # by number, a date key without a session ignored
    assert sessions[1].date == datetime(2024, 1, 7, 5, 59, 58)
    assert (sessions[2].date_text, sessions[2].date) == ("sometime in the spring", None)
    assert sample.conversation.last_date == datetime(2024, 1, 7, 5, 59, 58)
    assert sessions[1].turns[0].caption == "a tram" and sessions[1].turns[1].caption is None


def test_malformed_evidence_is_dropped(tiny_file: Path) -> None:
    (sample,) = load_locomo(tiny_file)
    by_question = {q.question: q for q in sample.questions}
    assert by_question["When did Ana move?"].evidence == ["D1:1"]
    assert by_question["When did Ana move?"].answer == "2022"
    assert by_question["What language?"].evidence == ["D2:1"]
    assert by_question["Adversarial"].answer == "no"
    assert [q.question for q in sample.dropped] == ["Broken"]


def test_summaries_are_never_read(tiny_file: Path) -> None:
    (sample,) = load_locomo(tiny_file)
    assert "SECRET" not in repr(sample)


def test_sixty_percent_source_rule(tiny_file: Path) -> None:
    (sample,) = load_locomo(tiny_file)
    turns = [turn for _, turn in sample.conversation.turns()]
    assert sources_of("Ana (May 2023): moved to Lisbon last spring, new job", turns) == ["D1:1"]
    assert sources_of("[1:56 pm on 8 May, 2023] Ana:", turns) == []
    assert sources_of("Ana lives in Lisbon", turns) == []  # 2 of 9 words
    assert recall(["D1:1", "D2:1"], sources_of("I moved to Lisbon last spring for a new job.", turns)) == 0.5


def test_a_turn_item_stands_for_the_turn_it_renders() -> None:
    sample = load_locomo(_dev_file())[0]
    index = SourceIndex([turn for _, turn in sample.conversation.turns()])
    for n, (session, turn) in enumerate(sample.conversation.turns()):
        item = render_turn(turn, session.date_text)
        assert index.sources(item) == [turn.dia_id]
        if n < 40:
            assert index.candidates(item) == sources_of(item, index.turns)


def test_item_sources_by_kind(tiny_file: Path) -> None:
    (sample,) = load_locomo(tiny_file)
    index = SourceIndex([turn for _, turn in sample.conversation.turns()])
    chunk = "Ana: I moved to Lisbon last spring for a new job. Ben: That sounds like a big change, how is the new job going?"
    assert item_sources(ContextItem("turn", chunk), index) == ["D1:2"]  # the turn it carries best
    claimed = ContextItem("turn", chunk, ("D1:1", "D1:2", "D10:1"))  # D10:1 is claimed but not carried
    assert item_sources(claimed, index) == ["D1:1", "D1:2"]
    derived = ContextItem("summary", "Ana moved.", ("D99:1", "D10:1", "D1:1", "D1:1", "D2:1", "D2:2"))
    assert item_sources(derived, index) == ["D10:1", "D1:1", "D2:1"]


def test_pack_skips_what_does_not_fit() -> None:
    long_item = "word " * 50
    assert count_tokens("short one") <= 5
    assert pack([long_item, "short one", "short two"], 10) == ["short one", "short two"]


def test_bm25_idf_matches_rank_bm25() -> None:
    index = BM25Okapi([["a", "b"], ["a", "c"], ["a", "d"], ["e"]])
    rare = math.log(3.5 / 1.5)  # log((N - n + 0.5) / (n + 0.5)) with N=4, n=1
    assert index.idf["b"] == pytest.approx(rare)
    # "a" is in 3 of 4 documents: its idf log(1.5 / 3.5) < 0 becomes 0.25 times the mean idf (4 rare + "a").
    assert index.idf["a"] == pytest.approx(0.25 * (4 * rare + math.log(1.5 / 3.5)) / 5)
    scores = index.scores(["b", "a"])
    assert scores.index(max(scores)) == 0 and scores[3] == 0.0


class RecentTurns:
    """A memory with no long-term store: the latest turns, rendered, that fit."""

    def __init__(self) -> None:
        self.ingested: dict[str, int] = {}
        self.cleaned: list[str] = []

    async def ingest(self, conversation: Conversation) -> None:
        self.ingested[conversation.sample_id] = sum(1 for _ in conversation.turns())

    async def context(
        self, conversation: Conversation, question: str, *, budget: int, now: datetime | None
    ) -> list[ContextItem]:
        assert now == conversation.last_date
        rendered = [f"{turn.speaker}: {turn.text}" for _, turn in conversation.turns()][::-1]
        if budget < 100:
            return [ContextItem("turn", text) for text in pack(rendered, budget)]
        # One derived item claiming too many sources (a duplicate, an unknown id): the first three known are kept.
        claimed = ContextItem("memory", "Ana", ("D1:1", "D1:1", "D99:9", "D2:1", "D10:1", "D10:2"))
        return [claimed, *(ContextItem("turn", text) for text in pack(rendered, budget - count_tokens("Ana")))]

    async def cleanup(self, conversation: Conversation) -> None:
        self.cleaned.append(conversation.sample_id)


class Overflowing(RecentTurns):
    async def context(
        self, conversation: Conversation, question: str, *, budget: int, now: datetime | None
    ) -> list[ContextItem]:
        return [ContextItem("turn", f"{turn.speaker}: {turn.text}") for _, turn in conversation.turns()]


async def test_runner_end_to_end(tiny_file: Path, tmp_path: Path) -> None:
    memory = RecentTurns()
    seen: list[tuple[int, int, str]] = []
    out = tmp_path / "out"
    summary = await run_locomo(tiny_file, memory, [20, 100], out, progress=lambda *a: seen.append(a))

    assert memory.ingested == {"tiny": 6} and memory.cleaned == ["tiny"]
    assert seen[-1][0] == seen[-1][1] == 1 + 4 * 2
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and {r["budget"] for r in rows} == {20, 100}
    assert set(rows[0]) == {"sample_id", "question", "category", "evidence", "budget", "items", "latency_ms"}
    assert set(rows[0]["items"][0]) == {"kind", "text", "sources", "tokens"}
    first = rows[0]["items"][0]
    assert first["text"] == "Ben: Ha, clever cat!" and first["sources"] == ["D10:2"]
    derived = [i for r in rows for i in r["items"] if i["kind"] == "memory"]
    assert derived and all(i["sources"] == ["D1:1", "D2:1", "D10:1"] for i in derived)
    assert all(sum(i["tokens"] for i in r["items"]) <= r["budget"] for r in rows)

    assert summary == json.loads((out / "summary.json").read_text())
    assert set(summary) == {"budgets", "baselines", "ingest_turns_per_s", "questions"}
    run = read_run(out)
    assert (summary["questions"], run["dropped_questions"], run["over_budget"]) == (4, 1, 0)
    assert run["answers"].startswith("skipped") and not (out / "answers.jsonl").exists()
    small = summary["budgets"]["20"]  # the two latest turns: only the question about Pixel has its evidence
    assert small["recall"] == 0.25 and small["by_category"] == {"1": 0.0, "2": 0.0, "3": 1.0, "4": 0.0}
    big = summary["budgets"]["100"]
    assert big["recall"] == 1.0 and set(big["by_category"]) == {"1", "2", "3", "4"}
    assert {"tokens_mean", "latency_ms_p50", "latency_ms_p95"} <= set(big)
    assert set(summary["baselines"]) == {"recency", "bm25"}
    assert set(summary["baselines"]["bm25"]["20"]["by_category"]) == {"1", "2", "3", "4"}
    assert summary["baselines"]["recency"]["100"]["recall"] == 0.5
    assert summary["baselines"]["bm25"]["100"]["recall"] == 1.0


async def test_unrelated_requests_report_the_tokens_they_get(tiny_file: Path, tmp_path: Path) -> None:
    requests = ["Write a haiku about autumn.", "How do I reverse a list in Python?"]
    seen: list[tuple[int, int, str]] = []
    summary = await run_locomo(
        tiny_file, RecentTurns(), [20, 100], tmp_path, unrelated=requests, progress=lambda *a: seen.append(a)
    )
    assert seen[-1][0] == seen[-1][1] == 1 + (4 + 2) * 2
    figures = summary["unrelated"]
    assert figures["requests"] == 2 and set(figures["budgets"]) == {"20", "100"}
    assert figures["budgets"]["100"]["none_share"] == 0.0 and figures["budgets"]["100"]["tokens_mean"] > 20
    rows = [json.loads(line) for line in (tmp_path / "unrelated.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and {r["request"] for r in rows} == set(requests)
    assert all(r["tokens"] == sum(i["tokens"] for i in r["items"]) for r in rows)
    assert len(load_requests()) >= 100 and all(not r.startswith("#") for r in load_requests())


async def test_runner_counts_overflow_and_keeps_data(tiny_file: Path, tmp_path: Path) -> None:
    memory = Overflowing()
    summary = await run_locomo(tiny_file, memory, [10], tmp_path, keep=True)
    assert read_run(tmp_path)["over_budget"] == 4 and summary["budgets"]["10"]["recall"] == 0.0
    assert memory.cleaned == []
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert all(sum(i["tokens"] for i in r["items"]) > r["budget"] for r in rows)
