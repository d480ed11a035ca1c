"""Tables the system benchmarks print (`bench scale`, its HNSW comparison, `bench load --url`)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from assistant.cli.common import console, err_console


def scale_table(result: dict[str, Any]) -> None:
    sizes = result["sizes"]
    table = Table(
        "memories",
        *(f"{int(size):,}" for size in sizes),
        title=f"{result['users']} user(s), {result['embedder']}, {result['sentences']} sentences, "
        f"hnsw.ef_search {result['ef_search']}, iterative scan {result['iterative_scan']}",
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


def hnsw_table(result: dict[str, Any]) -> None:
    table = Table(
        "index",
        "build s",
        "MB",
        *(f"ef_search {ef}: recall@10 / p95 ms" for ef in result["hnsw_settings"][0]["ef_search"]),
        title=f"HNSW settings at {int(list(result['sizes'])[-1]):,} memories, {result['users']} user(s)",
    )
    for row in result["hnsw_settings"]:
        table.add_row(
            f"m={row['m']} ef_construction={row['ef_construction']} {'halfvec' if row['halfvec'] else 'vector'}",
            f"{row['build_s']:.1f}",
            f"{row['index_mb']:.0f}",
            *(f"{one['recall_at_10']:.3f} / {one['query_ms']['p95']:.1f}" for one in row["ef_search"].values()),
        )
    console.print(table)


def remote_load_table(result: dict[str, Any], with_pids: bool) -> None:
    table = Table("url", "turns", "errors", "turns/s", "added p50 ms", "added p95 ms", "server CPU s/turn (net)")
    for row in result["runs"]:
        cpu, net = row["cpu_s_per_turn"], row["net_cpu_s_per_turn"]
        table.add_row(
            row["url"],
            str(row["turns"]),
            str(row["errors"]),
            f"{row['turns_per_s']:.2f}",
            f"{row['added_ms']['p50']:.1f}",
            f"{row['added_ms']['p95']:.1f}",
            f"{cpu:.3f} ({net:.3f})" if cpu is not None else "-",
        )
        for sample in row["error_samples"]:
            err_console.print(f"[red]error:[/red] {sample}", highlight=False)
    console.print(table)
    if with_pids:
        console.print(f"servers idle: {result['idle_cpu_s_per_s']:.3f} CPU-s/s, left out of the net cost per turn")
    if "throughput_ratio" in result:
        console.print(f"last / first: turns/s x{result['throughput_ratio']:.2f}, p95 x{result['p95_ratio'] or 0:.2f}")
