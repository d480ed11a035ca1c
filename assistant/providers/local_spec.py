"""How the offline default model (SmolLM2-135M-Instruct) is served and sampled; what the rest of the assistant
needs to know about it is in its profile (assistant/providers/profile.py).

The sampling and stop markers were chosen with `assistant bench local` (figures in docs/benchmarks.md): without them
the 135M model often repeats a phrase until the token limit, which on two cores takes over a minute.
"""

from __future__ import annotations

MODEL_NAME = "smollm2-135m-instruct"
LITELLM_NAME = f"openai/{MODEL_NAME}"
# Where a reply must end even if the model does not emit end-of-turn: the chat template's markers, and the
# model starting to write the user's next turn itself.
STOP = ["<|im_end|>", "<|im_start|>", "<|endoftext|>", "\nUser:", "\nuser:"]
# Repetition control, as llama.cpp's sampling defaults for every request: DRY ("don't repeat yourself")
# penalises continuing a sequence of more than DRY_ALLOWED_LENGTH tokens that is already in the context, which
# ends the loops. A classic repeat penalty is left off: llama.cpp applies it to the prompt's tokens too, and at
# 1.1 it pushed this model away from the words of the question, into French and Italian (docs/benchmarks.md).
REPEAT_PENALTY = 1.0
REPEAT_LAST_N = 64
DRY_MULTIPLIER = 0.8
DRY_BASE = 1.75
DRY_ALLOWED_LENGTH = 3
