"""The links internal emails carry when `web.base_url` is set (SPEC "The way back"): one
signed action link per item and action, for its reader only, and each lead's group calendar
feeds.

`EmailLinks` is made once per run (`for_run`) and handed to the renderer; templates ask for a
link with `act(item, action)` (scheduler.mail.render), which signs it for the email's reader
with the run's time as the link's issue time (it works 60 days from then).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from scheduler.links import LinkAction, LinkSigner
from scheduler.registry.domain import Registry

# The actions each job's links offer (SPEC "The way back"), in the order the email shows them.
JOB_ACTIONS: Mapping[str, tuple[LinkAction, ...]] = {
    "dormant-partners": (LinkAction.RECORD, LinkAction.SNOOZE),
    "anniversaries": (LinkAction.RECORD, LinkAction.NO_ACTION),
    "budget-deadlines": (LinkAction.DONE,),
}


@dataclass(frozen=True)
class Feed:
    """One working group's calendar feed as an email names it: the group's English and Thai
    names and its `webcal://` subscription URL."""

    name: str
    name_th: str
    url: str


@dataclass(frozen=True)
class EmailLinks:
    """What the renderer needs to link a run's emails: the signer (the key from
    `web.secret_env`), `base_url` (no trailing slash), the run's time (`issued`, aware: the
    links' issue time) and, by lower-cased address, the feeds of the groups each lead leads."""

    signer: LinkSigner
    base_url: str
    issued: dt.datetime
    feeds: Mapping[str, tuple[Feed, ...]]

    def action_url(self, recipient: str, job: str, item: str, occurrence: dt.date,
                   action: LinkAction) -> str:
        """The absolute, signed URL of one action on one item for `recipient`."""
        return self.signer.action_url(self.base_url, recipient=recipient, job=job, item=item,
                                      occurrence=occurrence, action=action, issued=self.issued)

    @classmethod
    def for_run(cls, signer: LinkSigner, base_url: str, registry: Registry,
                issued: dt.datetime) -> EmailLinks:
        """The links of one run: each working group's feed under its lead's address."""
        feeds: dict[str, list[Feed]] = {}
        for group in registry.working_groups.values():
            lead = registry.group_lead(group.id)
            if lead is None:
                continue
            url = signer.feed_url(base_url, group.id)
            feeds.setdefault(lead.address, []).append(
                Feed(group.name, group.name_th or group.name, url))
        return cls(signer, base_url.rstrip("/"), issued,
                   {address: tuple(found) for address, found in feeds.items()})


# What templates call: act(item, action) → the URL, "" for an item of no notice of the email.
# `item` is a notice's context (the same object the template iterates over), found by id.
Act = Callable[[Mapping[str, Any], str], str]
# sign(item id, occurrence, action) → one reader's URL
Sign = Callable[[str, dt.date, LinkAction], str]


def signed_act(links: EmailLinks, job: str, address: str,
               keys: Mapping[int, tuple[str, dt.date]]) -> Act:
    """`act` for an email rendered for one reader (`address`): each link signed for them.
    `keys` maps id(context) → (item id, occurrence) of the email's notices."""
    made: dict[tuple[int, str], str] = {}

    def act(item: Mapping[str, Any], action: str) -> str:
        key = keys.get(id(item))
        if key is None:
            return ""
        url = made.get((id(item), action))
        if url is None:
            url = links.action_url(address, job, key[0], key[1], LinkAction(action))
            made[(id(item), action)] = url
        return url

    return act


class LinkSlots:
    """The links of a rendering shared by several readers: `act` puts `prefix` + n in the
    body for the n-th (item, occurrence, action) asked for, and `fill` replaces those slots
    with one reader's signed URLs, in one pass over each body. `prefix` must be text no data
    can contain (128 random bits) made of letters, digits and "-", which escaping and wrapping
    leave alone."""

    def __init__(self, prefix: str, keys: Mapping[int, tuple[str, dt.date]]) -> None:
        self.prefix = prefix
        self._keys = keys
        self._wanted: list[tuple[str, dt.date, LinkAction]] = []
        self._index: dict[tuple[str, dt.date, LinkAction], int] = {}
        self._slot = re.compile(re.escape(prefix) + "([0-9]+)")

    def act(self, item: Mapping[str, Any], action: str) -> str:
        """The slot of `action` on `item` (see Act)."""
        found = self._keys.get(id(item))
        if found is None:
            return ""
        want = (found[0], found[1], LinkAction(action))
        index = self._index.get(want)
        if index is None:
            index = self._index[want] = len(self._wanted)
            self._wanted.append(want)
        return f"{self.prefix}{index}"

    def fill(self, bodies: tuple[str, str], sign: Sign) -> tuple[str, str]:
        """`bodies` (text, HTML) with every slot replaced by `sign`'s URL."""
        if not self._wanted:
            return bodies
        urls = [sign(*want) for want in self._wanted]

        def url(match: re.Match[str]) -> str:
            return urls[int(match.group(1))]

        return self._slot.sub(url, bodies[0]), self._slot.sub(url, bodies[1])
