"""Start, stop and report the servers the settings call for."""

from __future__ import annotations

from dataclasses import dataclass

from assistant.embedded.paths import ServicePaths
from assistant.embedded.postgres import EmbeddedPostgres
from assistant.embedded.redis import EmbeddedRedis
from assistant.embedded.status import ServiceStatus
from assistant.settings import Settings


@dataclass(frozen=True)
class Endpoints:
    database_url: str
    redis_url: str


def ensure_running(settings: Settings) -> Endpoints:
    """Start the embedded servers that no URL replaces (finding running ones), and return both URLs.

    Blocking; call it through ``asyncio.to_thread`` on an event loop.
    """
    database_url, redis_url = settings.database_url, settings.redis_url
    if database_url and redis_url:
        return Endpoints(database_url, redis_url)
    paths = ServicePaths(settings.data_dir)
    with paths.lock():
        if not database_url:
            database_url = EmbeddedPostgres(paths).start()
        if not redis_url:
            redis_url = EmbeddedRedis(paths).start()
    return Endpoints(database_url, redis_url)


def stop(settings: Settings) -> list[str]:
    """Stop the embedded servers; returns the names of those that were running."""
    paths = ServicePaths(settings.data_dir)
    stopped: list[str] = []
    with paths.lock():
        if settings.uses_embedded_redis and EmbeddedRedis(paths).stop():
            stopped.append("redis")
        if settings.uses_embedded_postgres and EmbeddedPostgres(paths).stop():
            stopped.append("postgres")
    return stopped


def status(settings: Settings) -> list[ServiceStatus]:
    paths = ServicePaths(settings.data_dir)
    result: list[ServiceStatus] = []
    if settings.database_url:
        result.append(ServiceStatus("postgres", True, settings.database_url, embedded=False, detail="configured"))
    else:
        result.append(EmbeddedPostgres(paths).status())
    if settings.redis_url:
        result.append(ServiceStatus("redis", True, settings.redis_url, embedded=False, detail="configured"))
    else:
        result.append(EmbeddedRedis(paths).status())
    return result
