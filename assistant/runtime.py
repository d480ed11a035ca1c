"""Everything one process needs, started from the settings: servers, schema, stores, model, pipeline.

The faces (Chainlit app, CLI) start a ``Runtime`` and talk only to what it holds.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool

from assistant.context.builder import RecentTurnsContext
from assistant.embedded.manager import Endpoints, ensure_running
from assistant.pipeline.turn import TurnPipeline
from assistant.prompts import load_prompt
from assistant.providers.base import ChatModel
from assistant.providers.factory import build_chat_model
from assistant.settings import Settings
from memory.conversations import ConversationStore
from memory.db.migrations import migrate
from memory.db.pool import open_pool
from memory.short_term.connection import open_redis


async def prepare_stores(settings: Settings) -> Endpoints:
    """Start what is embedded and bring the schema to the current version."""
    endpoints = await asyncio.to_thread(ensure_running, settings)
    await migrate(endpoints.database_url)
    return endpoints


@dataclass
class Runtime:
    settings: Settings
    endpoints: Endpoints
    pool: AsyncConnectionPool
    redis: aioredis.Redis
    conversations: ConversationStore
    model: ChatModel
    pipeline: TurnPipeline

    @classmethod
    async def start(cls, settings: Settings, *, model: ChatModel | None = None) -> Runtime:
        endpoints = await prepare_stores(settings)
        pool = await open_pool(endpoints.database_url)
        try:
            redis = await open_redis(endpoints.redis_url)
            chat_model = model or await build_chat_model(settings)
        except BaseException:
            await pool.close()
            raise
        conversations = ConversationStore(pool)
        context = RecentTurnsContext(conversations, load_prompt(settings.prompts_dir, "system"), settings.history_turns)
        pipeline = TurnPipeline(conversations, chat_model, context, answer_tokens=settings.answer_tokens)
        return cls(settings, endpoints, pool, redis, conversations, chat_model, pipeline)

    async def close(self) -> None:
        await self.model.aclose()
        await self.redis.aclose()
        await self.pool.close()
