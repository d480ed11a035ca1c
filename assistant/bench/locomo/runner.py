"""Running a memory under test over a LoCoMo file: recall, tokens and latency per question and budget."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from assistant.bench.locomo.baselines import BASELINES
from assistant.bench.locomo.dataset import SCORED_CATEGORIES, Conversation, Question, Sample, load_locomo
from assistant.bench.locomo.metric import SourceIndex, count_tokens, pack, recall
from assistant.bench.stats import percentile

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
) -> dict[str, Any]:
    """Score ``memory`` and the baselines on every conversation; write results.jsonl and summary.json."""
    samples, results_path = _prepare(data_path, out_dir)
    scored = [[q for q in s.questions if q.category in SCORED_CATEGORIES] for s in samples]
    total = sum(1 + len(questions) * len(budgets) for questions in scored)
    done = 0
    scores = {b: _Scores() for b in budgets}
    baseline_scores = {name: {b: _Scores() for b in budgets} for name in BASELINES}
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
            rows = []
            for number, question in enumerate(questions, 1):
                for budget in budgets:
                    row = await _ask(memory, conv, question, budget, index)
                    scores[budget].add(question.category, row["recall"])
                    scores[budget].tokens.append(sum(item["tokens"] for item in row["items"]))
                    scores[budget].latency_ms.append(row["latency_ms"])
                    over_budget += "error" in row
                    rows.append(row)
                    done += 1
                    if progress:
                        progress(done, total, f"{conv.sample_id}: question {number}/{len(questions)}")
            _append_rows(results_path, rows)
        finally:
            if not keep:
                await memory.cleanup(conv)

    summary = _summary(scores, baseline_scores, samples, scored)
    summary["ingest_turns_per_s"] = round(ingest_turns / ingest_seconds, 1) if ingest_seconds > 0 else None
    summary["over_budget"] = over_budget
    _write_summary(results_path.parent / "summary.json", summary)
    return summary


def _prepare(data_path: str | Path, out_dir: str | Path) -> tuple[list[Sample], Path]:
    samples = load_locomo(data_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.jsonl"
    results_path.write_text("", encoding="utf-8")
    return samples, results_path


def _write_summary(path: Path, summary: dict[str, Any]) -> None:
    path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


async def _ask(
    memory: MemoryUnderTest, conv: Conversation, question: Question, budget: int, index: SourceIndex
) -> dict[str, Any]:
    started = time.perf_counter()
    items = await memory.context(conv, question.question, budget=budget, now=conv.last_date)
    latency_ms = (time.perf_counter() - started) * 1000
    sources = [item_sources(it, index) for it in items]
    tokens = [count_tokens(it.text) for it in items]
    used = sum(tokens)
    present = {dia_id for found in sources for dia_id in found}
    rendered = [
        {"kind": it.kind, "text": it.text, "sources": found, "tokens": n}
        for it, found, n in zip(items, sources, tokens, strict=True)
    ]
    row: dict[str, Any] = {
        "sample_id": conv.sample_id,
        "question": question.question,
        "category": question.category,
        "evidence": question.evidence,
        "budget": budget,
        "items": rendered,
        "latency_ms": round(latency_ms, 3),
        # A context over its budget scores nothing: the figure must not reward overflowing.
        "recall": recall(question.evidence, present) if used <= budget else 0.0,
    }
    if used > budget:
        row["error"] = f"over budget: {used} tokens > {budget}"
    return row


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
    scores: dict[int, _Scores],
    baselines: dict[str, dict[int, _Scores]],
    samples: Sequence[Sample],
    scored: Sequence[Sequence[Question]],
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
        "dropped_questions": sum(1 for s in samples for q in s.dropped if q.category in SCORED_CATEGORIES),
    }
