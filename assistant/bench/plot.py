"""`assistant bench plot`: PNG charts for docs/benchmarks.md from the benchmarks' JSON outputs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memory.errors import InvalidInputError

RECALL_PNG = "locomo-recall.png"
SCALE_PNG = "scale-latency.png"
LOAD_PNG = "load-latency.png"
TARGETS_MS = {"retrieval": 40.0, "assembly": 60.0}
LOAD_TARGET_MS = 100.0


@dataclass(frozen=True)
class Inputs:
    """Where each benchmark's JSON is; a missing one is simply not drawn."""

    locomo: Path | None
    scale: Path | None
    load: Path | None

    @classmethod
    def in_directory(cls, root: Path) -> Inputs:
        """The layout the documented commands write: locomo/summary.json, scale.json, load.json."""

        def found(path: Path) -> Path | None:
            return path if path.is_file() else None

        return cls(found(root / "locomo" / "summary.json"), found(root / "scale.json"), found(root / "load.json"))


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"{path} cannot be read as a benchmark's JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInputError(f"{path} is not a benchmark's JSON object")
    return data


def draw(inputs: Inputs, out_dir: Path) -> list[Path]:
    """Draw every chart there is data for into ``out_dir``; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    if not any((inputs.locomo, inputs.scale, inputs.load)):
        raise InvalidInputError("no benchmark results to plot (expected locomo/summary.json, scale.json or load.json)")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    if inputs.locomo:
        summary = _read(inputs.locomo)
        run = inputs.locomo.parent / "run.json"
        if "machine" not in summary and run.is_file():
            summary["machine"] = _read(run).get("machine")
        written.append(recall_chart(summary, out_dir / RECALL_PNG))
    if inputs.scale:
        written.append(scale_chart(_read(inputs.scale), out_dir / SCALE_PNG))
    if inputs.load:
        written.append(load_chart(_read(inputs.load), out_dir / LOAD_PNG))
    return written


def recall_chart(summary: dict[str, Any], path: Path) -> Path:
    """LoCoMo evidence recall against the token budget: the project and the two baselines."""
    import matplotlib.pyplot as plt

    try:
        budgets = sorted(int(b) for b in summary["budgets"])
        series = {"this project (long-term tier)": summary["budgets"]}
        series.update({f"baseline: {name}": by for name, by in summary["baselines"].items()})
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInputError(f"not a bench locomo summary.json: missing {exc}") from exc
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for (label, by_budget), marker in zip(series.items(), "osd^v", strict=False):
        values = [by_budget.get(str(b), {}).get("recall") for b in budgets]
        axes.plot(budgets, values, marker=marker, label=label)
    axes.set_xscale("log", base=2)
    axes.set_xticks(budgets, [f"{b:,}" for b in budgets])
    axes.set_ylim(0, 1)
    axes.set_xlabel("context budget (gpt-4o-mini tokens)")
    axes.set_ylabel("evidence recall")
    axes.set_title(f"LoCoMo evidence recall at a token budget ({summary.get('questions', '?')} questions)")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="center right")
    return _save(figure, path, summary.get("machine"))


def scale_chart(result: dict[str, Any], path: Path) -> Path:
    """Retrieval and context-assembly p50/p95 against the number of memories, one line per user count."""
    import matplotlib.pyplot as plt

    runs = result.get("runs") or [result]  # a suite, or one run of run_scale_bench
    figure, axes = plt.subplots(figsize=(7, 4.5))
    try:
        for run in runs:
            sizes = sorted(int(size) for size in run["sizes"])
            who = "1 user" if run["users"] == 1 else f"{run['users']} users"
            for figure_name, style in (("retrieval", "-"), ("assembly", "--")):
                rows = [run["sizes"][str(size)][f"{figure_name}_ms"] for size in sizes]
                axes.plot(sizes, [r["p95"] for r in rows], style, marker="o", label=f"{figure_name} p95, {who}")
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInputError(f"not a bench scale result: missing {exc}") from exc
    for name, target in TARGETS_MS.items():
        axes.axhline(target, color="grey", linestyle=":", linewidth=1)
        axes.annotate(f"{name} target {target:.0f} ms", (0.01, target), xycoords=("axes fraction", "data"), fontsize=8)
    every_size = sorted({int(size) for run in runs for size in run["sizes"]})
    _plain_log_ticks(axes, every_size)
    axes.set_ylim(bottom=0)
    axes.set_xlabel("memories stored")
    axes.set_ylabel("latency (ms), query embedding included")
    axes.set_title("Long-term retrieval and full context assembly as memories grow")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    return _save(figure, path, result.get("machine"))


def load_chart(result: dict[str, Any], path: Path) -> Path:
    """p50/p95 added latency against concurrent users (the main run and any --find-max ramp)."""
    import matplotlib.pyplot as plt

    try:
        levels = sorted([result, *result.get("ramp", [])], key=lambda level: int(level["users"]))
        users = [int(level["users"]) for level in levels]
        p50 = [level["added_ms"]["p50"] for level in levels]
        p95 = [level["added_ms"]["p95"] for level in levels]
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInputError(f"not a bench load result: missing {exc}") from exc
    target = float(result.get("target_p95_ms", LOAD_TARGET_MS))
    figure, axes = plt.subplots(figsize=(7, 4.5))
    axes.plot(users, p50, marker="o", label="added latency p50")
    axes.plot(users, p95, marker="s", label="added latency p95")
    axes.axhline(target, color="grey", linestyle=":", linewidth=1, label=f"target p95 {target:.0f} ms")
    _plain_log_ticks(axes, users)
    axes.set_ylim(bottom=0)
    axes.set_xlabel("concurrent users")
    axes.set_ylabel("latency added to the model's own (ms)")
    axes.set_title("Concurrent users through the full turn pipeline")
    axes.grid(True, alpha=0.3)
    axes.legend()
    return _save(figure, path, result.get("machine"))


def _plain_log_ticks(axes: Any, values: list[int]) -> None:
    """A log axis labelled at the measured values only (10,000 rather than 10^4)."""
    from matplotlib.ticker import NullLocator

    axes.set_xscale("log")
    axes.xaxis.set_minor_locator(NullLocator())
    axes.set_xticks(values, [f"{v:,}" for v in values])


def _save(figure: Any, path: Path, measured_on: str | None = None) -> Path:
    import matplotlib.pyplot as plt

    if measured_on:
        figure.text(0.01, 0.005, f"measured on: {measured_on}", fontsize=7, color="grey")
    figure.tight_layout(rect=(0, 0.03 if measured_on else 0, 1, 1))
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
