"""Signed links of SPEC "The way back": action links in internal emails and calendar-feed URLs.

An action link names one recipient, one item (job, item id, occurrence) and one action, and
when it was issued. It is signed with the key from the variable that `web.secret_env` names
(itsdangerous, HMAC-SHA256 over the JSON claim, salt ``sistercity.action``), so changing any
byte of it makes it invalid; it expires `LINK_MAX_AGE` after it was issued (checked against the
caller's clock, so tests inject time). A feed URL names one working group, is signed with the
same key under another salt (``sistercity.feed``) and does not expire.

Revoking every link at once is rotating the key: links and feed URLs signed with the old key
then fail as tampered (docs/operations.md, "Threat model of the links").
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeSerializer

LINK_MAX_AGE = dt.timedelta(days=60)  # SPEC "The way back": links work for 60 days
_ACTION_SALT = "sistercity.action"
_FEED_SALT = "sistercity.feed"


class LinkAction(StrEnum):
    """What a link's button does (SPEC "The way back")."""

    RECORD = "record"  # record an activity (dormant partner; anniversary: what was done/planned)
    SNOOZE = "snooze"  # dormant partner: no repeat to this recipient for repeat_days
    NO_ACTION = "no-action"  # anniversary: acknowledged, nothing planned
    DONE = "done"  # budget deadline: done, no further stage to anyone


class LinkError(Exception):
    """A link that cannot be used; its message is safe to show."""


class LinkTampered(LinkError):
    """The token is not one this key signed (edited, truncated, or signed with an old key)."""


class LinkExpired(LinkError):
    """The token is genuine but older than LINK_MAX_AGE; `claim` is what it said (so that
    the refusal can be shown in its reader's language)."""

    def __init__(self, message: str, claim: ActionClaim) -> None:
        super().__init__(message)
        self.claim = claim


@dataclass(frozen=True)
class ActionClaim:
    """What an action link grants: `recipient` (lower-cased address) may do `action` once on
    the item (`job`, `item` id, `occurrence` date as the planner names it). `issued` is an
    aware datetime, whole seconds."""

    recipient: str
    job: str
    item: str
    occurrence: dt.date
    action: LinkAction
    issued: dt.datetime

    @property
    def expires(self) -> dt.datetime:
        """When the link stops working: `issued` + LINK_MAX_AGE."""
        return self.issued + LINK_MAX_AGE


class LinkSigner:
    """Makes and reads the signed tokens with one key (`secret`, a non-empty string)."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("a signing key is needed for links")
        self._action = URLSafeSerializer(secret, salt=_ACTION_SALT)
        self._feed = URLSafeSerializer(secret, salt=_FEED_SALT)

    # ---- action links -----------------------------------------------------------------

    def action_token(self, *, recipient: str, job: str, item: str, occurrence: dt.date,
                     action: LinkAction, issued: dt.datetime) -> str:
        """The URL-safe token for one recipient, item, occurrence and action, issued at
        `issued` (aware). Raises ValueError for a naive `issued`."""
        if issued.tzinfo is None:
            raise ValueError("issued must be an aware datetime")
        claim = [recipient.strip().lower(), job, item, occurrence.isoformat(), str(action),
                 int(issued.timestamp())]
        token: str = self._action.dumps(claim)
        return token

    def read_action(self, token: str, *, now: dt.datetime) -> ActionClaim:
        """The claim of `token` as of `now` (aware). Raises LinkTampered when the signature
        or the content is wrong, LinkExpired when it is older than LINK_MAX_AGE."""
        try:
            raw: Any = self._action.loads(token)
        except (BadSignature, UnicodeError, ValueError) as exc:
            raise LinkTampered("this link is not valid: it was changed or cut short") from exc
        try:
            recipient, job, item, occurrence, action, issued = raw
            claim = ActionClaim(
                recipient=str(recipient), job=str(job), item=str(item),
                occurrence=dt.date.fromisoformat(occurrence), action=LinkAction(action),
                issued=dt.datetime.fromtimestamp(int(issued), dt.UTC))
        except (TypeError, ValueError) as exc:
            raise LinkTampered("this link is not valid: it was changed or cut short") from exc
        if now >= claim.expires:
            raise LinkExpired(f"this link expired on {claim.expires.date().isoformat()}", claim)
        return claim

    def action_url(self, base_url: str, **claim: Any) -> str:
        """The absolute URL `{base_url}/act/{token}` of `action_token(**claim)`."""
        return f"{base_url.rstrip('/')}/act/{self.action_token(**claim)}"

    # ---- calendar feeds ---------------------------------------------------------------

    def feed_token(self, group_id: str) -> str:
        """The secret token of one working group's calendar feed (no expiry)."""
        token: str = self._feed.dumps(group_id)
        return token

    def read_feed(self, token: str) -> str:
        """The working group id of a feed token. Raises LinkTampered."""
        try:
            group = self._feed.loads(token)
        except (BadSignature, UnicodeError, ValueError) as exc:
            raise LinkTampered("this calendar address is not valid") from exc
        if not isinstance(group, str):
            raise LinkTampered("this calendar address is not valid")
        return group

    def feed_url(self, base_url: str, group_id: str) -> str:
        """The subscription URL of a group's feed: `webcal://host[:port]/path/feed/{token}.ics`
        (the webcal scheme that calendar programs subscribe to; the same path over
        `base_url`'s http or https serves it)."""
        parts = urlsplit(base_url.rstrip("/"))
        return f"webcal://{parts.netloc}{parts.path}/feed/{self.feed_token(group_id)}.ics"

    def feed_https_url(self, base_url: str, group_id: str) -> str:
        """The same feed as `feed_url` over `base_url`'s own scheme (for a download link)."""
        return f"{base_url.rstrip('/')}/feed/{self.feed_token(group_id)}.ics"
