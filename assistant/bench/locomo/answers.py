"""Answers from the packed context, scored with token F1 and an LLM judge (as published LoCoMo comparisons do)."""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from assistant.bench.locomo.dataset import SCORED_CATEGORIES
from assistant.prompts import load_prompt
from assistant.providers.base import ChatMessage, ChatModel
from memory.errors import ProviderError

ANSWER_TOKENS = 64
JUDGE_TOKENS = 200
_ARTICLES = re.compile(r"\b(a|an|the|and)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)
_LABEL = re.compile(r"\b(CORRECT|WRONG)\b")


def normalize(text: str) -> list[str]:
    """Lower-cased words without punctuation or articles (SQuAD-style answer normalization)."""
    return _ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION)).split()


def token_f1(prediction: str, gold: str) -> float:
    """Harmonic mean of token precision and recall between the normalized answers."""
    predicted, wanted = normalize(prediction), normalize(gold)
    if not predicted or not wanted:
        return float(predicted == wanted)
    common = sum((Counter(predicted) & Counter(wanted)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(wanted)
    return 2 * precision * recall / (precision + recall)


def judge_label(reply: str) -> bool:
    """True for CORRECT: the JSON ``label`` when there is one, else the last CORRECT/WRONG in the text."""
    match = re.search(r"\{.*\}", reply, re.S)
    if match:
        try:
            label = json.loads(match.group(0)).get("label")
        except (ValueError, AttributeError):
            label = None
        if isinstance(label, str):
            return label.strip().upper() == "CORRECT"
    labels = _LABEL.findall(reply.upper())
    return bool(labels) and labels[-1] == "CORRECT"


class Answerer:
    """Asks the answer model with the packed context, then the judge model to grade the answer."""

    def __init__(self, model: ChatModel, judge: ChatModel, prompts_dir: Path) -> None:
        self.model = model
        self.judge = judge
        self.answer_prompt = load_prompt(prompts_dir, "locomo_answer")
        self.judge_prompt = load_prompt(prompts_dir, "locomo_judge")

    async def check(self) -> None:
        """One tiny call to each model, so a missing key or unknown model fails before hours of ingestion."""
        for model in dict.fromkeys((self.model, self.judge)):
            try:
                await model.complete([ChatMessage("user", "Reply with OK.")], max_tokens=5)
            except ProviderError as exc:
                raise ProviderError(f"the answer/judge model {model.name} cannot be used: {exc}") from exc

    async def answer(self, question: str, context: Sequence[str], now: datetime | None) -> str:
        memories = "\n".join(context) or "(no memories)"
        today = f"Today is {now:%d %B %Y}.\n\n" if now else ""
        prompt = f"{today}Memories:\n{memories}\n\nQuestion: {question}\nShort answer:"
        reply = await self.model.complete(
            [ChatMessage("system", self.answer_prompt), ChatMessage("user", prompt)], max_tokens=ANSWER_TOKENS
        )
        return reply.text.strip()

    async def grade(self, question: str, gold: str, prediction: str) -> bool:
        prompt = f"Question: {question}\nGold answer: {gold}\nAnswer to grade: {prediction}"
        reply = await self.judge.complete(
            [ChatMessage("system", self.judge_prompt), ChatMessage("user", prompt)], max_tokens=JUDGE_TOKENS
        )
        return judge_label(reply.text)

    async def score(
        self, question: str, gold: str, context: Sequence[str], now: datetime | None
    ) -> tuple[str, float, bool | None, str | None]:
        """The prediction, its F1, the judge's verdict; a provider failure is kept as an error, not raised."""
        try:
            prediction = await self.answer(question, context, now)
        except ProviderError as exc:
            return "", 0.0, None, f"answer: {exc}"
        f1 = token_f1(prediction, gold)
        try:
            correct = await self.grade(question, gold, prediction)
        except ProviderError as exc:
            return prediction, f1, None, f"judge: {exc}"
        return prediction, f1, correct, None


@dataclass
class AnswerScores:
    """F1 and judge verdicts for one budget, overall and per category."""

    f1: dict[int, list[float]] = field(default_factory=dict)
    judged: dict[int, list[bool]] = field(default_factory=dict)
    errors: int = 0

    def add(self, category: int, f1: float, correct: bool | None) -> None:
        self.f1.setdefault(category, []).append(f1)
        if correct is None:
            self.errors += 1
        else:
            self.judged.setdefault(category, []).append(correct)

    def figures(self) -> dict[str, Any]:
        def mean(values: Sequence[float]) -> float | None:
            return round(sum(values) / len(values), 4) if values else None

        every_f1 = [v for values in self.f1.values() for v in values]
        every_verdict = [float(v) for values in self.judged.values() for v in values]
        return {
            "judge_accuracy": mean(every_verdict),
            "f1": mean(every_f1),
            "by_category": {
                str(c): {
                    "judge_accuracy": mean([float(v) for v in self.judged.get(c, [])]),
                    "f1": mean(self.f1.get(c, [])),
                }
                for c in SCORED_CATEGORIES
            },
            "answered": len(every_f1),
            "errors": self.errors,
        }
