"""The LoCoMo evidence-recall benchmark: how much of a question's evidence a memory puts in a token budget."""

from assistant.bench.locomo.dataset import Conversation, Question, Sample, Session, Turn, load_locomo, parse_date
from assistant.bench.locomo.runner import ContextItem, MemoryUnderTest, Progress, run_locomo

__all__ = [
    "ContextItem",
    "Conversation",
    "MemoryUnderTest",
    "Progress",
    "Question",
    "Sample",
    "Session",
    "Turn",
    "load_locomo",
    "parse_date",
    "run_locomo",
]
