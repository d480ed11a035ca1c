"""Real Postgres and Redis for every test: embedded servers for the run, a fresh database and key prefix per test."""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import asyncio
import concurrent.futures
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool

from assistant.embedded import manager
from assistant.providers.base import ChatModel
from assistant.providers.embedders import HashEmbedder
from assistant.runtime import Runtime
from assistant.settings import Settings
from memory.conversations import ConversationStore
from memory.db.migrations import migrate
from memory.db.partitioning import partition_memories
from memory.db.pool import open_pool
from memory.short_term.connection import RedisClient, open_redis

TEMPLATE_DB = "assistant_test_template"
# Every fixture that reaches Postgres or Redis depends on one of these (server_dir: a test's own servers).
STORE_FIXTURES = ("services", "server_dir")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by what it needs: `store` (real Postgres and Redis), else `unit` (neither).

    `browser` and `slow` are marked in the test modules.
    """
    for item in items:
        if item.get_closest_marker("browser"):
            # A browser test drives a real server and Chromium on a shared 2-core machine: one step can outlast a
            # wait when the machine is busy. It runs once more on failure, and the rerun is reported as such.
            item.add_marker(pytest.mark.flaky(reruns=1))
        if any(name in STORE_FIXTURES for name in getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.store)
        else:
            item.add_marker(pytest.mark.unit)


@pytest.fixture
def server_dir() -> Iterator[Path]:
    """A temporary directory for embedded servers' data.

    Not under pytest's own temporary root: pytest keeps that private (0700) and may reset it while
    another run starts, which would lock out the unprivileged user Postgres runs as under root.
    """
    path = Path(tempfile.mkdtemp(prefix="assistant-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def services() -> Iterator[manager.Endpoints]:
    """Embedded servers in a temporary data directory, for the whole run (or configured ones)."""
    data_dir = Path(tempfile.mkdtemp(prefix="assistant-test-"))
    settings = Settings(
        data_dir=data_dir,
        database_url=os.environ.get("ASSISTANT_TEST_DATABASE_URL"),
        redis_url=os.environ.get("ASSISTANT_TEST_REDIS_URL"),
    )
    endpoints = manager.ensure_running(settings)
    with psycopg.connect(endpoints.database_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}"')
        conn.execute(f'CREATE DATABASE "{TEMPLATE_DB}"')
    # In a thread of its own: Playwright's sync API may already run an event loop on this one.
    template_url = make_conninfo(endpoints.database_url, dbname=TEMPLATE_DB)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, migrate(template_url)).result()
        # ASSISTANT_TEST_PARTITIONS=N: every test's database has memories in N hash partitions (docs/deployment.md).
        if partitions := int(os.environ.get("ASSISTANT_TEST_PARTITIONS") or 0):
            pool.submit(asyncio.run, partition_memories(template_url, partitions)).result()
    yield endpoints
    manager.stop(settings)
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def service_data_dir(services: manager.Endpoints) -> Path:
    return Path(services.redis_url.removeprefix("unix://")).parent.parent


def _fresh_database(services: manager.Endpoints, template: str) -> str:
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(services.database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return name


def _drop_database(services: manager.Endpoints, name: str) -> None:
    with psycopg.connect(services.database_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(services: manager.Endpoints) -> Iterator[str]:
    """A migrated database of this test's own."""
    name = _fresh_database(services, TEMPLATE_DB)
    yield make_conninfo(services.database_url, dbname=name)
    _drop_database(services, name)


@pytest.fixture
def empty_database_url(services: manager.Endpoints) -> Iterator[str]:
    """A database of this test's own with no schema at all."""
    name = _fresh_database(services, "template0")
    yield make_conninfo(services.database_url, dbname=name)
    _drop_database(services, name)


@pytest.fixture
def redis_prefix() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def settings(tmp_path: Path, database_url: str, services: manager.Endpoints, redis_prefix: str) -> Settings:
    """Settings pointing at this test's database and key prefix, with the fake model."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        redis_url=services.redis_url,
        redis_prefix=redis_prefix,
        model="fake",
        embedder="hash",
        # Tests run hundreds of turns a minute for one user; the rate-limit tests turn the limits on.
        rate_turns_per_minute=0,
        rate_turns_per_day=0,
        job_retry_wait_s=0,  # a failing job is retried at once (the backoff has a test of its own)
    )


@pytest.fixture
def store_env(
    database_url: str, services: manager.Endpoints, redis_prefix: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Environment for CLI commands: this test's database and key prefix, the fake model, the hash embedder."""
    monkeypatch.setenv("ASSISTANT_DATABASE_URL", database_url)
    monkeypatch.setenv("ASSISTANT_REDIS_URL", services.redis_url)
    monkeypatch.setenv("ASSISTANT_REDIS_PREFIX", redis_prefix)
    monkeypatch.setenv("ASSISTANT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ASSISTANT_MODEL", "fake")
    monkeypatch.setenv("ASSISTANT_EMBEDDER", "hash")


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[AsyncConnectionPool]:
    pool = await open_pool(database_url, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
async def redis(services: manager.Endpoints, redis_prefix: str) -> AsyncIterator[RedisClient]:
    client = await open_redis(services.redis_url)
    yield client
    keys = [key async for key in client.scan_iter(f"{redis_prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
def conversations(pool: AsyncConnectionPool) -> ConversationStore:
    return ConversationStore(pool)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI no test may be skipped: a skip fails the run."""
    if not os.environ.get("CI"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if reporter:
            reporter.write_line(f"CI=true: {len(skipped)} test(s) skipped; every test must run in CI", red=True)


@pytest.fixture
async def make_runtime(
    settings: Settings,
    database_url: str,
    services: manager.Endpoints,
    pool: AsyncConnectionPool,
    redis: RedisClient,
) -> AsyncIterator[Callable[..., Runtime]]:
    """Build a runtime on this test's stores around a given (fake) model; settings can be overridden."""
    built: list[Runtime] = []

    def make(model: ChatModel, **overrides: Any) -> Runtime:
        config = settings.model_copy(update={k: v for k, v in overrides.items() if k != "embedder_instance"})
        embedder = overrides.get("embedder_instance") or HashEmbedder()
        endpoints = manager.Endpoints(database_url, services.redis_url)
        runtime = Runtime.assemble(config, endpoints, pool, redis, model, embedder)
        built.append(runtime)
        return runtime

    yield make
    for runtime in built:
        await runtime.drain()
        await runtime.jobs.close()  # the queue's own connections
