"""`assistant bench ...`: benchmark commands that print figures."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from assistant.cli.bench_tables import hnsw_table, remote_load_table, scale_table
from assistant.cli.common import JSON_OPTION, console, err_console, fail, print_json, run, settings
from assistant.cli.docs import bench_docs
from memory.errors import AssistantError, InvalidInputError, describe

T = TypeVar("T")

bench_app = typer.Typer(help="Benchmarks that print figures.", no_args_is_help=True)
bench_app.command("docs")(bench_docs)


@bench_app.command("context")
def bench_context(
    turns: int = typer.Option(200, "--turns", "-n", min=1, help="Turns to chat."),
    window: int = typer.Option(None, "--window", min=1024, help="Model input window (default 8192)."),
    out: Path = typer.Option(None, "--out", help="Also write the JSON result to this file."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Context assembly time per turn (fake model, model call excluded), p50/p95/p99.

    Example: assistant bench context --turns 300 --window 8192 --json
    """
    from assistant.bench.context import run_context_bench

    result = run(run_context_bench(settings(), turns=turns, window=window))
    _write_out(out, result)
    if as_json:
        print_json(result)
        return
    table = Table("figure", "p50 ms", "p95 ms", "p99 ms", "mean ms", title=f"{turns} turns, window {result['window']}")
    for name in ("context_assembly_ms", "turn_without_model_ms"):
        row = result[name]
        table.add_row(name, *(str(row[k]) for k in ("p50", "p95", "p99", "mean")))
    console.print(table)


@bench_app.command("local")
def bench_local(
    rounds: int = typer.Option(1, "--rounds", "-n", min=1, help="Ask the prompts this many times, a new user each."),
    out: Path = typer.Option(None, "--out", help="Also write the JSON result to this file."),
    as_json: bool = JSON_OPTION,
) -> None:
    """The offline default model on fixed prompts: tokens, time to first token, total time, how each reply ended.

    The prompts go through the real turn pipeline, one conversation of a new throwaway user per round.

    Example: assistant bench local --rounds 3 --json
    """
    from assistant.bench.local import run_local_bench

    result = run(run_local_bench(settings(), rounds=rounds))
    _write_out(out, result)
    if as_json:
        print_json(result)
        return
    rounds_shown = result["rounds"] > 1
    table = Table(
        *(["round"] if rounds_shown else []),
        "prompt",
        "tokens",
        "first token s",
        "total s",
        "ended",
        "reply",
        title=(f"{result['model']}, answer limit {result['answer_tokens']} tokens, started in {result['start_s']} s"),
    )
    for row in result["prompts"]:
        reply = " ".join(str(row["reply"]).split())
        table.add_row(
            *([str(row["round"])] if rounds_shown else []),
            row["prompt"],
            str(row["tokens"]),
            str(row["first_token_s"]),
            str(row["total_s"]),
            str(row["ended"]),
            reply[:80] + ("…" if len(reply) > 80 else ""),
        )
    console.print(table)
    console.print("ended: " + ", ".join(f"{how} {n}" for how, n in result["ended"].items()))


@bench_app.command("scale")
def bench_scale(
    memories: list[int] = typer.Option([10000, 100000], "--memories", "-m", min=2, help="Sizes (repeatable)."),
    queries: int = typer.Option(200, "--queries", "-n", min=1, help="Queries timed at each size."),
    users: list[int] = typer.Option(
        [1, 100], "--users", min=1, help="Spread the memories over this many users (repeatable: one run each)."
    ),
    sentences: int = typer.Option(4000, "--sentences", min=2, help="Distinct sentences to embed and compose from."),
    keep: bool = typer.Option(False, "--keep", help="Keep the benchmark users afterwards."),
    hnsw: list[str] = typer.Option(
        [], "--hnsw", help="Also compare this HNSW index, M:EF_CONSTRUCTION (repeatable), at the largest size."
    ),
    ef_search: list[int] = typer.Option(
        [40, 100, 200], "--ef-search", min=1, help="hnsw.ef_search values tried with each --hnsw (repeatable)."
    ),
    halfvec: bool = typer.Option(False, "--halfvec", help="Each --hnsw also as a half-precision (halfvec) index."),
    bulk: bool = typer.Option(
        False, "--bulk", help="Load each size with the vector index dropped, then build it once (as an import would)."
    ),
    index_memory: str = typer.Option(
        None, "--index-memory", help="maintenance_work_mem for the index builds, e.g. 2GB (default: the server's)."
    ),
    out: Path = typer.Option(None, "--out", help="Also write the JSON result to this file (for bench plot)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Long-term retrieval and context assembly as memories grow, p50/p95/p99, and HNSW recall@10.

    Runs once with all memories in one user and once spread over many users (--users 1 --users 100).
    --hnsw 16:64 --hnsw 32:128 --halfvec also builds those indexes over the largest size and reports build time,
    size, recall@10 and query latency at each --ef-search.

    --bulk loads with the vector index dropped and times one build per size; give the build memory
    (--index-memory 2GB) so a large graph is built in memory rather than on disk.

    Example: assistant bench scale --memories 10000 --memories 100000 --out bench-results/scale.json
    """
    from assistant.bench.hnsw import parse_settings
    from assistant.bench.scale import run_scale_suite

    if any(size < count for size in memories for count in users):
        fail("every --memories size needs at least one memory per user")
    if halfvec and not hnsw:
        fail("--halfvec needs at least one --hnsw M:EF_CONSTRUCTION")
    if index_memory is not None and not re.fullmatch(r"[1-9][0-9]*(kB|MB|GB)", index_memory):
        fail(f"--index-memory {index_memory!r}: give a size such as 512MB or 2GB")
    try:
        settings_tried = parse_settings(hnsw, halfvec=halfvec)
    except AssistantError as exc:
        fail(describe(exc))
    result = run(
        _with_progress(
            "scale",
            lambda progress: run_scale_suite(
                settings(),
                sizes=memories,
                users=users,
                queries=queries,
                sentences=sentences,
                keep=keep,
                hnsw=settings_tried,
                ef_searches=ef_search,
                bulk=bulk,
                index_memory=index_memory,
                progress=progress,
            ),
        )
    )
    _write_out(out, result)
    if as_json:
        print_json(result)
        return
    for one in result["runs"]:
        scale_table(one)
        if one.get("hnsw_settings"):
            hnsw_table(one)


@bench_app.command("queue")
def bench_queue(
    messages: int = typer.Option(500, "--messages", "-m", min=10, help="Messages stored (every other one with a job)."),
    concurrency: int = typer.Option(16, "--concurrency", "-c", min=1, help="Jobs the one worker runs at once."),
    out: Path = typer.Option(None, "--out", help="Also write the JSON result to this file."),
    as_json: bool = JSON_OPTION,
) -> None:
    """The job queue: time a message's jobs add to storing it, jobs/s through one worker, takeover of a dead one's.

    Example: assistant bench queue --messages 1000 --json
    """
    from assistant.bench.queue import run_queue_bench

    result = run(run_queue_bench(settings(), messages=messages, concurrency=concurrency))
    _write_out(out, result)
    if as_json:
        print_json(result)
        return
    store, with_job = result["store_ms"]["p50"], result["store_with_job_ms"]["p50"]
    console.print(
        f"storing a message: p50 {store:.2f} ms, with its job {with_job:.2f} ms (+{result['added_ms_p50']:.2f} ms)"
    )
    console.print(f"one worker, {concurrency} at once: {result['jobs_per_s']} jobs/s")
    console.print(
        f"a job of a worker that stopped answering: finished by another after {result['takeover_s']} s"
        f" (heartbeat {result['heartbeat_s']} s)"
    )


@bench_app.command("load")
def bench_load(
    users: int = typer.Option(100, "--users", "-u", min=1, help="Simulated users chatting at once."),
    turns: int = typer.Option(20, "--turns", "-n", min=1, help="Turns per user."),
    think: float = typer.Option(5.0, "--think", min=0, help="Seconds each user waits between turns."),
    token_delay_ms: float = typer.Option(20.0, "--token-delay-ms", min=0, help="The fake model's per-token delay."),
    reply_tokens: int = typer.Option(50, "--reply-tokens", min=1, help="Tokens the fake model streams per reply."),
    find_max: bool = typer.Option(
        False, "--find-max", help="Then ramp up users to the most that keep p95 added latency within --target-ms."
    ),
    max_users: int = typer.Option(1000, "--max-users", min=1, help="Where --find-max stops."),
    ramp_turns: int = typer.Option(5, "--ramp-turns", min=1, help="Turns per user at each --find-max step."),
    target_ms: float = typer.Option(100.0, "--target-ms", min=1, help="The p95 added latency --find-max keeps."),
    out: Path = typer.Option(None, "--out", help="Also write the JSON result to this file (for bench plot)."),
    urls: list[str] = typer.Option(
        None, "--url", help="Drive this running deployment over its web socket instead (repeat to compare several)."
    ),
    cpu_pids: list[int] = typer.Option(
        None, "--cpu-pid", help="With --url: a server process whose CPU time counts (repeat; children included)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Concurrent users chatting through the full turn pipeline: turns/s, added latency, errors, memory.

    With --url, the users chat with a running app (one instance, or nginx in front of several; started with
    ASSISTANT_MODEL=fake and ASSISTANT_FAKE_TOKEN_DELAY_S equal to --token-delay-ms), each URL in turn.

    Example: assistant bench load --users 100 --turns 20 --find-max --out bench-results/load.json
    """
    from assistant.bench.load import LoadPlan, run_load_bench

    if urls:
        _bench_load_remote(urls, cpu_pids or [], users, turns, think, token_delay_ms, out, as_json)
        return

    plan = LoadPlan(users, turns, think_s=think, token_delay_s=token_delay_ms / 1000, reply_tokens=reply_tokens)
    result = run(
        _with_progress(
            "load",
            lambda progress: run_load_bench(
                settings(),
                plan,
                find_max=find_max,
                max_users=max_users,
                ramp_turns=ramp_turns,
                target_ms=target_ms,
                progress=progress,
            ),
        )
    )
    _write_out(out, result)
    if as_json:
        print_json(result)
        return
    table = Table("users", "turns", "errors", "turns/s", "added p50 ms", "added p95 ms", "first token p95 ms", "RSS MB")
    rows = [result, *result.get("ramp", [])]
    for row in rows:
        table.add_row(
            str(row["users"]),
            str(row["turns"]),
            str(row["errors"]),
            f"{row['turns_per_s']:.1f}",
            f"{row['added_ms']['p50']:.1f}",
            f"{row['added_ms']['p95']:.1f}",
            f"{row['first_token_added_ms']['p95']:.1f}" if "first_token_added_ms" in row else "-",
            f"{row['rss_mb']['peak']:.0f}",
        )
    console.print(table)
    stages = ", ".join(f"{name} {row['p50']:.1f}/{row['p95']:.1f}" for name, row in result["context_stages_ms"].items())
    console.print(f"{result['users']} users, context stages p50/p95 ms: {stages}")
    for sample in result["error_samples"]:
        err_console.print(f"[red]error:[/red] {sample}", highlight=False)
    if find_max:
        best = result["max_users_within_target"]
        console.print(f"Most users with p95 added latency <= {target_ms:.0f} ms: {best if best else 'none'}")


def _bench_load_remote(
    urls: list[str], pids: list[int], users: int, turns: int, think: float, delay_ms: float, out: Path | None, js: bool
) -> None:
    from assistant.bench.load_remote import RemotePlan, run_remote_load

    plan = RemotePlan(users, turns, think_s=think, token_delay_s=delay_ms / 1000)
    result = run(_with_progress("load", lambda progress: run_remote_load(urls, plan, cpu_pids=pids, progress=progress)))
    _write_out(out, result)
    if js:
        print_json(result)
        return
    remote_load_table(result, bool(pids))


def _write_out(path: Path | None, result: dict[str, Any]) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")


async def _with_progress(title: str, start: Callable[[Callable[[str, int, int], None]], Awaitable[T]]) -> T:
    """Run a benchmark with a progress bar on stderr (so --json output stays clean).

    Without a terminal (a log file, CI), one line per tenth of the work instead of a live bar.
    """
    if not err_console.is_terminal:
        shown: dict[str, int] = {}
        started = time.monotonic()

        def log_progress(label: str, done: int, total: int) -> None:
            stage = label.split(":")[0]
            tenth = done * 10 // total if total else 0
            if shown.get(stage) != tenth:
                shown[stage] = tenth
                err_console.print(
                    f"[{time.monotonic() - started:7.0f} s] {title}: {label} ({done}/{total})", highlight=False
                )

        return await start(log_progress)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
    ) as bar:
        task = bar.add_task(title, total=None)

        def progress(label: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=label[:40])

        return await start(progress)


@bench_app.command("plot")
def bench_plot(
    source: Path = typer.Option(
        Path("bench-results"),
        "--from",
        file_okay=False,
        help="Results directory: locomo/summary.json, scale.json, load.json (as the documented commands write).",
    ),
    locomo: Path = typer.Option(None, "--locomo", dir_okay=False, help="A bench locomo summary.json."),
    scale: Path = typer.Option(None, "--scale", dir_okay=False, help="A bench scale --out file."),
    load: Path = typer.Option(None, "--load", dir_okay=False, help="A bench load --out file."),
    out: Path = typer.Option(Path("docs/img"), "--out", file_okay=False, help="Where the PNGs go."),
) -> None:
    """Charts for docs/benchmarks.md: LoCoMo recall against budget, latency against memories and against users.

    Example: assistant bench plot --from bench-results --out docs/img
    """
    from assistant.bench.plot import Inputs, draw
    from memory.errors import AssistantError, describe

    found = Inputs.in_directory(source)
    inputs = Inputs(locomo or found.locomo, scale or found.scale, load or found.load)
    for path in (p for p in (locomo, scale, load) if p is not None):
        if not path.is_file():
            fail(f"{path} does not exist")
    try:
        written = draw(inputs, out)
    except AssistantError as exc:
        fail(describe(exc))
    for path in written:
        console.print(f"wrote {path}")


@bench_app.command("ingest")
def bench_ingest(
    turns: int = typer.Option(1000, "--turns", "-n", min=32, help="Turns to embed and store."),
    out: Path = typer.Option(None, "--out", help="Also write the JSON result to this file."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Episodic memory ingestion rate beside the embedder's own batch rate (the store's overhead).

    Example: assistant bench ingest --turns 2000 --json
    """
    from assistant.bench.ingest import run_ingest_bench

    result = run(run_ingest_bench(settings(), turns=turns))
    _write_out(out, result)
    if as_json:
        print_json(result)
        return
    console.print(
        f"{result['embedder']}: embedder alone {result['embedder_passages_per_s']} passages/s; "
        f"embed + store {result['episodic_turns_per_s']} turns/s; store overhead {result['store_overhead_pct']}%"
    )


@bench_app.command("startup")
def bench_startup(
    runs: int = typer.Option(5, "--runs", "-n", min=1, help="Timed launches of each command."),
    chat: bool = typer.Option(True, "--chat/--no-chat", help="Also time the chat's first reply (the chat model)."),
    out: Path = typer.Option(None, "--out", help="Also write the JSON result to this file."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Start-up time of commands, each launched in a fresh process: median and fastest of --runs.

    Times the interpreter alone, `assistant --help`, `assistant memory list --json` and (unless --no-chat)
    the first streamed reply of `assistant chat`, for the user startup-bench (given one memory to list).

    Example: assistant bench startup --runs 5 --no-chat
    """
    from assistant.bench.startup import run_startup_bench

    result = run(
        _with_progress(
            "start-up",
            lambda progress: asyncio.to_thread(run_startup_bench, runs=runs, chat=chat, progress=progress),
        )
    )
    _write_out(out, result)
    if as_json:
        print_json(result)
        return
    table = Table("command", "median s", "min s", "max s", "target s", title=f"{runs} fresh launches each")
    for name, row in result["figures"].items():
        target = f"{row['target_s']:.1f}" if row["target_s"] else ""
        table.add_row(name, f"{row['median_s']:.2f}", f"{row['min_s']:.2f}", f"{row['max_s']:.2f}", target)
    console.print(table)
    before, after = result["load_average_before"][0], result["load_average_after"][0]
    console.print(
        f"load average {before:.2f} before, {after:.2f} after on {result['cores']} cores "
        "(other work on the machine slows every figure)"
    )


@bench_app.command("forget")
def bench_forget(
    memories: int = typer.Option(10_000, "--memories", "-m", min=1, help="Memories of the user whose data stays."),
    messages: int = typer.Option(20_000, "--messages", min=0, help="Messages of that user."),
    out: Path = typer.Option(None, "--out", help="Also write the JSON result to this file."),
    as_json: bool = JSON_OPTION,
) -> None:
    """What forgetting costs: the request, and the pass that takes the text out of Postgres's files after it.

    Times forgetting one memory (the tables are vacuumed) and forgetting everything of another user (the
    tables are rewritten), with a user holding --memories and --messages; the benchmark users are erased after.

    Example: assistant bench forget --memories 10000 --messages 20000
    """
    from assistant.bench.forget import run_forget_bench

    result = run(
        _with_progress(
            "forget",
            lambda progress: run_forget_bench(settings(), memories=memories, messages=messages, progress=progress),
        )
    )
    _write_out(out, result)
    if as_json:
        print_json(result)
        return
    sizes = ", ".join(f"{name} {mb} MB" for name, mb in result["table_mb"].items())
    table = Table("forgetting", "request ms", "pass s", "vacuum s", "WAL s", title=f"{memories:,} memories ({sizes})")
    for name in ("forget_one", "forget_everything"):
        row = result[name]
        table.add_row(name.replace("_", " "), f"{row['request_ms']:.0f}", f"{row['pass_s']:.2f}",
                      f"{row['vacuum_s']:.2f}", f"{row['wal_s']:.2f}")  # fmt: skip
    console.print(table)


@bench_app.command("locomo")
def bench_locomo(
    data: Path = typer.Argument(
        None,
        exists=True,
        dir_okay=False,
        help="A LoCoMo-format JSON file (default: the dev file shipped in assistant/bench/locomo/data/).",
    ),
    budget: list[int] = typer.Option(
        [500, 1000, 2000, 4000], "--budget", "-b", min=1, help="Token budgets (repeatable)."
    ),
    out: Path = typer.Option(Path("bench-results/locomo"), "--out", help="Where results.jsonl and summary.json go."),
    keep: bool = typer.Option(False, "--keep", help="Keep the benchmark users afterwards."),
    extract: bool = typer.Option(
        False, "--extract", help="Also extract facts while ingesting (needs a capable ASSISTANT_MODEL)."
    ),
    answer_model: str = typer.Option(
        None, "--answer-model", help="A LiteLLM model that answers from the packed context (then judged)."
    ),
    judge_model: str = typer.Option(None, "--judge-model", help="The judge (default: the answer model)."),
    answer_budget: list[int] = typer.Option(
        [], "--answer-budget", help="Budgets to answer at (repeatable; default: every budget)."
    ),
    unrelated: Path = typer.Option(
        None,
        "--unrelated",
        exists=True,
        dir_okay=False,
        help="Unrelated requests, one a line, asked of every conversation (default: the built-in set of 120).",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Evidence recall of the long-term tier on LoCoMo at token budgets, beside the recency and BM25 baselines;
    and the long-term tokens that requests unrelated to the conversations still get.

    Example: assistant bench locomo --budget 500 --budget 2000 --out /tmp/locomo
    """
    from assistant.bench.locomo.dataset import dev_file

    data = data or dev_file()
    unknown = sorted(set(answer_budget) - set(budget))
    if unknown:
        fail(f"--answer-budget {unknown[0]} is not one of the --budget values")
    if (answer_budget or judge_model) and not answer_model:
        fail("--answer-budget and --judge-model need --answer-model")
    budget = sorted(set(budget))
    from assistant.bench.locomo.unrelated import load_requests

    requests = load_requests(unrelated)
    if not requests:
        fail(f"{unrelated} holds no requests")
    result = run(
        _locomo(data, budget, out, keep, extract, answer_model, judge_model or answer_model, answer_budget, requests)
    )
    if not answer_model:
        err_console.print("Answer generation and judging skipped: no --answer-model given.")
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
    if figures := result.get("unrelated"):
        asked = Table("budget", "tokens mean", "none injected", title=f"{figures['requests']} unrelated requests")
        for key, row in figures["budgets"].items():
            asked.add_row(key, f"{row['tokens_mean']:.0f}", f"{row['none_share']:.0%}")
        console.print(asked)
    if answers := result.get("answers"):
        judged = Table("budget", "judge accuracy", "F1", "errors", title=f"answers by {answers['model']}")
        for key, row in answers["budgets"].items():
            accuracy = "-" if row["judge_accuracy"] is None else f"{row['judge_accuracy']:.3f}"
            f1 = "-" if row["f1"] is None else f"{row['f1']:.3f}"
            judged.add_row(key, accuracy, f1, str(row["errors"]))
        console.print(judged)
    rate = result["ingest_turns_per_s"]
    console.print(f"{result['questions']} questions; ingestion {rate or 0:.1f} turns/s; results in {out}")


async def _locomo(
    data: Path,
    budgets: list[int],
    out: Path,
    keep: bool,
    extract: bool,
    answer_model: str | None,
    judge_model: str | None,
    answer_budgets: list[int],
    unrelated: list[str],
) -> dict[str, Any]:
    from assistant.application.lifecycle import running
    from assistant.bench.locomo.answers import Answerer
    from assistant.bench.locomo.dataset import load_locomo
    from assistant.bench.locomo.project_memory import ProjectMemory
    from assistant.bench.locomo.runner import run_locomo
    from assistant.providers.factory import build_chat_model
    from assistant.providers.profile import extraction_status

    await asyncio.to_thread(load_locomo, data)  # a file not in the format fails before anything starts
    base = settings()
    if extract:
        extracting, why = extraction_status(base)
        if not extracting:
            raise InvalidInputError(f"--extract needs a model that extracts facts; {base.model}: {why}")
        config = base
    else:
        config = base.model_copy(update={"model": "fake"})  # ingestion calls no chat model
    answerer = None
    if answer_model:
        model = await build_chat_model(base.model_copy(update={"model": answer_model}))
        judge = (
            model
            if judge_model == answer_model
            else await build_chat_model(base.model_copy(update={"model": judge_model}))
        )
        answerer = Answerer(model, judge, base.prompts_dir)
        await answerer.check()
    try:
        async with running(config) as app:
            return await _with_progress(
                "LoCoMo",
                lambda progress: run_locomo(
                    data,
                    ProjectMemory(app.runtime, extract=extract),  # the benchmark measures the layers themselves
                    budgets,
                    out,
                    keep=keep,
                    progress=lambda done, total, label: progress(label, done, total),
                    answerer=answerer,
                    answer_budgets=answer_budgets,
                    unrelated=unrelated,
                ),
            )
    finally:
        if answerer is not None:
            await answerer.model.aclose()
            if answerer.judge is not answerer.model:
                await answerer.judge.aclose()
