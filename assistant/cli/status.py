"""`assistant status`: model, embedder, whether facts are extracted, services and counts."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from assistant.cli.common import JSON_OPTION, console, print_json, run, settings

COUNTED = (
    "users",
    "threads",
    "messages",
    "memories",
    "memory_events",
    "thread_summaries",
    "context_reports",
    "documents",
    "document_chunks",
    "api_tokens",
)


def _hide_secrets(url: str) -> str:
    """A URL or libpq conninfo with its password hidden."""
    from memory.redaction import redact

    return redact(url)


async def _counts(database_url: str) -> dict[str, int]:
    import psycopg

    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        counts = {}
        for table in COUNTED:
            exists = await (await conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,))).fetchone()
            if not exists or not exists[0]:
                continue
            row = await (await conn.execute(f"SELECT count(*) FROM {table}")).fetchone()
            counts[table] = int(row[0]) if row else 0
        if "document_chunks" in counts:  # documents being indexed (or re-embedded) by a worker
            row = await (await conn.execute("SELECT count(*) FROM document_chunks WHERE embedding IS NULL")).fetchone()
            counts["document_chunks_indexing"] = int(row[0]) if row else 0
        return counts


def status(as_json: bool = JSON_OPTION) -> None:
    """Show the model (and whether it is local), the embedder, fact extraction, services and counts.

    Example: assistant status --json
    """
    from assistant.embedded import manager
    from assistant.providers.profile import extraction_status, profile_for
    from assistant.runtime import prepare_stores

    config = settings()
    endpoints = run(prepare_stores(config))
    extracting, why = extraction_status(config)
    profile = profile_for(config.model, config)
    services = [
        {"name": s.name, "running": s.running, "embedded": s.embedded, "url": _hide_secrets(s.url) if s.url else None}
        for s in manager.status(config)
    ]
    report: dict[str, Any] = {
        "model": config.model,
        "model_is_local": profile.runs_locally,
        "embedder": config.embedder,
        "extraction": {"on": extracting, "why": why},
        "memory_enabled": config.memory_enabled,
        "data_dir": str(config.data_dir),
        "services": services,
        "counts": run(_counts(endpoints.database_url)),
    }
    if as_json:
        print_json(report)
        return
    table = Table(show_header=False, title="assistant status")
    shown = config.model if profile.label == config.model else f"{config.model}: {profile.label}"
    table.add_row("model", shown + (" (local, offline)" if report["model_is_local"] else " (remote)"))
    table.add_row("embedder", config.embedder)
    table.add_row("fact extraction", ("on: " if extracting else "off: ") + why)
    for service in services:
        table.add_row(str(service["name"]), f"{'running' if service['running'] else 'stopped'} {service['url'] or ''}")
    for name, count in report["counts"].items():
        table.add_row(name, str(count))
    console.print(table)
