"""What the message states mean for a command (the states: scheduler.db.states).

Kept free of the database layer so that the CLI can offer the states (`outbox --state`) when
it only prints --help.
"""

from __future__ import annotations

from scheduler.db.states import MessageState

# In the order a message passes through them: queued, claimed by a sender, then one of the last
# two. A failed message stays failed until `outbox retry` requeues it. Plain values, because
# click matches Enum choices by name ("PENDING"), not by value.
STATES: tuple[str, ...] = tuple(state.value for state in MessageState)
# Not delivered and nobody is sending it now: a command whose messages end in one of these
# exits 1. `sending` is in another process's hand, not waiting.
WAITING = frozenset({MessageState.PENDING, MessageState.FAILED})
# What `outbox retry` may move back to pending; `sent` and `sending` are left alone.
REQUEUEABLE = frozenset({MessageState.PENDING, MessageState.FAILED})
