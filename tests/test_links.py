"""The signed tokens of SPEC "The way back" (scheduler/links.py): a link names its recipient,
item, occurrence and action; any change to it, another key or age past 60 days refuses it."""

from __future__ import annotations

import datetime as dt

import pytest

from scheduler.links import LINK_MAX_AGE, LinkAction, LinkExpired, LinkSigner, LinkTampered

ISSUED = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)
CLAIM = dict(recipient="China-Lead@Example.org", job="dormant-partners", item="kengtung",
             occurrence=dt.date(2022, 1, 10), action=LinkAction.SNOOZE, issued=ISSUED)


def test_a_token_reads_back_as_its_claim_with_the_recipient_lower_cased() -> None:
    signer = LinkSigner("k" * 40)
    claim = signer.read_action(signer.action_token(**CLAIM), now=ISSUED)
    assert (claim.recipient, claim.job, claim.item, claim.occurrence, claim.action) == (
        "china-lead@example.org", "dormant-partners", "kengtung", dt.date(2022, 1, 10),
        LinkAction.SNOOZE)
    assert claim.issued == ISSUED and claim.expires == ISSUED + dt.timedelta(days=60)


def test_a_link_works_until_sixty_days_after_it_was_issued_and_not_after() -> None:
    signer = LinkSigner("k" * 40)
    token = signer.action_token(**CLAIM)
    signer.read_action(token, now=ISSUED + LINK_MAX_AGE - dt.timedelta(seconds=1))
    with pytest.raises(LinkExpired, match="expired on 2026-05-01"):
        signer.read_action(token, now=ISSUED + LINK_MAX_AGE)


def test_any_changed_character_or_another_key_is_refused() -> None:
    signer = LinkSigner("k" * 40)
    token = signer.action_token(**CLAIM)
    for i in range(0, len(token), 7):
        changed = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]
        with pytest.raises(LinkTampered):
            signer.read_action(changed, now=ISSUED)
    with pytest.raises(LinkTampered):
        LinkSigner("another key " * 4).read_action(token, now=ISSUED)
    with pytest.raises(LinkTampered):
        signer.read_action(token[:-3], now=ISSUED)
    with pytest.raises(LinkTampered):  # a feed token is not an action token
        signer.read_action(signer.feed_token("china"), now=ISSUED)


def test_action_and_feed_urls_are_absolute_under_the_base_url() -> None:
    signer = LinkSigner("k" * 40)
    url = signer.action_url("https://sistercity.example.org/office/", **CLAIM)
    assert url.startswith("https://sistercity.example.org/office/act/")
    feed = signer.feed_url("https://sistercity.example.org/office", "china")
    assert feed.startswith("webcal://sistercity.example.org/office/feed/") and feed.endswith(".ics")
    token = feed.rsplit("/", 1)[1].removesuffix(".ics")
    assert signer.read_feed(token) == "china"
    with pytest.raises(LinkTampered):
        LinkSigner("another key " * 4).read_feed(token)
