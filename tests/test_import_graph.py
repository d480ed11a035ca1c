"""The project's imports form layers: no module imports itself round a cycle, and memory/ stays at the bottom.

Imports are read with ``ast`` (nothing is imported). Imports inside functions count as much as those at the top of
a module: a lazy import only moves a cycle to run time. Imports under ``if TYPE_CHECKING:`` do not count: they are
for the type checker and never run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("assistant", "memory")
# The layers, top to bottom: a package may import its own layer and those below it, never one above.
LAYERS = (
    ("assistant.web", "assistant.cli", "assistant.mcp", "assistant.bench"),
    ("assistant.runtime", "assistant.pipeline"),
    ("assistant.context",),
    ("assistant.providers",),
    ("memory",),
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(tree: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    """Every module name an import statement in ``tree`` names (outside ``if TYPE_CHECKING:`` blocks)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from (name for child in node.orelse for name in _imported(child, module, is_package))
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)  # ``from package import module``
        yield from _imported(node, module, is_package)


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        names = _imported(tree, module, path.name == "__init__.py")
        graph[module] = {name for name in names if name in files and name != module}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle for each strongly connected group of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def _layer(module: str) -> int | None:
    for depth, packages in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in packages):
            return depth
    return None


def _top_level_names(tree: ast.AST, module: str) -> set[str]:
    return {name.split(".")[0] for name in _imported(tree, module, False)}


def test_no_module_imports_itself_round_a_cycle() -> None:
    assert _cycles(_graph()) == []


def test_packages_import_only_their_own_layer_and_those_below() -> None:
    upward = [
        f"{module} -> {target}"
        for module, targets in _graph().items()
        for target in sorted(targets)
        if (mine := _layer(module)) is not None and (theirs := _layer(target)) is not None and theirs < mine
    ]
    assert upward == []


def test_memory_never_imports_the_assistant_or_chainlit() -> None:
    found = []
    for path in (ROOT / "memory").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found += [f"{path.relative_to(ROOT)}: {name}" for name in _top_level_names(tree, _module_name(path))]
    assert [line for line in found if line.endswith((": assistant", ": chainlit"))] == []


def test_the_graph_sees_imports_inside_functions_and_from_packages() -> None:
    graph = _graph()
    assert "assistant.providers.litellm_model" in graph["assistant.providers.factory"]  # inside a function
    assert "assistant.providers.local_spec" in graph["assistant.providers.local_server"]  # from a package
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
