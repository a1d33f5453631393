"""The web app's session cookie, CSRF tokens and sign-in rate limit.

The session is a cookie signed with the key from `web.secret_env` (itsdangerous, HMAC-SHA256;
tampering makes it invalid): it holds the signed-in email
(or none), the CSRF token and when it was issued. It is `HttpOnly` and `SameSite=Lax`, `Secure`
when the app is served over https, and expires `SESSION_SECONDS` after sign-in (checked
against the app's clock, not only the browser's Max-Age). The CSRF token is the synchronizer
token of OWASP's CSRF cheat sheet: random per session, in a hidden field of every form, compared
in constant time on every POST.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, replace
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

COOKIE = "sistercity_session"
SESSION_SECONDS = 8 * 3600  # a working day; then sign in again
LOGIN_FAILURES = 5  # failed sign-ins allowed per email …
# … and per client address, higher: an office behind one NAT address shares it, so one
# person's typos must not lock out the unit; it still stops one client trying many accounts.
CLIENT_LOGIN_FAILURES = 50
LOGIN_WINDOW_SECONDS = 15 * 60  # … within this window; then 429 until the oldest ages out


@dataclass(frozen=True)
class Session:
    """One browser's session: the signed-in email ("" when signed out), the CSRF token, when
    it was issued (Unix seconds, the app's clock), the language chosen while signed out, and
    which account it was signed in to (`account`: its creation time, ISO): an account removed
    and added again under the same email is another account, and an old session of the first
    one does not open it."""

    email: str
    csrf: str
    issued: float
    lang: str = ""
    account: str = ""

    @classmethod
    def fresh(cls, now: dt.datetime, lang: str = "") -> Session:
        """A signed-out session with a new CSRF token."""
        return cls("", secrets.token_urlsafe(32), now.timestamp(), lang)

    def signed_in(self, email: str, now: dt.datetime, account: str) -> Session:
        """The session after signing in to the account `email` made at `account` (ISO): a new
        token too (no fixation of a token seen before)."""
        return Session(email, secrets.token_urlsafe(32), now.timestamp(), self.lang, account)

    def with_lang(self, lang: str) -> Session:
        """The same session with another language for the signed-out pages."""
        return replace(self, lang=lang)

    def csrf_ok(self, token: str | None) -> bool:
        """Whether `token` (from a form) is this session's CSRF token."""
        return bool(token) and hmac.compare_digest(str(token).encode(), self.csrf.encode())


class SessionCodec:
    """Reads and writes the session cookie with the signing key `secret`."""

    def __init__(self, secret: str, *, secure: bool) -> None:
        self._serializer = URLSafeSerializer(
            secret, salt="sistercity-session", signer_kwargs={"digest_method": hashlib.sha256})
        self.secure = secure

    def load(self, cookie: str | None, now: dt.datetime) -> Session | None:
        """The session in `cookie`, or None when there is none, it was tampered with, or it
        is older than SESSION_SECONDS at `now`."""
        if not cookie:
            return None
        try:
            data: Any = self._serializer.loads(cookie)
            session = Session(str(data["e"]), str(data["c"]), float(data["t"]),
                              str(data.get("l", "")), str(data.get("a", "")))
        except (BadSignature, KeyError, TypeError, ValueError):
            return None
        age = now.timestamp() - session.issued
        if age > SESSION_SECONDS or age < -60:
            return None
        return session

    def header(self, session: Session) -> str:
        """The Set-Cookie header value for `session`."""
        value = self._serializer.dumps({"e": session.email, "c": session.csrf,
                                        "t": session.issued, "l": session.lang,
                                        "a": session.account})
        parts = [f"{COOKIE}={value}", "Path=/", f"Max-Age={SESSION_SECONDS}", "HttpOnly",
                 "SameSite=Lax"]
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts)


class LoginLimiter:
    """Failed sign-ins per key (``email:<address>``, ``client:<ip>``) in a sliding window:
    after `limit` failures of an email (LOGIN_FAILURES), or `client_limit` of a client address
    (CLIENT_LOGIN_FAILURES), within LOGIN_WINDOW_SECONDS, `reserve` refuses until the oldest
    ages out (OWASP Authentication Cheat Sheet: per account, and a higher per-address limit).
    In memory, per process (one web process per site: see docs/operations.md)."""

    def __init__(self, limit: int = LOGIN_FAILURES,
                 window_seconds: float = LOGIN_WINDOW_SECONDS,
                 client_limit: int = CLIENT_LOGIN_FAILURES) -> None:
        self.limit = limit
        self.client_limit = client_limit
        self.window = window_seconds
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()  # pages run in a thread pool

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures[key]
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def _limit_of(self, key: str) -> int:
        return self.client_limit if key.startswith("client:") else self.limit

    def reserve(self, keys: list[str], now: dt.datetime) -> bool:
        """One sign-in attempt, checked and counted in one step (so that attempts racing each
        other cannot all pass the check before any is counted): False when any of `keys` has
        reached its limit at `now`; else True, counted as a failure of each key until the
        password proves right (`forgive`)."""
        t = now.timestamp()
        with self._lock:
            if any(len(self._recent(k, t)) >= self._limit_of(k) for k in keys):
                return False
            for key in keys:
                self._recent(key, t).append(t)
            return True

    def forgive(self, keys: list[str], now: dt.datetime) -> None:
        """Take back the attempt `reserve` counted at `now` against each of `keys` (the
        password was right)."""
        t = now.timestamp()
        with self._lock:
            for key in keys:
                times = self._failures.get(key)
                if times and t in times:
                    times.remove(t)

    def clear(self, key: str) -> None:
        """Forget the failures of `key` (an email that just signed in)."""
        with self._lock:
            self._failures.pop(key, None)
