"""Markdown for the chat: memories, search hits, context reports, thread statistics."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from assistant.context.citations import excerpt
from assistant.context.report import ContextReport, ReportItem
from assistant.context.tiers import recalled_tiers, report_titles
from assistant.providers.profile import profile_for
from memory.conversations import Message
from memory.long_term.overview import MemoryOverview, Section
from memory.long_term.records import MemoryRecord
from memory.long_term.search import SearchHit
from memory.long_term.service import Remembered

MESSAGE_TITLE = "Your message"


def tier_title(name: str) -> str:
    """A report's tier as titled for the user (the registry's titles; a tier no longer registered by its name)."""
    return MESSAGE_TITLE if name == "message" else report_titles().get(name, name)


def when(moment: datetime, tz: str | None) -> str:
    try:
        zone = ZoneInfo(tz) if tz else None
    except (KeyError, ValueError):
        zone = None
    local = moment.astimezone(zone) if zone else moment
    return local.strftime("%Y-%m-%d %H:%M")


def short(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def memory_line(memory: MemoryRecord, tz: str | None) -> str:
    marks = ["📌 pinned"] if memory.pinned else []
    marks.append(memory.origin_label)
    if not memory.current and memory.valid_to is not None:
        marks.append(f"superseded {when(memory.valid_to, tz)}")
    who = f"{'you' if memory.role == 'user' else memory.speaker or memory.role}: " if memory.kind == "episodic" else ""
    text = short(who + memory.text, 300)
    return f"- `{str(memory.id)[:8]}` {text} — *{', '.join(marks)}, {when(memory.said_at, tz)}*"


def _section(title: str, section: Section, tz: str | None, *, newest: bool = False) -> str:
    shown = "newest " if newest else ""
    count = f"{section.total}" if not section.more else f"{section.total}, {shown}{len(section.memories)} shown"
    lines = [memory_line(m, tz) for m in section.memories]
    if section.more:
        lines.append(f"- …and {section.more} more: `/recall <words>` finds them")
    return f"### {title} ({count})\n" + "\n".join(lines)


def memories(found: MemoryOverview, extraction: tuple[bool, str], tz: str | None) -> str:
    """The /memory listing: every kind of memory with its real count, an id per line, and where it came from."""
    extracting, why = extraction
    state = "on" if extracting else "off"
    parts = ["## What I know about you", f"Fact extraction from our conversations is **{state}**: {why}."]
    if found.empty:
        parts.append("Nothing stored yet. Tell me something with `/remember <text>`, or just chat.")
        return "\n\n".join(parts)
    for title, section in (
        ("Pinned (always in my context)", found.pinned),
        ("Facts (recalled when relevant)", found.facts),
        ("Superseded (kept as history)", found.superseded),
    ):
        if section.total:
            parts.append(_section(title, section, tz))
    if found.turns.total:
        turns = _section("Conversation turns (searchable, recalled when relevant)", found.turns, tz, newest=True)
        parts.append(turns)
    parts.append("Forget one with `/forget <id or words>`; change one with `/edit <id> <new text>`.")
    return "\n\n".join(parts)


def remembered(memory: Remembered) -> str:
    """What /remember answers: remembered, or already remembered and what the repeat changed."""
    text = short(memory.text, 200)
    if memory.created:
        return f"📌 Remembered: “{text}”"
    return f"📌 Already remembered (`{str(memory.id)[:8]}`, {memory.origin_label}): “{text}”; updated: " + (
        ", ".join(memory.changes) or "nothing new to add"
    )


def hits(query: str, found: Sequence[SearchHit], tz: str | None) -> str:
    if not found:
        return f"Nothing in memory matches “{short(query, 80)}”."
    lines = [f"## Memory matching “{short(query, 80)}”"]
    for hit in found:
        lines.append(f"{memory_line(hit.memory, tz)} (score {hit.score:.3f})")
    return "\n".join(lines)


def _item_source(item: ReportItem) -> str:
    """Where an item came from, in a reader's words (the ranking details stay in `/context`)."""
    if item.kind == "pinned":
        return "pinned memory"
    if item.kind == "document":
        return item.source or "document"
    if item.kind == "turn":
        return "an earlier conversation" if item.thread_id else "conversation"
    if item.kind == "memory":
        return "remembered fact"
    return item.kind


def item_text(item: ReportItem) -> str:
    """An item's text as a reader sees it: a document excerpt without the prompt's delimiters."""
    return excerpt(item.text) if item.kind == "document" else item.text


def recalled(report: ContextReport) -> str:
    """What the reply drew on, with scores and sources, then the token budget of each tier."""
    lines: list[str] = []
    recalled_names = recalled_tiers()
    for tier in report.tiers:
        if tier.name not in recalled_names:
            continue
        for item in tier.items:
            if item.kind in ("system", "message"):
                continue
            score = f"{item.score:.2f}" if item.score is not None else "—"
            lines.append(f"| {score} | {_escape(short(item_text(item), 140))} | {_escape(_item_source(item))} |")
    body = ["**Recalled**"]
    if report.long_term_off:
        body.append(f"\n🔕 Long-term memory was not used: {report.long_term_off} (pinned memories still are).")
    if lines:
        body += ["", "| score | memory | from |", "|---:|---|---|", *lines]
    else:
        body.append("\nNothing from long-term memory or documents was needed for this reply.")
    below = sum(t.below_floor for t in report.tiers)
    if below:
        body += ["", f"*{floor_note(below)}.*"]
    body += ["", budget_table(report)]
    return "\n".join(body)


def floor_note(count: int) -> str:
    return f"{count} item{'' if count == 1 else 's'} below the relevance floor left out"


def budget_table(report: ContextReport) -> str:
    rows = [
        f"| {tier_title(t.name)} | {t.used:,} | {t.budget:,} | {len(t.items)} | {len(t.dropped)} |"
        for t in report.tiers
    ]
    return "\n".join(
        [
            f"**Token budget** — {report.used:,} of {report.budget:,} input tokens used "
            f"(window {report.window:,}, {report.reserve:,} kept for the answer), "
            f"model `{profile_for(report.model).label}`",
            "",
            "| tier | used | budget | items | left out |",
            "|---|---:|---:|---:|---:|",
            *rows,
        ]
    )


def context_report(report: ContextReport, *, timings: bool = False) -> str:
    """The `/context` answer; how long each step took only with `/context --timings`."""
    parts = ["## Context of the last reply", budget_table(report)]
    if report.long_term_off:
        parts.append(f"🔕 Long-term memory was not used: {report.long_term_off} (pinned memories still are).")
    for tier in report.tiers:
        if tier.name == "message" or not (tier.items or tier.dropped or tier.below_floor):
            continue
        lines = [f"### {tier_title(tier.name)}"]
        for item in tier.items:
            score = f" (score {item.score:.2f})" if item.score is not None else ""
            lines.append(f"- *{item.kind}*{score}, {item.tokens} tokens: {short(item_text(item), 200)}")
        for item in tier.dropped:
            lines.append(f"- ~~{short(item.text, 120)}~~ — {item.reason}")
        if tier.below_floor:
            lines.append(f"- {floor_note(tier.below_floor)} (not related enough to your message)")
        parts.append("\n".join(lines))
    if report.truncated:
        parts.append(
            f"Your message was cut to {report.truncated.sent_tokens:,} of {report.truncated.original_tokens:,} tokens."
        )
    steps = ", ".join(f"{k.replace('_', ' ')} {v:,.0f} ms" for k, v in report.timings_ms.items())
    if timings and steps:
        parts.append(f"Time each step took: {steps}")
    elif steps:
        parts.append("*`/context --timings` also shows how long each step took.*")
    return "\n\n".join(parts)


def stats(messages: Sequence[Message]) -> str:
    replies = [m for m in messages if m.role == "assistant"]
    if not replies:
        return "No replies in this conversation yet."

    def total(key: str) -> float:
        return sum(float((m.usage or {}).get(key) or 0) for m in replies)

    stopped = sum(1 for m in replies if m.status == "partial")
    latencies = sorted(m.latency_ms for m in replies if m.latency_ms is not None)
    cost = total("cost_usd")
    lines = [
        "## This conversation",
        f"- messages: {len(messages)} ({len(messages) - len(replies)} from you, "
        f"{count(len(replies), 'reply', 'replies')}" + (f", {stopped} stopped" if stopped else "") + ")",
        f"- tokens: {int(total('prompt_tokens')):,} in, {int(total('completion_tokens')):,} out",
        f"- cost: ${cost:.4f}" if cost else "- cost: $0 (local or free model)",
    ]
    if latencies:
        median = latencies[len(latencies) // 2]
        lines.append(f"- reply time: median {median / 1000:.2f} s, slowest {latencies[-1] / 1000:.2f} s")
    models = sorted({m.model for m in replies if m.model})
    if models:
        lines.append(f"- model(s): {', '.join(profile_for(m).label for m in models)}")
    return "\n".join(lines)


def summary(content: str | None, covered: int = 0, total: int = 0) -> str:
    """The `/summary` answer; ``covered`` of the thread's ``total`` messages (counted from 1) went into it."""
    if not content:
        return "This conversation has no summary yet: it is written once older turns leave the recent window."
    span = f"message 1 of {total}" if covered == 1 else f"messages 1-{covered} of {total}"
    return f"## Summary of this conversation\n\n{content}\n\n*(covers {span}; the newer ones are kept word for word)*"


def count(number: int, noun: str, plural: str | None = None) -> str:
    """``1 memory``, ``3 memories``: a number with its noun in the right form."""
    return f"{number:,} {noun if number == 1 else plural or noun + 's'}"


def size(size_bytes: int) -> str:
    """A file size as people read it: 336 bytes, 12 KB, 3.4 MB."""
    if size_bytes < 1024:
        return count(size_bytes, "byte")
    if size_bytes < 1024 * 1024:
        return f"{size_bytes / 1024:.0f} KB"
    return f"{size_bytes / 1024 / 1024:.1f} MB"


def report_of(data: dict[str, Any] | None) -> ContextReport | None:
    return ContextReport.model_validate(data) if data else None
