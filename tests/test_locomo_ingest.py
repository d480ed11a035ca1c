"""LoCoMo-format files of any date style go through the chat's write path into real stores; answers and the judge."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from assistant.bench.locomo.answers import judge_label, token_f1
from assistant.bench.locomo.dataset import Conversation
from assistant.bench.locomo.project_memory import ProjectMemory
from assistant.bench.locomo.runner import ContextItem, read_run, run_locomo
from assistant.cli.main import app
from assistant.providers.base import ChatMessage
from assistant.providers.fake import FakeChatModel
from assistant.runtime import Runtime
from assistant.settings import Settings

runner = CliRunner()


def _chat_export() -> list[dict[str, Any]]:
    """A real-chat export in the LoCoMo format: day-first dates, no captions, one date nobody can read."""
    conversation: dict[str, Any] = {
        "speaker_a": "Maja",
        "speaker_b": "Tomek",
        "session_1_date_time": "13.02.2024, 18:30:00",
        "session_1": [
            {
                "speaker": "Maja",
                "dia_id": "D1:1",
                "text": "I finally booked the ferry to Gotland for the first of July.",
            },
            {"speaker": "Tomek", "dia_id": "D1:2", "text": "Nice! Are you taking the bike with you?"},
            {"speaker": "Maja", "dia_id": "D1:3", "text": "Yes, the old green bike my grandfather gave me."},
        ],
        "session_2_date_time": "07.01.2024, 05:59:58",  # earlier than session 1: the session order wins
        "session_2": [
            {"speaker": "Tomek", "dia_id": "D2:1", "text": "My sister adopted a greyhound called Biscuit."},
        ],
        "session_3_date_time": "after the holidays",
        "session_3": [
            {"speaker": "Maja", "dia_id": "D3:1", "text": "Gotland was windy but the cycling was wonderful."},
        ],
    }
    qa = [
        {"question": "Where is Maja going by ferry?", "answer": "Gotland", "evidence": ["D1:1"], "category": 4},
        {"question": "Who gave Maja her bike?", "answer": "her grandfather", "evidence": ["D1:3"], "category": 1},
        {"question": "What is the greyhound called?", "answer": "Biscuit", "evidence": ["D2:1"], "category": 4},
        {"question": "Is it a trick?", "adversarial_answer": "yes", "evidence": ["D3:1"], "category": 5},
    ]
    return [{"sample_id": "chat-1", "conversation": conversation, "qa": qa}]


@pytest.fixture
def export_file(tmp_path: Path) -> Path:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(_chat_export()))
    return path


class Recording(ProjectMemory):
    """The project's memory, noting the "now" each question is asked at."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        self.asked_at: list[datetime | None] = []

    async def context(
        self, conversation: Conversation, question: str, *, budget: int, now: datetime | None
    ) -> list[ContextItem]:
        self.asked_at.append(now)
        return await super().context(conversation, question, budget=budget, now=now)


async def test_a_day_first_export_goes_through_the_write_path(
    make_runtime: Callable[..., Runtime], export_file: Path, tmp_path: Path, database_url: str
) -> None:
    memory = Recording(make_runtime(FakeChatModel()))
    summary = await run_locomo(export_file, memory, [300], tmp_path / "out", keep=True)

    assert summary["questions"] == 3 and summary["budgets"]["300"]["recall"] == 1.0
    assert set(memory.asked_at) == {datetime(2024, 2, 13, 18, 30)}  # the last readable date
    with psycopg.connect(database_url) as conn:
        (user,) = conn.execute("SELECT id FROM users WHERE name LIKE 'locomo-chat-1-%'").fetchall()
        threads = conn.execute("SELECT title FROM threads WHERE user_id = %s ORDER BY title", user).fetchall()
        rows = conn.execute(
            "SELECT external_id, speaker, role, content, created_at FROM messages WHERE user_id = %s ORDER BY created_at",
            user,
        ).fetchall()
        remembered = conn.execute("SELECT count(*) FROM memories WHERE user_id = %s", user).fetchone()
    assert [t[0] for t in threads] == [
        "session 1 (13.02.2024, 18:30:00)",
        "session 2 (07.01.2024, 05:59:58)",
        "session 3 (after the holidays)",
    ]
    assert [r[0] for r in rows] == ["D1:1", "D1:2", "D1:3", "D2:1", "D3:1"]  # in order, dia_id kept
    assert [r[1] for r in rows] == ["Maja", "Tomek", "Maja", "Tomek", "Maja"]
    assert rows[0][3].startswith("I finally booked the ferry")
    assert rows[0][4] == datetime(2024, 2, 13, 18, 30, tzinfo=UTC)
    assert rows[4][4].date() == datetime(2024, 2, 14).date()  # unreadable: a day after the session before
    assert remembered == (5,)  # every turn became an episodic memory through the chat's writer


async def test_users_are_cleaned_up(make_runtime: Callable[..., Runtime], export_file: Path, tmp_path: Path) -> None:
    runtime = make_runtime(FakeChatModel())
    await run_locomo(export_file, ProjectMemory(runtime), [300], tmp_path)
    async with runtime.pool.connection() as conn:
        rows = await (await conn.execute("SELECT count(*) FROM users WHERE name LIKE 'locomo-%'")).fetchall()
    assert rows == [(0,)]


def test_token_f1_and_judge_labels() -> None:
    assert token_f1("The Gotland", "gotland") == 1.0
    assert token_f1("her grandfather", "grandfather") == pytest.approx(2 / 3)
    assert token_f1("Paris", "Gotland") == 0.0
    assert judge_label('```json\n{"reason": "same island", "label": "CORRECT"}\n```')
    assert not judge_label('{"reason": "another place", "label": "WRONG"}')
    assert judge_label("Label: CORRECT") and not judge_label("I am not sure")


def _answer(messages: Sequence[ChatMessage]) -> str:
    asked = messages[-1].content.split("Question: ")[-1]
    return "Gotland" if "ferry" in asked else "no idea"


def _judge(messages: Sequence[ChatMessage]) -> str:
    graded = messages[-1].content
    return json.dumps({"reason": "", "label": "CORRECT" if "grade: Gotland" in graded else "WRONG"})


async def test_answers_from_the_packed_context_are_judged(
    make_runtime: Callable[..., Runtime], export_file: Path, tmp_path: Path
) -> None:
    from assistant.bench.locomo.answers import Answerer

    runtime = make_runtime(FakeChatModel())
    answering, judging = FakeChatModel(_answer, name="answerer"), FakeChatModel(_judge, name="judge")
    answerer = Answerer(answering, judging, runtime.settings.prompts_dir)
    out = tmp_path / "out"
    summary = await run_locomo(
        export_file, ProjectMemory(runtime), [100, 300], out, answerer=answerer, answer_budgets=[300]
    )

    figures = summary["answers"]["budgets"]
    assert list(figures) == ["300"] and summary["answers"]["model"] == "answerer"
    assert figures["300"]["judge_accuracy"] == 0.3333 and figures["300"]["errors"] == 0
    assert figures["300"]["by_category"]["4"] == {"judge_accuracy": 0.5, "f1": 0.5}
    assert figures["300"]["by_category"]["3"] == {"judge_accuracy": None, "f1": None}
    rows = [json.loads(line) for line in (out / "answers.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and {r["budget"] for r in rows} == {300}
    ferry = next(r for r in rows if "ferry" in r["question"])
    assert (ferry["prediction"], ferry["judge"], ferry["f1"]) == ("Gotland", "CORRECT", 1.0)
    # The answer model saw the packed context exactly as results.jsonl records it, and the prompt file.
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    packed = next(r for r in results if r["budget"] == 300 and "ferry" in r["question"])
    (system, user) = next(m for m in answering.received if "Question: Where is Maja going by ferry?" in m[-1].content)
    assert system.content.startswith("You answer a question about a long conversation")
    assert all(item["text"] in user.content for item in packed["items"])
    assert read_run(out)["answers"] == "answered and judged"


@pytest.mark.usefixtures("store_env")
def test_locomo_command(export_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    result = runner.invoke(
        app, ["bench", "locomo", str(export_file), "-b", "100", "-b", "300", "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary == json.loads((out / "summary.json").read_text())
    assert set(summary) == {"budgets", "baselines", "ingest_turns_per_s", "questions", "unrelated"}
    assert summary["unrelated"]["requests"] >= 100  # the built-in everyday requests
    assert set(summary["unrelated"]["budgets"]["300"]) == {"tokens_mean", "none_share", "asked"}
    assert set(summary["baselines"]["bm25"]) == {"100", "300"}
    assert "skipped" in result.stderr

    answered = runner.invoke(
        app, ["bench", "locomo", str(export_file), "-b", "300", "--out", str(out), "--answer-model", "fake"]
    )
    assert answered.exit_code == 0, answered.output
    assert "answers by fake" in answered.stdout and "judge accuracy" in answered.stdout

    wrong = runner.invoke(
        app, ["bench", "locomo", str(export_file), "-b", "300", "--answer-budget", "500", "--answer-model", "fake"]
    )
    assert wrong.exit_code == 1 and "--answer-budget 500" in wrong.stderr


def _extracting(messages: Sequence[ChatMessage]) -> str:
    if "New fact:" in messages[-1].content:
        return json.dumps({"action": "add", "reason": "new"})
    if "grandfather" in messages[-1].content:
        return json.dumps(
            {"facts": [{"text": "Maja's green bike was a gift from her grandfather.", "stated_by": "user"}]}
        )
    return json.dumps({"facts": []})


async def test_extract_queues_each_exchange_for_facts(
    make_runtime: Callable[..., Runtime], export_file: Path, tmp_path: Path, database_url: str
) -> None:
    model = FakeChatModel(_extracting)
    runtime = make_runtime(model, extraction="on")
    await run_locomo(export_file, ProjectMemory(runtime, extract=True), [300], tmp_path, keep=True)
    extractions = [m for m in model.received if "New fact:" not in m[-1].content]
    assert len(extractions) == 2  # consecutive turns of each session: (D1:1, D1:2), (D1:2, D1:3)
    with psycopg.connect(database_url) as conn:
        facts = conn.execute("SELECT text FROM memories WHERE kind = 'semantic'").fetchall()
    assert facts == [("Maja's green bike was a gift from her grandfather.",)]


async def test_an_unusable_answer_model_fails_before_any_work(settings: Settings) -> None:
    from assistant.bench.locomo.answers import Answerer
    from memory.errors import ProviderError

    broken = FakeChatModel(name="nokey", failures=[ProviderError("missing credentials")])
    answerer = Answerer(FakeChatModel(), broken, settings.prompts_dir)
    with pytest.raises(ProviderError, match="nokey cannot be used: missing credentials"):
        await answerer.check()


@pytest.mark.usefixtures("store_env")
def test_a_file_not_in_the_format_is_a_clear_error(tmp_path: Path) -> None:
    cases = {"broken.json": "{not json", "object.json": '{"qa": []}', "nosessions.json": '[{"qa": []}]'}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        result = runner.invoke(app, ["bench", "locomo", str(tmp_path / name), "--out", str(tmp_path / "out")])
        assert result.exit_code == 1 and name in result.stderr, (name, result.output)
        assert "Traceback" not in result.output
