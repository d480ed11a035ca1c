"""Whose memory a request may touch: the configured user (stdio) or the owner of the bearer token (HTTP)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.fastmcp.exceptions import ToolError

from assistant.application.facade import Assistant
from memory.conversations import User


@dataclass
class Scope:
    """Set when the server starts; ``fixed`` is the stdio user, ``None`` means "the token's owner"."""

    assistant: Assistant | None = None
    fixed: User | None = None
    _users: dict[uuid.UUID, User] = field(default_factory=dict)

    @property
    def app(self) -> Assistant:
        if self.assistant is None:
            raise ToolError("the memory server is not ready")
        return self.assistant

    async def caller(self, claimed: str | None = None) -> User:
        """The user this request acts for; naming anyone else is refused before anything is read or written."""
        user = self.fixed if self.fixed is not None else await self._token_user()
        if claimed is not None and claimed.strip() and claimed.strip() not in (user.name, str(user.id)):
            raise ToolError(f"this connection is scoped to user {user.name!r}; it cannot act for {claimed!r}")
        return user

    async def _token_user(self) -> User:
        token = get_access_token()
        if token is None:
            raise ToolError("not authenticated: send a bearer token from `assistant users token USER`")
        user_id = uuid.UUID(token.client_id)
        if user_id not in self._users:
            self._users[user_id] = await self.app.accounts.get_by_id(user_id)
        return self._users[user_id]


class AccountTokenVerifier:
    """Bearer tokens issued with `assistant users token`, checked against their stored hash."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    async def verify_token(self, token: str) -> AccessToken | None:
        if self.scope.assistant is None:
            return None
        user = await self.scope.assistant.accounts.user_for_token(token)
        if user is None:
            return None
        return AccessToken(token=token, client_id=str(user.id), scopes=[], subject=user.name)
