"""`assistant bench load --url`: simulated users chatting with a running deployment, through its web face.

Each URL (one instance, or nginx in front of several) gets the same plan in turn: every user opens a socket of
their own (assistant/bench/remote.py: the browser's protocol), chats in a fresh thread and pauses between turns.
Added latency is a turn's wall time minus the fake model's streaming time (tokens received times the per-token
delay the servers were started with, ASSISTANT_FAKE_TOKEN_DELAY_S), as in the in-process benchmark. The CPU
seconds the given server processes (and their children) spent during a run, less what they spend idle (measured
first, with nobody chatting), divided by its turns, is the cost of one turn: the figure capacity per core is
computed from.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psutil

from assistant.bench.context import SENTENCES
from assistant.bench.remote import ChatClient, login_cookie
from assistant.bench.stats import machine, summary

Progress = Callable[[str, int, int], None]
MAX_ERROR_SAMPLES = 5


@dataclass(frozen=True)
class RemotePlan:
    users: int
    turns: int
    think_s: float = 1.0
    token_delay_s: float = 0.0  # must match the servers' ASSISTANT_FAKE_TOKEN_DELAY_S
    seed: int = 0


@dataclass
class _Run:
    added_ms: list[float] = field(default_factory=list)
    first_token_ms: list[float] = field(default_factory=list)
    turns: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)

    def fail(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < MAX_ERROR_SAMPLES:
            self.error_samples.append(what)


def _cpu_seconds(pids: Sequence[int]) -> float:
    """CPU time (user + system) of these processes and their children, as far as they are still running."""
    total = 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            for process in [root, *root.children(recursive=True)]:
                times = process.cpu_times()
                total += times.user + times.system
        except psutil.Error:
            continue
    return total


async def _one_user(url: str, cookie: str, plan: RemotePlan, number: int, run: _Run, tick: Callable[[], None]) -> None:
    rng = random.Random(plan.seed * 100_003 + number)
    await asyncio.sleep(rng.uniform(0, plan.think_s))  # users arrive spread over one pause
    try:
        async with ChatClient(url, cookie) as chat:
            for turn in range(plan.turns):
                if turn:
                    await asyncio.sleep(plan.think_s)
                text = f"{SENTENCES[rng.randrange(len(SENTENCES))]} (user {number}, turn {turn})"
                try:
                    reply = await chat.send(text)
                except Exception as exc:  # counted and reported
                    run.fail(f"{type(exc).__name__}: {exc}")
                    tick()
                    continue
                if not reply.tokens:
                    run.fail(f"no reply streamed to turn {turn} of user {number}")
                else:
                    model_s = reply.tokens * plan.token_delay_s
                    run.added_ms.append((reply.wall_s - model_s) * 1000)
                    if reply.first_token_s is not None:
                        run.first_token_ms.append((reply.first_token_s - plan.token_delay_s) * 1000)
                    run.turns += 1
                tick()
    except Exception as exc:  # the socket itself failed: every turn of this user is lost
        run.fail(f"user {number} could not chat: {type(exc).__name__}: {exc}")


async def idle_cpu_rate(pids: Sequence[int], seconds: float) -> float:
    """CPU seconds per second the servers spend with nobody chatting (timers, pollers): charged to no turn."""
    before = _cpu_seconds(pids)
    await asyncio.sleep(seconds)
    return (_cpu_seconds(pids) - before) / seconds


async def _run_one(
    url: str, plan: RemotePlan, cpu_pids: Sequence[int], idle_rate: float, progress: Progress | None
) -> dict[str, Any]:
    cookie = await login_cookie(url)
    run = _Run()
    done = 0
    total = plan.users * plan.turns

    def tick() -> None:
        nonlocal done
        done += 1
        if progress:
            progress(url, done, total)

    cpu_before = _cpu_seconds(cpu_pids)
    started = time.perf_counter()
    await asyncio.gather(*(_one_user(url, cookie, plan, n, run, tick) for n in range(plan.users)))
    elapsed = time.perf_counter() - started
    cpu = _cpu_seconds(cpu_pids) - cpu_before
    return {
        "url": url,
        "users": plan.users,
        "turns": run.turns,
        "errors": run.errors,
        "error_samples": run.error_samples,
        "elapsed_s": elapsed,
        "turns_per_s": run.turns / elapsed if elapsed else 0.0,
        "added_ms": summary(run.added_ms or [0.0]),
        "first_token_added_ms": summary(run.first_token_ms or [0.0]),
        "server_cpu_s": cpu if cpu_pids else None,
        "cpu_s_per_turn": cpu / run.turns if cpu_pids and run.turns else None,
        # What the turns cost beyond the servers' idle rate: the figure capacity per core is computed from.
        "net_cpu_s_per_turn": max(0.0, cpu - idle_rate * elapsed) / run.turns if cpu_pids and run.turns else None,
    }


async def run_remote_load(
    urls: Sequence[str],
    plan: RemotePlan,
    *,
    cpu_pids: Sequence[int] = (),
    idle_s: float = 10.0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The plan against each URL in turn; the last entry's throughput and p95 compared with the first's."""
    idle_rate = await idle_cpu_rate(cpu_pids, idle_s) if cpu_pids and idle_s > 0 else 0.0
    runs = [await _run_one(url.rstrip("/"), plan, cpu_pids, idle_rate, progress) for url in urls]
    result: dict[str, Any] = {
        "machine": machine(),
        "cpu_count": psutil.cpu_count(),
        "plan": dataclasses.asdict(plan),
        "idle_cpu_s_per_s": idle_rate,
        "runs": runs,
    }
    if len(runs) > 1 and runs[0]["turns_per_s"]:
        first, last = runs[0], runs[-1]
        result["throughput_ratio"] = last["turns_per_s"] / first["turns_per_s"]
        result["p95_ratio"] = last["added_ms"]["p95"] / first["added_ms"]["p95"] if first["added_ms"]["p95"] else None
    return result
