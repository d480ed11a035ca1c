"""Running a memory under test over a LoCoMo file: recall, tokens and latency per question and budget."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from assistant.bench.locomo.answers import Answerer, AnswerScores
from assistant.bench.locomo.baselines import BASELINES
from assistant.bench.locomo.dataset import SCORED_CATEGORIES, Conversation, Question, Sample, load_locomo
from assistant.bench.locomo.metric import SourceIndex, count_tokens, pack, recall
from assistant.bench.locomo.unrelated import UnrelatedScores
from assistant.bench.stats import machine, percentile

MAX_CLAIMED_SOURCES = 3
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class ContextItem:
    kind: str  # "turn", "memory", "summary", ...
    text: str  # exactly what would be placed in the prompt
    sources: tuple[str, ...] = ()  # dia_ids claimed: checked by the 60% rule for "turn", the first 3 kept otherwise


class MemoryUnderTest(Protocol):
    async def ingest(self, conversation: Conversation) -> None:
        """Take in every turn of both speakers, in order."""
        ...

    async def context(
        self, conversation: Conversation, question: str, *, budget: int, now: datetime | None
    ) -> list[ContextItem]:
        """The long-term context for ``question``, at most ``budget`` tokens in all."""
        ...

    async def cleanup(self, conversation: Conversation) -> None:
        """Forget the conversation."""
        ...


@dataclass
class _Scores:
    """Recall per question for one budget (and, for the memory, tokens and latency)."""

    recall: list[float] = field(default_factory=list)
    by_category: dict[int, list[float]] = field(default_factory=dict)
    tokens: list[int] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)

    def add(self, category: int, value: float) -> None:
        self.recall.append(value)
        self.by_category.setdefault(category, []).append(value)

    def figures(self) -> dict[str, Any]:
        return {
            "recall": _mean(self.recall),
            "by_category": {str(c): _mean(self.by_category.get(c, [])) for c in SCORED_CATEGORIES},
        }


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def item_sources(item: ContextItem, index: SourceIndex) -> list[str]:
    """The turns an item counts for.

    A "turn" item counts for the turn it carries best (the 60% rule), plus any turn it claims and also carries
    (a chunk of several turns); a derived item, for the first three known turns it claims.
    """
    if item.kind == "turn":
        if not item.sources:
            return list(index.sources(item.text))
        found = set(index.sources(item.text)) | (set(item.sources) & set(index.candidates(item.text)))
        return sorted(found, key=index.position.__getitem__)
    claimed = [s for s in dict.fromkeys(item.sources) if s in index.position]
    return claimed[:MAX_CLAIMED_SOURCES]


async def run_locomo(
    data_path: str | Path,
    memory: MemoryUnderTest,
    budgets: Sequence[int],
    out_dir: str | Path,
    *,
    keep: bool = False,
    progress: Progress | None = None,
    answerer: Answerer | None = None,
    answer_budgets: Sequence[int] = (),
    unrelated: Sequence[str] = (),
) -> dict[str, Any]:
    """Score ``memory`` and the baselines on every conversation; write results.jsonl, summary.json and run.json.

    With an ``answerer``, questions are also answered from the context packed at each of ``answer_budgets``
    (all budgets when empty) and graded; those rows go to answers.jsonl. Each ``unrelated`` request is also
    asked of every conversation's memory at each budget: the tokens it gets go to unrelated.jsonl.
    """
    samples, results_path = _prepare(data_path, out_dir)
    answers_path = results_path.parent / "answers.jsonl"
    answers_path.unlink(missing_ok=True)
    unrelated_path = results_path.parent / "unrelated.jsonl"
    unrelated_path.unlink(missing_ok=True)
    answering = set(answer_budgets or budgets) & set(budgets) if answerer else set()
    scored = [[q for q in s.questions if q.category in SCORED_CATEGORIES] for s in samples]
    total = sum(1 + (len(questions) + len(unrelated)) * len(budgets) for questions in scored)
    done = 0
    scores = {b: _Scores() for b in budgets}
    baseline_scores = {name: {b: _Scores() for b in budgets} for name in BASELINES}
    answer_scores = {b: AnswerScores() for b in sorted(answering)}
    unrelated_scores = {b: UnrelatedScores() for b in budgets}
    ingest_turns, ingest_seconds, over_budget = 0, 0.0, 0

    for sample, questions in zip(samples, scored, strict=True):
        conv = sample.conversation
        index = SourceIndex([turn for _, turn in conv.turns()])
        _score_baselines(conv, questions, budgets, index, baseline_scores)
        try:
            started = time.perf_counter()
            await memory.ingest(conv)
            ingest_seconds += time.perf_counter() - started
            ingest_turns += len(index.turns)
            done += 1
            if progress:
                progress(done, total, f"{conv.sample_id}: ingested")
            rows, answer_rows = [], []
            for number, question in enumerate(questions, 1):
                for budget in budgets:
                    row = await _ask(memory, conv, question, budget, index)
                    tokens = sum(item["tokens"] for item in row["items"])
                    present = {dia_id for item in row["items"] for dia_id in item["sources"]}
                    # A context over its budget scores nothing: the figure must not reward overflowing.
                    value = recall(question.evidence, present) if tokens <= budget else 0.0
                    over_budget += tokens > budget
                    scores[budget].add(question.category, value)
                    scores[budget].tokens.append(tokens)
                    scores[budget].latency_ms.append(row["latency_ms"])
                    rows.append(row)
                    if answerer is not None and budget in answering:
                        context = [item["text"] for item in row["items"]]
                        prediction, f1, correct, error = await answerer.score(
                            question.question, question.answer, context, conv.last_date
                        )
                        answer_scores[budget].add(question.category, f1, correct)
                        answer_rows.append(
                            {
                                "sample_id": conv.sample_id,
                                "question": question.question,
                                "category": question.category,
                                "budget": budget,
                                "answer": question.answer,
                                "prediction": prediction,
                                "f1": round(f1, 4),
                                "judge": None if correct is None else ("CORRECT" if correct else "WRONG"),
                                **({"error": error} if error else {}),
                            }
                        )
                    done += 1
                    if progress:
                        progress(done, total, f"{conv.sample_id}: question {number}/{len(questions)}")
            _append_rows(results_path, rows)
            if answer_rows:
                _append_rows(answers_path, answer_rows)
            unrelated_rows = []
            for number, request in enumerate(unrelated, 1):
                for budget in budgets:
                    row = await _ask_unrelated(memory, conv, request, budget)
                    unrelated_scores[budget].tokens.append(row["tokens"])
                    unrelated_rows.append(row)
                    done += 1
                    if progress:
                        progress(done, total, f"{conv.sample_id}: unrelated request {number}/{len(unrelated)}")
            _append_rows(unrelated_path, unrelated_rows)
        finally:
            if not keep:
                await memory.cleanup(conv)

    summary = _summary(scores, baseline_scores, scored)
    summary["ingest_turns_per_s"] = round(ingest_turns / ingest_seconds, 1) if ingest_seconds > 0 else None
    if unrelated:
        summary["unrelated"] = {
            "requests": len(unrelated),
            "budgets": {str(b): s.figures() for b, s in unrelated_scores.items()},
        }
    if answerer is not None:
        summary["answers"] = {
            "model": answerer.model.name,
            "judge": answerer.judge.name,
            "budgets": {str(b): s.figures() for b, s in answer_scores.items()},
        }
    _write_json(results_path.parent / "summary.json", summary)
    _write_json(
        results_path.parent / "run.json",
        {
            "benchmark": "locomo",
            "data": str(data_path),
            "budgets": list(budgets),
            "conversations": len(samples),
            "dropped_questions": sum(1 for s in samples for q in s.dropped if q.category in SCORED_CATEGORIES),
            "over_budget": over_budget,
            "answers": "answered and judged" if answerer is not None else "skipped (no --answer-model)",
            "machine": machine(),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    return summary


def _prepare(data_path: str | Path, out_dir: str | Path) -> tuple[list[Sample], Path]:
    samples = load_locomo(data_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.jsonl"
    results_path.write_text("", encoding="utf-8")
    return samples, results_path


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def read_run(out_dir: str | Path) -> dict[str, Any]:
    """What run.json says about a finished run (over-budget contexts, dropped questions, machine)."""
    return dict(json.loads((Path(out_dir) / "run.json").read_text(encoding="utf-8")))


async def _ask(
    memory: MemoryUnderTest, conv: Conversation, question: Question, budget: int, index: SourceIndex
) -> dict[str, Any]:
    """One results.jsonl row: exactly the keys the issue names."""
    started = time.perf_counter()
    context = await memory.context(conv, question.question, budget=budget, now=conv.last_date)
    latency_ms = (time.perf_counter() - started) * 1000
    items = [
        {"kind": it.kind, "text": it.text, "sources": item_sources(it, index), "tokens": count_tokens(it.text)}
        for it in context
    ]
    return {
        "sample_id": conv.sample_id,
        "question": question.question,
        "category": question.category,
        "evidence": question.evidence,
        "budget": budget,
        "items": items,
        "latency_ms": round(latency_ms, 3),
    }


async def _ask_unrelated(memory: MemoryUnderTest, conv: Conversation, request: str, budget: int) -> dict[str, Any]:
    """One unrelated.jsonl row: the long-term tokens (and items) a request with nothing to find still gets."""
    context = await memory.context(conv, request, budget=budget, now=conv.last_date)
    items = [{"kind": it.kind, "text": it.text, "tokens": count_tokens(it.text)} for it in context]
    return {
        "sample_id": conv.sample_id,
        "request": request,
        "budget": budget,
        "tokens": sum(item["tokens"] for item in items),
        "items": items,
    }


def _score_baselines(
    conv: Conversation,
    questions: Sequence[Question],
    budgets: Sequence[int],
    index: SourceIndex,
    into: dict[str, dict[int, _Scores]],
) -> None:
    for name, baseline in BASELINES.items():
        for question, ranked in zip(questions, baseline(conv, questions), strict=True):
            for budget in budgets:
                present = {source for item in pack(ranked, budget) for source in index.sources(item)}
                into[name][budget].add(question.category, recall(question.evidence, present))


def _append_rows(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    with path.open("a", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def _summary(
    scores: dict[int, _Scores], baselines: dict[str, dict[int, _Scores]], scored: Sequence[Sequence[Question]]
) -> dict[str, Any]:
    budgets: dict[str, Any] = {}
    for budget, s in scores.items():
        budgets[str(budget)] = {
            **s.figures(),
            "tokens_mean": round(sum(s.tokens) / len(s.tokens), 1) if s.tokens else None,
            "latency_ms_p50": round(percentile(s.latency_ms, 50), 3),
            "latency_ms_p95": round(percentile(s.latency_ms, 95), 3),
        }
    return {
        "budgets": budgets,
        "baselines": {name: {str(b): s.figures() for b, s in by.items()} for name, by in baselines.items()},
        "questions": sum(len(questions) for questions in scored),
    }
