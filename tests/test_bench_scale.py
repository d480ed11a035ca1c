import json
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from assistant.bench.corpus import Composer, diary_sentences, questions
from assistant.bench.scale import run_scale_bench
from assistant.cli.main import app
from assistant.providers.embedders import HashEmbedder
from assistant.settings import Settings

runner = CliRunner()


def test_the_corpus_is_deterministic_and_questions_are_not_sentences() -> None:
    sentences = diary_sentences(50, seed=3)
    assert sentences == diary_sentences(50, seed=3) and len(set(sentences)) == 50
    asked = questions(20, seed=3, avoid=sentences)
    assert len(set(asked)) == 20 and not set(asked) & set(sentences)


async def test_composed_memories_pair_two_different_sentences_with_unit_vectors() -> None:
    sentences = diary_sentences(10)
    composer = Composer(sentences, await HashEmbedder().passages(sentences), total=100)
    assert all(a != b for a, b in composer.pairs)
    assert composer.texts(0, 1)[0] == f"{sentences[composer.pairs[0][0]]} {sentences[composer.pairs[0][1]]}"
    norms = [float(sum(v * v)) for v in composer.embeddings(0, 100)]
    assert min(norms) == pytest.approx(1.0, abs=1e-4) and max(norms) == pytest.approx(1.0, abs=1e-4)


async def test_scale_bench_at_a_tiny_size(settings: Settings, database_url: str) -> None:
    result = await run_scale_bench(settings, sizes=[300, 150], queries=10, users=2, sentences=50)
    assert result["benchmark"] == "scale" and result["embedder"] == "hash" and result["sentences"] == 50
    assert list(result["sizes"]) == ["150", "300"]
    for row in result["sizes"].values():
        assert row["insert_per_s"] > 0
        assert set(row["retrieval_ms"]) == set(row["assembly_ms"]) == {"p50", "p95", "p99", "mean"}
        assert 0 <= row["hnsw_recall_at_10"] <= 1
    assert result["index_build_s"] >= 0 and result["ef_search"] > 0
    assert list(settings.data_dir.glob("bench-cache/*.npy"))
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM memories").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM users WHERE name LIKE 'bench-scale-%'").fetchone() == (0,)
        index = conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'memories_embedding_idx'").fetchone()
    assert index is not None and "hnsw (embedding vector_cosine_ops)" in index[0]


@pytest.mark.usefixtures("store_env")
def test_scale_command_prints_json_and_a_table(tmp_path: Path) -> None:
    command = ["bench", "scale", "-m", "100", "-n", "3", "--sentences", "20", "--users", "1", "--users", "5"]
    out = tmp_path / "scale.json"
    result = runner.invoke(app, [*command, "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed == json.loads(out.read_text()) and printed["benchmark"] == "scale"
    assert [run["users"] for run in printed["runs"]] == [1, 5]
    for run in printed["runs"]:
        assert set(run["sizes"]["100"]) >= {"insert_per_s", "retrieval_ms", "assembly_ms", "hnsw_recall_at_10"}
        assert set(run["sizes"]["100"]["assembly_ms"]) >= {"p50", "p95", "p99"}
        assert run["index_build_s"] >= 0
    table = runner.invoke(app, command)
    assert table.exit_code == 0, table.output
    assert "HNSW recall@10" in table.stdout and "HNSW index build" in table.stdout
    too_few = runner.invoke(app, ["bench", "scale", "-m", "10", "--users", "20"])
    assert too_few.exit_code == 1 and "at least one memory per user" in too_few.stderr


async def test_every_timed_query_is_embedded_again() -> None:
    from assistant.bench.scale import TimedEmbedder
    from assistant.providers.embedders import QueryCache

    class Counting(HashEmbedder):
        calls = 0

        async def queries(self, texts):
            Counting.calls += 1
            return await super().queries(texts)

    timed = TimedEmbedder(QueryCache(Counting()))
    await timed.queries(["where do I live?"])
    await timed.queries(["where do I live?"])  # one turn's second search: the cache answers
    timed.forget()
    await timed.queries(["where do I live?"])
    assert Counting.calls == 2 and len(timed.query_ms) == 3


async def test_hnsw_settings_are_compared_and_the_app_index_is_left_as_it_was(
    settings: Settings, database_url: str
) -> None:
    from assistant.bench.hnsw import parse_settings

    tried = parse_settings(["8:32"], halfvec=True)
    result = await run_scale_bench(
        settings, sizes=[400], queries=10, sentences=40, hnsw_settings=tried, ef_searches=[10, 40]
    )
    rows = result["hnsw_settings"]
    assert [(r["m"], r["ef_construction"], r["halfvec"]) for r in rows] == [(8, 32, False), (8, 32, True)]
    for row in rows:
        assert row["build_s"] >= 0 and row["index_mb"] > 0 and list(row["ef_search"]) == ["10", "40"]
        for one in row["ef_search"].values():
            assert 0 <= one["recall_at_10"] <= 1 and set(one["query_ms"]) >= {"p50", "p95"}
    with psycopg.connect(database_url) as conn:
        indexes = [r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'memories'")]
    assert "memories_embedding_idx" in indexes and "memories_bench_hnsw_idx" not in indexes


@pytest.mark.usefixtures("store_env")
def test_hnsw_options_are_checked() -> None:
    bad = runner.invoke(app, ["bench", "scale", "-m", "10", "--users", "1", "--hnsw", "16"])
    assert bad.exit_code == 1 and "M:EF_CONSTRUCTION" in bad.stderr
    alone = runner.invoke(app, ["bench", "scale", "-m", "10", "--users", "1", "--halfvec"])
    assert alone.exit_code == 1 and "--halfvec needs" in alone.stderr
    memory = runner.invoke(app, ["bench", "scale", "-m", "10", "--users", "1", "--index-memory", "lots"])
    assert memory.exit_code == 1 and "512MB or 2GB" in memory.stderr


async def test_a_bulk_load_builds_the_index_once_per_size_and_leaves_it_in_place(
    settings: Settings, database_url: str
) -> None:
    result = await run_scale_bench(
        settings, sizes=[100, 200], queries=10, users=1, sentences=40, bulk=True, index_memory="64MB"
    )
    assert result["bulk"] and result["index_memory"] == "64MB"
    phases = result["phases_s"]
    assert {"index_build_100", "index_build_200", "context_index_build_200"} <= set(phases)
    assert {"vacuum_analyze_100", "vacuum_analyze_200"} <= set(phases)  # timed on a settled table
    assert result["index_build_s"] == phases["index_build_200"]  # the last build is the one reported
    with psycopg.connect(database_url) as conn:
        index = conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'memories_embedding_idx'").fetchone()
        context = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'memories_context_embedding_idx'"
        ).fetchone()
    assert index is not None and "hnsw (embedding vector_cosine_ops)" in index[0]
    assert context is not None and "hnsw (context_embedding vector_cosine_ops)" in context[0]


async def test_the_memories_are_turns_of_conversations_with_context_vectors(
    settings: Settings, database_url: str
) -> None:
    await run_scale_bench(settings, sizes=[50], queries=3, users=2, sentences=20, keep=True)
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT user_id, thread_id, seq, context_embedding IS NOT NULL FROM memories ORDER BY user_id, thread_id, seq"
        ).fetchall()
    assert len(rows) == 50 and all(has_context for *_, has_context in rows)
    sessions = {(user, thread) for user, thread, _, _ in rows}
    assert len(sessions) == 4  # 25 turns each for two users: a session of 20 and one of 5
    assert sorted(seq for _, _, seq, _ in rows)[:4] == [0, 0, 0, 0]
