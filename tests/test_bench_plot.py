"""`assistant bench plot` draws the report's charts from the benchmarks' JSON outputs."""

import json
from pathlib import Path

from typer.testing import CliRunner

from assistant.cli.main import app

runner = CliRunner()
PNG = b"\x89PNG\r\n\x1a\n"


def _figures(p50: float) -> dict[str, float]:
    return {"p50": p50, "p95": p50 * 1.5, "p99": p50 * 2, "mean": p50}


def _results(root: Path) -> None:
    (root / "locomo").mkdir(parents=True)
    by_budget = {str(b): {"recall": r, "by_category": {}} for b, r in ((500, 0.7), (2000, 0.9))}
    summary = {
        "budgets": by_budget,
        "baselines": {"recency": by_budget, "bm25": by_budget},
        "ingest_turns_per_s": 10.0,
        "questions": 3,
    }
    (root / "locomo" / "summary.json").write_text(json.dumps(summary))
    run = {
        "users": 1,
        "sizes": {str(n): {"retrieval_ms": _figures(n / 1000), "assembly_ms": _figures(n / 500)} for n in (100, 1000)},
    }
    (root / "scale.json").write_text(json.dumps({"benchmark": "scale", "runs": [run, {**run, "users": 10}]}))
    load = {"users": 100, "added_ms": _figures(20), "ramp": [{"users": 10, "added_ms": _figures(5)}]}
    (root / "load.json").write_text(json.dumps(load))


def test_plot_draws_every_chart(tmp_path: Path) -> None:
    _results(tmp_path / "results")
    out = tmp_path / "img"
    result = runner.invoke(app, ["bench", "plot", "--from", str(tmp_path / "results"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["load-latency.png", "locomo-recall.png", "scale-latency.png"]
    assert all(p.read_bytes().startswith(PNG) for p in out.iterdir())


def test_plot_draws_what_it_is_given_and_explains_what_it_cannot(tmp_path: Path) -> None:
    _results(tmp_path / "results")
    only = runner.invoke(
        app,
        [
            "bench",
            "plot",
            "--from",
            str(tmp_path),
            "--scale",
            str(tmp_path / "results" / "scale.json"),
            "--out",
            str(tmp_path / "img"),
        ],
    )
    assert only.exit_code == 0, only.output
    assert [p.name for p in (tmp_path / "img").iterdir()] == ["scale-latency.png"]
    nothing = runner.invoke(app, ["bench", "plot", "--from", str(tmp_path / "empty"), "--out", str(tmp_path / "x")])
    assert nothing.exit_code == 1 and "no benchmark results" in nothing.stderr
    (tmp_path / "bad.json").write_text("[1]")
    bad = runner.invoke(app, ["bench", "plot", "--locomo", str(tmp_path / "bad.json"), "--out", str(tmp_path / "x")])
    assert bad.exit_code == 1 and "bad.json" in bad.stderr
