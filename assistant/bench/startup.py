"""How long commands take from launch: each run in a fresh process, several times (`assistant bench startup`).

A fresh process pays for every import a command makes, which is what people who script `assistant memory ...`
feel. The chat's figure is the time to the first streamed character of the reply.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.bench.stats import machine

BENCH_USER = "startup-bench"
CHAT_MESSAGE = "Say hello in five words."


@dataclass(frozen=True)
class Probe:
    name: str
    argv: list[str]
    target_s: float | None = None
    first_output: bool = False  # time to the first byte on stdout (a streamed reply), not to the exit


def assistant_command() -> list[str]:
    """The installed `assistant` script beside this Python, else the module."""
    script = Path(sys.executable).with_name("assistant")
    if script.exists():
        return [str(script)]
    found = shutil.which("assistant")
    return [found] if found else [sys.executable, "-m", "assistant.cli.main"]


def probes(*, chat: bool, user: str = BENCH_USER) -> list[Probe]:
    command = assistant_command()
    chosen = [
        Probe("python -c pass (the interpreter alone)", [sys.executable, "-c", "pass"]),
        Probe("assistant --help", [*command, "--help"], target_s=0.5),
        Probe("assistant memory list --json", [*command, "memory", "list", "--json", "--user", user], target_s=1.5),
    ]
    if chat:
        chosen.append(
            Probe("assistant chat: first reply", [*command, "chat", "--user", user, CHAT_MESSAGE], first_output=True)
        )
    return chosen


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    env.setdefault("HF_HUB_OFFLINE", "1")
    return env


def time_once(probe: Probe, env: dict[str, str]) -> float:
    """Seconds from launch to exit (or to the first byte of output); a failing command is an error."""
    started = time.perf_counter()
    with subprocess.Popen(probe.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) as process:
        assert process.stdout is not None
        elapsed = None
        if probe.first_output:
            process.stdout.read(1)
            elapsed = time.perf_counter() - started
        _, stderr = process.communicate()
        if elapsed is None:
            elapsed = time.perf_counter() - started
    if process.returncode != 0:
        detail = stderr.decode(errors="replace").strip().splitlines()
        raise RuntimeError(f"{probe.name} failed: {detail[-1] if detail else f'exit status {process.returncode}'}")
    return elapsed


def _prepare(user: str, env: dict[str, str]) -> None:
    """Start the services and give the benchmark's user a memory to list (untimed)."""
    command = assistant_command()
    listing = subprocess.run([*command, "memory", "list", "--json", "--user", user], capture_output=True, env=env)
    if listing.returncode != 0:
        argv = [*command, "memory", "remember", "The start-up benchmark lists this memory.", "--user", user]
        subprocess.run(argv, capture_output=True, env=env, check=True)


def run_startup_bench(
    *, runs: int, chat: bool, progress: Callable[[str, int, int], None] | None = None
) -> dict[str, Any]:
    """Median and fastest of ``runs`` fresh launches of each command, after one untimed warm-up launch."""
    env = _environment()
    _prepare(BENCH_USER, env)
    load_before = os.getloadavg()
    figures: dict[str, Any] = {}
    for probe in probes(chat=chat):
        time_once(probe, env)  # warm-up: the page cache, a first start of the local model
        times = []
        for run in range(runs):
            if progress:
                progress(probe.name, run, runs)
            times.append(time_once(probe, env))
        figures[probe.name] = {
            "median_s": round(statistics.median(times), 3),
            "min_s": round(min(times), 3),
            "max_s": round(max(times), 3),
            "runs_s": [round(t, 3) for t in times],
            "target_s": probe.target_s,
        }
    return {
        "figures": figures,
        "runs": runs,
        "user": BENCH_USER,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "cores": os.cpu_count(),
        "machine": machine(),
    }
