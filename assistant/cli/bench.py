"""`assistant bench ...`: benchmark commands that print figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from assistant.bench.context import run_context_bench
from assistant.bench.scale import run_scale_bench
from assistant.cli.common import JSON_OPTION, console, err_console, print_json, run, settings

bench_app = typer.Typer(help="Benchmarks that print figures.", no_args_is_help=True)


@bench_app.command("context")
def bench_context(
    turns: int = typer.Option(200, "--turns", "-n", min=1, help="Turns to chat."),
    window: int = typer.Option(None, "--window", min=1024, help="Model input window (default 8192)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Context assembly time per turn (fake model, model call excluded), p50/p95/p99.

    Example: assistant bench context --turns 300 --window 8192 --json
    """
    result = run(run_context_bench(settings(), turns=turns, window=window))
    if as_json:
        print_json(result)
        return
    table = Table("figure", "p50 ms", "p95 ms", "p99 ms", "mean ms", title=f"{turns} turns, window {result['window']}")
    for name in ("context_assembly_ms", "turn_without_model_ms"):
        row = result[name]
        table.add_row(name, *(str(row[k]) for k in ("p50", "p95", "p99", "mean")))
    console.print(table)


@bench_app.command("scale")
def bench_scale(
    memories: list[int] = typer.Option([10000, 100000], "--memories", "-m", min=2, help="Sizes (repeatable)."),
    queries: int = typer.Option(200, "--queries", "-n", min=1, help="Queries timed at each size."),
    users: int = typer.Option(1, "--users", min=1, help="Spread the memories over this many users."),
    sentences: int = typer.Option(4000, "--sentences", min=2, help="Distinct sentences to embed and compose from."),
    keep: bool = typer.Option(False, "--keep", help="Keep the benchmark users afterwards."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Long-term retrieval and context assembly as memories grow, p50/p95/p99, and HNSW recall@10.

    Example: assistant bench scale --memories 10000 --memories 100000 --queries 200 --json
    """
    result = run(_scale(memories, queries, users, sentences, keep))
    if as_json:
        print_json(result)
        return
    sizes = result["sizes"]
    table = Table(
        "memories",
        *(f"{int(size):,}" for size in sizes),
        title=f"{result['embedder']}, {result['sentences']} sentences, hnsw.ef_search {result['ef_search']}, "
        f"iterative scan {result['iterative_scan']}",
    )

    def spread(row: dict[str, float]) -> str:
        return "/".join(f"{row[k]:.1f}" for k in ("p50", "p95", "p99"))

    table.add_row("insert/s", *(f"{row['insert_per_s']:.0f}" for row in sizes.values()))
    table.add_row("retrieval ms p50/p95/p99", *(spread(row["retrieval_ms"]) for row in sizes.values()))
    table.add_row("  query embedding ms", *(spread(row["embedding_ms"]) for row in sizes.values()))
    table.add_row("assembly ms p50/p95/p99", *(spread(row["assembly_ms"]) for row in sizes.values()))
    table.add_row(
        "HNSW recall@10",
        *(f"{row['hnsw_recall_at_10']:.3f}" + ("" if row["hnsw_used"] else " (exact)") for row in sizes.values()),
    )
    console.print(table)
    phases = ", ".join(f"{name} {seconds:.1f}" for name, seconds in result["phases_s"].items())
    console.print(f"HNSW index build {result['index_build_s']:.1f} s; phases (s): {phases}")


async def _scale(sizes: list[int], queries: int, users: int, sentences: int, keep: bool) -> Any:
    # Progress stays on with --json too: it goes to stderr, and a full run takes many minutes.
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
    ) as bar:
        task = bar.add_task("scale", total=None)

        def progress(label: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=label)

        return await run_scale_bench(
            settings(), sizes=sizes, queries=queries, users=users, sentences=sentences, keep=keep, progress=progress
        )


@bench_app.command("ingest")
def bench_ingest(
    turns: int = typer.Option(1000, "--turns", "-n", min=32, help="Turns to embed and store."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Episodic memory ingestion rate beside the embedder's own batch rate (the store's overhead).

    Example: assistant bench ingest --turns 2000 --json
    """
    from assistant.bench.ingest import run_ingest_bench

    result = run(run_ingest_bench(settings(), turns=turns))
    if as_json:
        print_json(result)
        return
    console.print(
        f"{result['embedder']}: embedder alone {result['embedder_passages_per_s']} passages/s; "
        f"embed + store {result['episodic_turns_per_s']} turns/s; store overhead {result['store_overhead_pct']}%"
    )


@bench_app.command("locomo")
def bench_locomo(
    data: Path = typer.Argument(..., exists=True, dir_okay=False, help="A LoCoMo-format JSON file."),
    budget: list[int] = typer.Option([500, 1000, 2000, 4000], "--budget", "-b", help="Token budgets (repeatable)."),
    out: Path = typer.Option(Path("bench-results/locomo"), "--out", help="Where results.jsonl and summary.json go."),
    keep: bool = typer.Option(False, "--keep", help="Keep the benchmark users afterwards."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Evidence recall of the long-term tier on LoCoMo at token budgets, beside the recency and BM25 baselines.

    Example: assistant bench locomo ../shared/bench/locomo/locomo-dev.json --budget 500 --budget 2000 --out /tmp/loc
    """
    result = run(_locomo(data, budget, out, keep, quiet=as_json))
    if as_json:
        print_json(result)
        return
    table = Table("budget", "recall", "cat 1", "cat 2", "cat 3", "cat 4", "recency", "bm25", "tokens", "p95 ms")
    for key, row in result["budgets"].items():
        cats = [row["by_category"].get(c) for c in ("1", "2", "3", "4")]
        table.add_row(
            key,
            f"{row['recall']:.3f}",
            *(f"{c:.3f}" if c is not None else "-" for c in cats),
            f"{result['baselines']['recency'][key]['recall']:.3f}",
            f"{result['baselines']['bm25'][key]['recall']:.3f}",
            f"{row['tokens_mean']:.0f}",
            f"{row['latency_ms_p95']:.1f}",
        )
    console.print(table)
    console.print(f"{result['questions']} questions; ingestion {result['ingest_turns_per_s']:.1f} turns/s; {out}")


async def _locomo(data: Path, budgets: list[int], out: Path, keep: bool, *, quiet: bool) -> dict[str, Any]:
    from assistant.bench.locomo.project_memory import ProjectMemory
    from assistant.bench.locomo.runner import run_locomo
    from assistant.runtime import Runtime

    config = settings().model_copy(update={"model": "fake"})
    runtime = await Runtime.start(config)
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            disable=quiet,
        ) as bar:
            task = bar.add_task("LoCoMo", total=None)

            def progress(done: int, total: int, label: str) -> None:
                bar.update(task, completed=done, total=total, description=label[:40])

            return await run_locomo(data, ProjectMemory(runtime), budgets, out, keep=keep, progress=progress)
    finally:
        await runtime.close()
