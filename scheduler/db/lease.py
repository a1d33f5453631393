"""The daemons' lease on PostgreSQL (SPEC "Delivery"), in SQL: take it, renew it, give it back,
and the fence that the leader's writes check.

Every time is the database's clock (`clock_timestamp()`), never a host's: two hosts whose
clocks disagree still agree on who holds the lease. `term` goes up by one at every takeover; a
leader that was replaced (frozen, cut off) still carries its old term, so its writes fail the
fence and are rolled back.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

LEASE_NAME = "daemon"

_NOW = "(clock_timestamp() AT TIME ZONE 'UTC')"  # naive UTC, like the column


class Fenced(Exception):
    """A write made as leader under a term that is no longer the lease's: another daemon took
    over. The write was rolled back."""

    def __init__(self, holder: str, term: int) -> None:
        # The arguments are the exception's args, so that it pickles as it is: it is raised
        # in a job's child process and re-raised in the daemon.
        super().__init__(holder, term)
        self.holder = holder
        self.term = term

    def __str__(self) -> str:
        return (f"daemon {self.holder} lost the lease (term {self.term}): another daemon "
                "took over; nothing was written")


@dataclass(frozen=True)
class Fence:
    """The term a leader writes under. `check` runs inside the write's own transaction."""

    holder: str
    term: int
    name: str = LEASE_NAME

    def check(self, session: Session) -> None:
        """Touch the lease row if it still carries our holder and term, which also locks it
        until this transaction ends (a takeover waits for our commit, so our write comes
        before the new term's). Raises Fenced otherwise; the caller's transaction rolls
        back."""
        result = session.execute(
            text("UPDATE leases SET term = term WHERE name = :n AND holder = :h AND term = :t"),
            {"n": self.name, "h": self.holder, "t": self.term})
        if int(getattr(result, "rowcount", 0) or 0) != 1:
            raise Fenced(self.holder, self.term)


def take(conn: Connection, holder: str, seconds: float, name: str = LEASE_NAME) -> int | None:
    """Take the lease for `seconds` if it is free, expired or already `holder`'s, with a new
    term; returns that term, or None while another holder's lease runs. One compare-and-set
    UPDATE: two takers at once cannot both win. `conn` in autocommit."""
    conn.execute(text("INSERT INTO leases (name, holder, term, expires_at) "
                      "VALUES (:n, NULL, 0, NULL) ON CONFLICT (name) DO NOTHING"), {"n": name})
    term = conn.execute(
        text(f"UPDATE leases SET holder = :h, term = term + 1, "
             f"expires_at = {_NOW} + make_interval(secs => :s) "
             f"WHERE name = :n AND (holder IS NULL OR holder = :h OR expires_at IS NULL "
             f"OR expires_at <= {_NOW}) RETURNING term"),
        {"n": name, "h": holder, "s": seconds}).scalar()
    return None if term is None else int(term)


def renew(conn: Connection, fence: Fence, seconds: float) -> bool:
    """Push the lease's expiry `seconds` past now, if it still carries `fence`'s holder and
    term (an expired lease nobody took yet is renewed too: nobody else wrote meanwhile).
    False when another daemon took over."""
    result = conn.execute(
        text(f"UPDATE leases SET expires_at = {_NOW} + make_interval(secs => :s) "
             "WHERE name = :n AND holder = :h AND term = :t"),
        {"n": fence.name, "h": fence.holder, "t": fence.term, "s": seconds})
    return int(getattr(result, "rowcount", 0) or 0) == 1


def give_back(conn: Connection, fence: Fence) -> None:
    """Free the lease at once (a clean stop), keeping its term for the next taker."""
    conn.execute(text("UPDATE leases SET holder = NULL, expires_at = NULL "
                      "WHERE name = :n AND holder = :h AND term = :t"),
                 {"n": fence.name, "h": fence.holder, "t": fence.term})
