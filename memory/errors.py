"""The project's one exception hierarchy.

Every layer raises these (``memory/`` is the bottom layer, so the hierarchy lives
here and ``assistant/`` imports it). Each error carries a one-line ``message``
saying what is wrong and, where there is one, a ``hint`` saying what to do. The
faces (Chainlit app, CLI, MCP server) turn them into human messages with
:func:`describe`; anything that is not an ``AssistantError`` is a bug.

    AssistantError
    ├── ConfigError          bad settings, unwritable data directory
    ├── ServiceError         an embedded server cannot start, stop or be reached
    ├── StoreError           a store failed
    │   └── SchemaError      the database cannot be migrated (e.g. no pgvector)
    ├── InvalidInputError    bad user input; nothing was changed
    ├── NotFoundError        a user, thread or message that does not exist
    ├── ProviderError        the chat model call failed
    │   ├── ContextLengthError   the provider found the request longer than its context window
    │   └── StreamIncomplete     a reply's stream ended early (assistant/providers/base.py: it carries
    │                            the provider layer's reason, so it lives beside the stream types)
    └── RateLimitError       a user reached a rate limit (turns per minute or day, tokens per day)
"""

from __future__ import annotations

from memory.redaction import redact


class AssistantError(Exception):
    """Base of every error the assistant reports to a person."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class ConfigError(AssistantError):
    """Settings or the environment are wrong (bad value, unwritable directory)."""


class ServiceError(AssistantError):
    """An embedded Postgres or Redis server cannot be started, stopped or reached."""


class StoreError(AssistantError):
    """A store (Postgres, Redis) failed."""


class SchemaError(StoreError):
    """The database schema cannot be brought to the current version."""


class InvalidInputError(AssistantError):
    """Input that is rejected; nothing was changed."""


class NotFoundError(AssistantError):
    """A user, thread or message that does not exist (or is not the caller's)."""


class ProviderError(AssistantError):
    """The chat model (any LiteLLM provider or the local model) failed."""


class ContextLengthError(ProviderError):
    """The provider rejected the request as longer than its context window."""


def describe(error: BaseException) -> str:
    """One human line for any error; unknown errors are named as such. A password a driver or a URL put in the
    text is hidden, whatever the error."""
    if isinstance(error, AssistantError):
        return redact(str(error))
    return redact(f"unexpected error: {type(error).__name__}: {error}")


class RateLimitError(AssistantError):
    """A user reached a rate limit; ``retry_after_s`` says when the next turn is allowed. The user's message
    that was refused an answer stays stored (``message_id``), so a retry answers it without sending it again."""

    def __init__(self, message: str, *, retry_after_s: float, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after_s = retry_after_s
        self.message_id: object | None = None
