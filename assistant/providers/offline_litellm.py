"""LiteLLM, imported with its network look-ups switched off.

LiteLLM fetches its cost map and Hugging Face tokenizers at import and when
counting tokens unless told not to; this machine (and CI) is offline. Import
``litellm`` from here, never directly.
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import litellm
from litellm import exceptions as llm_errors

litellm.telemetry = False
litellm.suppress_debug_info = True

__all__ = ["litellm", "llm_errors"]
