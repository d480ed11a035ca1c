"""What `assistant services status` reports about one server."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    running: bool
    url: str | None
    pid: int | None = None
    detail: str = ""
    embedded: bool = True
