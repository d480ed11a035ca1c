"""What one turn may read from and write to memory: the user's switches, decided once per turn, on every face.

- Long-term memory off (the user's preference ``memory``): nothing recalled from long-term memory (episodic
  turns, facts), nothing written to it (no episodic memory, no fact extraction); the chat itself goes on.
- A temporary chat (a thread marked ``temporary``): the same, and no rolling summary of it either.
- A private message (``/private``): the same for that message and its reply, which are also kept out of the
  short-term window and the rolling summary, so later turns never see them; they stay in the log, marked.

Pinned memories are the user's standing instructions: they reach the model in every case.
"""

from __future__ import annotations

from dataclasses import dataclass

from memory.conversations import MemorySwitches

OFF_FOR_ALL = "long-term memory is off for all your chats"
TEMPORARY = "this is a temporary chat"
PRIVATE = "this message is private"


@dataclass(frozen=True)
class MemoryUse:
    recall: bool = True  # read long-term memory (pinned memories are read regardless)
    write: bool = True  # episodic memory and fact extraction
    summarize: bool = True  # fold this thread's older turns into its rolling summary
    private: bool = False  # the message and its reply stay out of the short-term window and the summary
    why_off: str | None = None  # why long-term memory is not used on this turn, in words for the user

    @classmethod
    def decide(cls, switches: MemorySwitches, *, private: bool = False) -> MemoryUse:
        reasons = [
            reason
            for reason, applies in (
                (PRIVATE, private),
                (TEMPORARY, switches.temporary),
                (OFF_FOR_ALL, not switches.long_term),
            )
            if applies
        ]
        long_term = not reasons
        return cls(
            recall=long_term,
            write=long_term,
            summarize=not switches.temporary,
            private=private,
            why_off=reasons[0] if reasons else None,
        )
