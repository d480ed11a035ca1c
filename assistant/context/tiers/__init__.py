"""The context tiers and their registry: adding a tier is one module here and a ``register`` line below
(docs/architecture.md, "Context tiers: the registry and the one packer")."""

from assistant.context.tiers.base import ContextTier, Offer, Section, Tier, TierRequest, TierStores
from assistant.context.tiers.core import CoreTier
from assistant.context.tiers.documents import DocumentsTier
from assistant.context.tiers.long_term import LongTermMemoryTier
from assistant.context.tiers.registry import (
    build_tiers,
    configured_share,
    recalled_tiers,
    register,
    registered,
    report_titles,
    tier_shares,
    unregister,
)
from assistant.context.tiers.short_term import ShortTermTier

for _kind in (CoreTier, ShortTermTier, LongTermMemoryTier, DocumentsTier):
    register(_kind)

__all__ = [
    "ContextTier",
    "Offer",
    "Section",
    "Tier",
    "TierRequest",
    "TierStores",
    "build_tiers",
    "configured_share",
    "recalled_tiers",
    "register",
    "registered",
    "report_titles",
    "tier_shares",
    "unregister",
]
