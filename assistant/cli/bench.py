"""`assistant bench ...`: benchmark commands that print figures."""

from __future__ import annotations

import typer
from rich.table import Table

from assistant.bench.context import run_context_bench
from assistant.cli.common import JSON_OPTION, console, print_json, run, settings

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
