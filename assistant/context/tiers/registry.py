"""The registered tiers: what the manager packs, the settings panel offers shares of, and the report lists."""

from __future__ import annotations

from collections.abc import Mapping

from assistant.context.budget import TierShares
from assistant.context.tiers.base import ContextTier, Tier, TierStores

_REGISTERED: dict[str, type[Tier]] = {}


def register(kind: type[Tier]) -> type[Tier]:
    """Add a tier (a class of ``Tier``); every runtime assembled from now on packs it. Usable as a decorator."""
    if _REGISTERED.get(kind.name, kind) is not kind:
        raise ValueError(f"another tier is already registered as {kind.name!r}")
    _REGISTERED[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    _REGISTERED.pop(name, None)


def registered() -> list[type[Tier]]:
    """The registered tiers, most important first (ties keep the order they were registered in)."""
    return sorted(_REGISTERED.values(), key=lambda kind: kind.priority)


def build_tiers(stores: TierStores) -> list[ContextTier]:
    return [kind.from_stores(stores) for kind in registered()]


def configured_share(settings: object, kind: type[Tier]) -> float:
    """A tier's share as configured: its ``share_<name>`` setting if the settings have one, else its default."""
    value = getattr(settings, f"share_{kind.name}", None)
    return kind.default_share if value is None else float(value)


def tier_shares(settings: object, chosen: Mapping[str, float] | None = None) -> TierShares:
    """Every registered tier's share: the user's choice (from the settings panel), else the configured one."""
    chosen = chosen or {}
    return TierShares({kind.name: chosen.get(kind.name, configured_share(settings, kind)) for kind in registered()})


def report_titles() -> dict[str, str]:
    """Each registered tier's title by its name in the context report."""
    return {tier.report_name: tier.report_title for tier in (kind() for kind in registered())}


def recalled_tiers() -> set[str]:
    """The report names of the tiers whose items are what was recalled for a reply."""
    return {tier.report_name for tier in (kind() for kind in registered()) if tier.recalled}
