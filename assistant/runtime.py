"""Everything one process needs, started from the settings: servers, schema, stores, model, pipeline.

The faces (Chainlit app, CLI) start a ``Runtime`` and talk only to what it holds.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass

from psycopg_pool import AsyncConnectionPool

from assistant.context.budget import TierShares
from assistant.context.manager import ContextManager
from assistant.context.templates import ContextTemplates
from assistant.context.tiers import TierStores, build_tiers, tier_shares
from assistant.embedded.manager import Endpoints, ensure_running
from assistant.jobs import kinds
from assistant.jobs.handlers import Handlers
from assistant.jobs.queue import JobQueue
from assistant.pipeline.background import BackgroundWork
from assistant.pipeline.extraction import Extractor
from assistant.pipeline.memory_writer import MemoryWriter
from assistant.pipeline.summarizer import Summarizer
from assistant.pipeline.turn import TurnPipeline
from assistant.prompts import load_prompt
from assistant.providers.base import ChatModel
from assistant.providers.embedders import build_embedder
from assistant.providers.factory import NoChatModel, build_chat_model
from assistant.providers.profile import embedder_profile, extraction_status, profile_for
from assistant.providers.tokens import TokenCounter, forget_counted_texts
from assistant.settings import Settings
from assistant.telemetry import configure_tracing
from memory.accounts import AccountStore
from memory.context_reports import ContextReportStore
from memory.conversations import ConversationStore
from memory.db.migrations import migrate
from memory.db.pool import open_pool
from memory.documents.service import DocumentService
from memory.documents.tier import DocumentTier
from memory.embeddings import Embedder
from memory.long_term.episodic import EpisodicWriter
from memory.long_term.search import HybridSearch
from memory.long_term.service import MemoryService
from memory.long_term.store import MemoryStore
from memory.long_term.tier import LongTermTier
from memory.portability import Portability
from memory.short_term.connection import KeySpace, RedisClient, open_redis
from memory.short_term.rate_limit import Limits, RateLimiter
from memory.short_term.summaries import SummaryStore
from memory.short_term.window import ShortTermMemory


async def load_tokenizer(model: str) -> None:
    """Load ``model``'s tokenizer, and LiteLLM with it, off the event loop. Faces that serve chats do it at
    start-up: no turn then waits on the import, and the start-up heap they freeze includes it."""
    await asyncio.to_thread(TokenCounter(model).text, "")


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
    redis: RedisClient
    conversations: ConversationStore
    short_term: ShortTermMemory
    reports: ContextReportStore
    memories: MemoryService
    episodic: EpisodicWriter
    context: ContextManager
    model: ChatModel
    window: int
    background: BackgroundWork
    pipeline: TurnPipeline
    documents: DocumentService
    jobs: JobQueue
    extractor: Extractor | None = None

    @classmethod
    async def start(
        cls,
        settings: Settings,
        *,
        model: ChatModel | None = None,
        embedder: Embedder | None = None,
        pool_size: int = 10,
        chat: bool = True,
        check_embedder: bool = True,
    ) -> Runtime:
        """Start everything; with ``chat=False`` (memory commands) no chat model is started."""
        configure_tracing(settings.otel_endpoint)
        endpoints = await prepare_stores(settings)
        pool = await open_pool(endpoints.database_url, max_size=pool_size)
        redis: RedisClient | None = None
        try:
            redis = await open_redis(endpoints.redis_url)
            chat_model = model or (await build_chat_model(settings) if chat else NoChatModel(settings.model))
            if chat:
                await load_tokenizer(chat_model.name)
            chosen_embedder = embedder or build_embedder(settings)
            if check_embedder:
                await MemoryStore(pool).check_embedding_model(chosen_embedder.name, chosen_embedder.dim)
        except BaseException:
            if redis is not None:
                await redis.aclose()
            await pool.close()
            raise
        return cls.assemble(settings, endpoints, pool, redis, chat_model, chosen_embedder)

    @classmethod
    def assemble(
        cls,
        settings: Settings,
        endpoints: Endpoints,
        pool: AsyncConnectionPool,
        redis: RedisClient,
        model: ChatModel,
        embedder: Embedder,
    ) -> Runtime:
        """Wire the stores, the context manager and the pipeline (no I/O)."""
        conversations = ConversationStore(pool)
        short_term = ShortTermMemory(
            redis,
            KeySpace(settings.redis_prefix),
            conversations,
            SummaryStore(pool),
            window_turns=settings.short_term_turns,
            backlog_turns=2 * settings.summary_batch,
            ttl_s=settings.short_term_ttl_s,
        )
        reports = ContextReportStore(pool)
        profile = profile_for(model.name, settings)
        calibrated = embedder_profile(embedder.name)
        memories = MemoryService(
            pool,
            embedder,
            short_term,
            HybridSearch(pool, embedder),
            floor=calibrated.memory_floor,
            near_duplicate=calibrated.near_duplicate,
        )
        memories.at_rest.rewrite_always = settings.forget_rewrites_tables
        episodic = EpisodicWriter(pool, memories.store, embedder)
        long_term = LongTermTier(
            memories, context_vectors=settings.recall_context_vectors, centred=settings.recall_centred
        )
        documents = DocumentService(
            pool,
            embedder,
            count_tokens=TokenCounter(profile.tokenizer).text,
            max_bytes=int(settings.max_document_mb * 1024 * 1024),
            chunk_tokens=settings.document_chunk_tokens,
            overlap_tokens=settings.document_overlap_tokens,
        )
        documents.at_rest = memories.at_rest
        documents.index_job = kinds.job(kinds.EMBED_DOCUMENT)  # uploads return once stored; a worker embeds
        context = ContextManager(
            build_tiers(
                TierStores(short_term, long_term, long_term, DocumentTier(documents, floor=calibrated.document_floor))
            ),
            system_prompt=load_prompt(settings.prompts_dir, "system"),
            templates=ContextTemplates.load(settings.prompts_dir),
            shares=tier_shares(settings),
            answer_tokens=_answer_tokens(settings.answer_tokens, model),
            margin_tokens=settings.margin_tokens,
        )
        window = profile.window(reported=model.context_window)
        background = BackgroundWork()
        summarizer = Summarizer(
            conversations,
            short_term,
            model,
            instructions=load_prompt(settings.prompts_dir, "summarize"),
            window=context.budget(window).total,
            summary_tokens=settings.summary_tokens,
            batch=settings.summary_batch,
            concurrency=settings.summary_concurrency,
        )
        extracting, _ = extraction_status(settings)
        extractor = None
        if extracting:
            extractor = Extractor(
                conversations,
                memories,
                model,
                extract_prompt=load_prompt(settings.prompts_dir, "extract"),
                reconcile_prompt=load_prompt(settings.prompts_dir, "reconcile"),
            )
        remembering = episodic if settings.memory_enabled else None
        jobs = JobQueue(
            pool,
            endpoints.database_url,
            settings,
            Handlers(conversations, remembering, summarizer, extractor, documents, memories),
        )
        # What forgetting must also reach in this process and in the queue: queued turns and jobs, cached texts.
        memories.on_forget(episodic.discard)
        memories.on_forget(forget_counted_texts)
        memories.on_forget(jobs.drop_forgotten)
        writer = MemoryWriter(short_term, kinds.TurnJobs(remembering=settings.memory_enabled, extracting=extracting))
        pipeline = TurnPipeline(
            conversations,
            writer,
            context,
            reports,
            model,
            window=window,
            summarizer=summarizer,
            background=background,
            limits=RateLimiter(redis, settings.redis_prefix, rate_limits(settings)),
            max_message_chars=settings.max_message_chars,
        )
        return cls(
            settings,
            endpoints,
            pool,
            redis,
            conversations,
            short_term,
            reports,
            memories,
            episodic,
            context,
            model,
            window,
            background,
            pipeline,
            documents,
            jobs,
            extractor,
        )

    @property
    def accounts(self) -> AccountStore:
        """Users, passwords and API tokens (stateless over the pool)."""
        return AccountStore(self.pool)

    @property
    def portability(self) -> Portability:
        """Export a user's data to the open JSONL format and import it (docs/export-format.md)."""
        return Portability(self.pool, self.memories.embedder, max_message_chars=self.settings.max_message_chars)

    @property
    def runs_jobs(self) -> bool:
        """Whether this process runs the queue's jobs (``ASSISTANT_WORKERS=in-process``, the default)."""
        return self.settings.workers == "in-process"

    def start_workers(self) -> None:
        """Run the queue's jobs in this process, unless workers are external (one-shot commands drain instead),
        and queue a backfill of episodic memory for any stored turn a crash or a shutdown left unembedded."""
        if self.runs_jobs:
            self.jobs.start()
        self.backfill_memories()

    def backfill_memories(self) -> None:
        """Queue a backfill of episodic memory for stored turns that have none (a crash, a shutdown or a store
        fault left them out). Every long-running face calls it when it starts."""
        self.background.spawn("episodic-backfill", self.jobs.defer([kinds.job(kinds.BACKFILL)]))

    async def drain(self) -> None:
        """Finish background work: this process's tasks and, when it runs jobs, every queued job (summaries,
        episodic memory, extraction), so the next command sees their results."""
        await self.background.drain()
        if self.runs_jobs:
            await self.jobs.drain()
        await self.episodic.flush()
        await self.memories.at_rest.settle()  # forgotten text leaving Postgres's files

    async def close(self) -> None:
        await self.jobs.stop()
        await self.drain()
        await self.jobs.close()
        await self.model.aclose()
        await self.redis.aclose()
        await self.pool.close()

    def turn_pipeline(
        self,
        *,
        model: ChatModel | None = None,
        answer_tokens: int | None = None,
        shares: TierShares | None = None,
        system_note: str | None = None,
    ) -> TurnPipeline:
        """A pipeline for one turn with the chat's choices: another model, another answer length or other budget
        shares, and a note added to the system prompt (the user's time zone and preferred answer length). The
        memory switches (off for all chats, temporary chat, private message) are obeyed by every pipeline."""
        chosen = model or self.model
        if answer_tokens is not None or model is not None:
            answer_tokens = _answer_tokens(answer_tokens or self.settings.answer_tokens, chosen)
            if answer_tokens == self.context.answer_tokens:
                answer_tokens = None
        if model is None and answer_tokens is None and shares is None and not system_note:
            return self.pipeline
        context = self.context
        if answer_tokens is not None or shares is not None or system_note:
            context = copy.copy(self.context)
            if answer_tokens is not None:
                context.answer_tokens = answer_tokens
            if shares is not None:
                context.shares = context.with_shares(shares)
            if system_note:
                context.system_prompt = f"{self.context.system_prompt.rstrip()}\n\n{system_note}"
        window = profile_for(chosen.name, self.settings).window(reported=chosen.context_window)
        return TurnPipeline(
            self.conversations,
            self.pipeline.writer,
            context,
            self.reports,
            chosen,
            window=window,
            summarizer=self.pipeline.summarizer,
            background=self.background,
            limits=self.pipeline.limits,
            max_message_chars=self.settings.max_message_chars,
        )


def rate_limits(settings: Settings) -> Limits:
    """Each user's limits on turns and tokens, from the settings (docs/reliability.md)."""
    return Limits(settings.rate_turns_per_minute, settings.rate_turns_per_day, settings.rate_tokens_per_day)


def _answer_tokens(requested: int, model: ChatModel) -> int:
    """The answer length asked for, within the model's own cap (the tiny local model only repeats itself past it)."""
    return min(requested, model.answer_cap) if model.answer_cap else requested
