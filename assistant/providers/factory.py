"""Choose the chat model the settings name: the local default, the fake, or any LiteLLM model."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from assistant.providers.base import ChatMessage, ChatModel, StreamEvent
from assistant.providers.fake import FakeChatModel, memory_reply
from assistant.providers.profile import DEFAULT_WINDOW, profile_for
from assistant.settings import FAKE_MODEL, LOCAL_MODEL, Settings
from memory.errors import ProviderError


class NoChatModel(ChatModel):
    """Stands in where a command needs the memory but never the chat model (nothing is started)."""

    # Nothing is ever sent to it: a window of its own spares reading LiteLLM's model map for one.
    context_window = DEFAULT_WINDOW

    def __init__(self, name: str) -> None:
        self.name = name

    def stream(self, messages: Sequence[ChatMessage], *, max_tokens: int) -> AsyncIterator[StreamEvent]:
        raise ProviderError("this command does not start a chat model")


async def build_chat_model(settings: Settings) -> ChatModel:
    if settings.model == FAKE_MODEL:
        return FakeChatModel(
            memory_reply if settings.fake_script == "memory" else None,
            context_window=settings.max_input_tokens or DEFAULT_WINDOW,
            token_delay_s=settings.fake_token_delay_s,
            record_path=settings.fake_record_path,
        )
    model = await _provider_model(settings)
    if profile_for(settings.model, settings).ends_repeats:
        from assistant.providers.repeat_guard import RepeatGuardedModel

        return RepeatGuardedModel(model)
    return model


async def _provider_model(settings: Settings) -> ChatModel:
    from assistant.providers.litellm_model import LiteLLMChatModel

    if settings.model == LOCAL_MODEL:
        from assistant.providers.local_model import LocalChatModel

        return await LocalChatModel.start(settings)
    return LiteLLMChatModel(
        settings.model,
        api_base=settings.api_base,
        timeout=settings.request_timeout,
        first_token_timeout=settings.first_token_timeout,
        idle_timeout=settings.idle_timeout,
        num_retries=settings.max_retries,
        fallbacks=settings.fallback_models,
        context_window=profile_for(settings.model, settings).configured_window,
    )
