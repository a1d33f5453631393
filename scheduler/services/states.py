"""The message states, in a module of their own so the CLI can offer them (`outbox --state`)
without importing the database layer when it only prints --help."""

from __future__ import annotations

# The order a message passes through them: queued, claimed by a sender, then one of the last
# two. A failed message stays failed until `outbox retry` requeues it.
STATES: tuple[str, ...] = ("pending", "sending", "sent", "failed")
# Not delivered and nobody is sending it now: a command whose messages end in one of these
# exits 1. `sending` is in another process's hand, not waiting.
WAITING = frozenset({"pending", "failed"})
# What `outbox retry` may move back to pending; `sent` and `sending` are left alone.
REQUEUEABLE = frozenset({"pending", "failed"})
