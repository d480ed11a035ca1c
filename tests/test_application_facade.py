"""The application facade: "pinned" listed in one place, notices of what turns changed, and faces that use it
instead of the stores, with no import cycle among them."""

from __future__ import annotations

import ast
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from assistant.application.facade import Assistant
from assistant.providers.fake import FakeChatModel
from assistant.runtime import Runtime
from memory.errors import InvalidInputError

ROOT = Path(__file__).resolve().parent.parent
FACES = ("assistant/web", "assistant/cli", "assistant/mcp")
# The MCP context block is the long-term tier's packer for other tools; it reads the context manager itself.
READS_THE_CONTEXT_MANAGER = {"assistant/mcp/context_block.py"}
BENCH_COMMAND = "assistant/cli/bench.py"  # benchmarks measure the layers themselves


STORES = {"pool", "redis", "short_term", "reports", "episodic"}
HOLDERS = {"runtime", "rt", "app", "assistant"}  # what faces call the runtime or the facade


def _holder(node: ast.expr) -> str | None:
    """The name an attribute is read from: ``runtime``, ``self.app``, ``state.assistant()``."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else None


def _face_files() -> list[Path]:
    return [p for face in FACES for p in sorted((ROOT / face).glob("*.py"))]


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


async def test_pinned_is_a_listing_kind_and_nothing_else(make_runtime: Callable[..., Runtime]) -> None:
    app = Assistant(make_runtime(FakeChatModel()))
    owner = await app.conversations.ensure_user("ann")
    await app.memories.remember(owner.id, "I am allergic to peanuts")
    await app.memories.remember(owner.id, "My sister lives in Oslo", pinned=False)
    assert [m.text for m in await app.list_memories(owner.id, kind="pinned")] == ["I am allergic to peanuts"]
    assert [m.text for m in await app.pinned(owner.id)] == ["I am allergic to peanuts"]
    assert {m.text for m in await app.list_memories(owner.id)} == {
        "I am allergic to peanuts",
        "My sister lives in Oslo",
    }
    with pytest.raises(InvalidInputError, match="episodic, semantic or pinned"):
        await app.list_memories(owner.id, kind="core")  # type: ignore[arg-type]


async def test_notices_are_the_changes_since_a_moment_not_undone_nor_announced(
    make_runtime: Callable[..., Runtime],
) -> None:
    app = Assistant(make_runtime(FakeChatModel()))
    owner = await app.conversations.ensure_user("ann")
    since = datetime.now(UTC)
    kept = await app.memories.remember(owner.id, "I work nights", reason="drawn from the chat")
    await app.memories.remember(owner.id, "I cycle to work", reason="told by a command")
    undone = await app.memories.remember(owner.id, "I hate mornings", reason="drawn from the chat")
    assert undone.event_id is not None
    await app.memories.undo(owner.id, undone.event_id)
    notices = await app.notices(owner.id, since, announced=lambda reason: reason == "told by a command")
    assert [(n.action, n.text, n.event_id) for n in notices] == [("add", "I work nights", kept.event_id)]
    assert await app.notices(owner.id, datetime.now(UTC)) == []


def test_faces_do_not_reach_into_the_stores() -> None:
    reaching = []
    for path in _face_files():
        name = str(path.relative_to(ROOT))
        if name in READS_THE_CONTEXT_MANAGER or name == BENCH_COMMAND:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Attribute):
                continue
            inner = node.value.attr if isinstance(node.value, ast.Attribute) else None
            if (node.attr in STORES and _holder(node.value) in HOLDERS) or (
                node.attr == "store" and inner == "memories"
            ):
                reaching.append(f"{name}:{node.lineno} .{node.attr}")
    assert reaching == []


def test_no_import_cycle_among_the_faces() -> None:
    files = {_module(p): p for p in _face_files()}
    imports: dict[str, set[str]] = {m: set() for m in files}
    for module, path in files.items():
        for node in ast.walk(ast.parse(path.read_text())):  # imports inside functions count too
            if isinstance(node, ast.ImportFrom) and node.module:
                names = {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
            elif isinstance(node, ast.Import):
                names = {a.name for a in node.names}
            else:
                continue
            imports[module] |= names & files.keys()

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(nxt == goal or reaches(nxt, goal, seen | {nxt}) for nxt in imports[start] - seen)

    assert [m for m in files if reaches(m, m, set())] == []
