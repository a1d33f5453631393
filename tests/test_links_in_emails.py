"""SPEC "The way back" in the emails: with `web.base_url` set, each internal email carries, for
each item, one absolute link per action, signed for its reader and issued at the run's time,
in the text and as a real <a href> in the HTML; each lead's emails link to their group's
calendar feed (webcal://); external letters carry none; without `web.base_url` the office's
contact stays the way to act. Every command that plans emails needs the key then. Through the
CLI, a real SMTP server on loopback, and the bench's 10,000-partner dataset for the size."""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
import sqlite3
from email.message import EmailMessage
from pathlib import Path

import pytest
from conftest import REPO, Project, body_text
from smtpserver import SmtpTestServer
from test_audiences import parts, preview, sistercity, write_config

from scheduler.links import LinkAction, LinkSigner

KEY = "a-test-key-that-is-long-enough-0123456789"
BASE = "https://sistercity.example.org/office"
ACT = re.compile(re.escape(BASE) + r"/act/[A-Za-z0-9_.\-]+")
FEED = re.compile(r"webcal://sistercity\.example\.org/office/feed/[A-Za-z0-9_.\-]+\.ics")
HTML_BUDGET = 100 * 1024
MESSAGE_BUDGET = 200 * 1024


def linked(project: Project, server: SmtpTestServer, **web: str) -> None:
    project.write_config(email={"transport": "smtp"},
                         smtp={"host": server.host, "port": server.port},
                         web={"base_url": BASE, **web})
    project.monkeypatch.setenv("SISTERCITY_WEB_SECRET", KEY)


def run(project: Project, *args: str) -> dt.datetime:
    """Run the CLI; the time just before it (the run's `now` is after it)."""
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    result = project.cli("run", *args)
    assert result.exit_code == 0, result.output
    return before


def emails(server: SmtpTestServer, job: str) -> dict[str, EmailMessage]:
    return {m.rcpt_tos[0]: m.message for m in server.messages
            if m.message["X-Sistercity-Job"] == job}


def claims(body: str, now: dt.datetime) -> list[tuple[str, str, str, str, LinkAction]]:
    """(recipient, job, item, occurrence, action) of every action link in `body`, checked
    genuine and issued within a minute after `now`."""
    found = []
    for url in ACT.findall(body):
        claim = LinkSigner(KEY).read_action(url.rsplit("/", 1)[1], now=now)
        assert now <= claim.issued <= now + dt.timedelta(minutes=1)
        found.append((claim.recipient, claim.job, claim.item, claim.occurrence.isoformat(),
                      claim.action))
    return found


def html_links(html: str) -> list[tuple[str, str]]:
    """(href, visible words) of every <a> in `html`."""
    return [(href, re.sub(r"<[^>]+>", "", words).strip())
            for href, words in re.findall(r'<a [^>]*href="([^"]+)"[^>]*>(.*?)</a>', html)]


def test_a_dormant_digest_links_each_item_for_its_reader_only(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    linked(project, smtp_server)
    now = run(project, "dormant-partners", "--as-of", "2018-03-05")
    sent = emails(smtp_server, "dormant-partners")
    assert set(sent) == {"cn-lead@example.org", "jk-lead@example.org", "staff@example.org"}
    for address, msg in sent.items():
        text, html = parts(msg)
        in_text = claims(text, now)
        hrefs = html_links(html)
        in_html = claims(" ".join(h for h, _ in hrefs), now)
        # the same links in both parts, every one for this reader, two per partner
        assert sorted(in_text) == sorted(in_html)
        assert {c[0] for c in in_text} == {address}
        partners = {c[2] for c in in_text}
        assert len(in_text) == 2 * len(partners)
        assert {(c[2], c[4]) for c in in_text} == {
            (p, a) for p in partners for a in (LinkAction.RECORD, LinkAction.SNOOZE)}
    assert ("suwon", "2013-03-10") in {(c[2], c[3]) for c in claims(parts(sent[
        "jk-lead@example.org"])[0], now)}  # the occurrence is the day the silence began
    # the words a reader clicks, in their language
    english = dict((w, h) for h, w in html_links(parts(sent["jk-lead@example.org"])[1]))
    assert {"Record an activity", "Snooze"} <= set(english)
    thai = html_links(parts(sent["staff@example.org"])[1])
    assert {"บันทึกกิจกรรม", "เลื่อน"} <= {w for _, w in thai}
    # two readers of the same partner never get the same link
    staff = set(ACT.findall(parts(sent["staff@example.org"])[0]))
    lead = set(ACT.findall(parts(sent["jk-lead@example.org"])[0]))
    assert staff and lead and not staff & lead
    # the text stays readable: each link on its own line under its label
    text = "\n".join(body_text(sent["jk-lead@example.org"]).splitlines())
    assert re.search(r"^   Record an activity:\n     " + ACT.pattern + "$", text, flags=re.M)
    assert re.search(r"^   Snooze:\n     " + ACT.pattern + "$", text, flags=re.M)
    for line in text.splitlines():
        assert len(line) <= 78 or not line.strip().count(" "), line


def test_leads_get_their_groups_feed_staff_and_letters_no_feed_letters_no_links(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    linked(project, smtp_server)
    now = run(project, "anniversaries", "--as-of", "2018-02-08")
    sent = emails(smtp_server, "anniversaries")
    signer = LinkSigner(KEY)
    feeds = {address: {signer.read_feed(u.rsplit("/", 1)[1].removesuffix(".ics"))
                       for u in FEED.findall(parts(msg)[0] + parts(msg)[1])}
             for address, msg in sent.items()}
    assert feeds["jk-lead@example.org"] == {"japan-korea"}
    assert feeds["cn-lead@example.org"] == {"china"}
    assert feeds["staff@example.org"] == set()
    assert feeds["mfa@example.org"] == set()
    # the feed is a real link in the HTML
    assert any(h.startswith("webcal://") and w == "subscribe in your calendar"
               for h, w in html_links(parts(sent["jk-lead@example.org"])[1]))
    # anniversaries: record what was done, or no action
    words = {w for _, w in html_links(parts(sent["jk-lead@example.org"])[1])}
    assert {"Record what was done", "No action"} <= words
    thai = {w for _, w in html_links(parts(sent["staff@example.org"])[1])}
    assert {"บันทึกสิ่งที่ดำเนินการ", "ไม่ดำเนินการ"} <= thai
    assert {c[4] for c in claims(parts(sent["staff@example.org"])[0], now)} == {
        LinkAction.RECORD, LinkAction.NO_ACTION}
    # the MFA's formal letter: no link of any kind
    letter_text, letter_html = parts(sent["mfa@example.org"])
    assert "/act/" not in letter_text + letter_html and "<a " not in letter_html
    # links never become headers
    for m in smtp_server.messages:
        for name, value in m.message.items():
            assert "/act/" not in str(value) and "webcal" not in str(value), name


def test_a_deadline_has_one_done_link_per_reader(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    linked(project, smtp_server)
    now = run(project, "budget-deadlines", "--as-of", "2018-02-12")
    sent = emails(smtp_server, "budget-deadlines")
    for address, msg in sent.items():
        assert claims(parts(msg)[0], now) == [
            (address, "budget-deadlines", "plan", "2018-04-13", LinkAction.DONE)]
    assert [w for _, w in html_links(parts(sent["jk-lead@example.org"])[1])
            if not _.startswith("webcal")] == ["Done"]
    assert "เสร็จแล้ว" in [w for _, w in html_links(parts(sent["staff@example.org"])[1])]


def test_without_base_url_no_link_and_the_office_contact_stays(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    project.use_smtp(smtp_server)  # web.base_url empty; no key needed
    project.monkeypatch.delenv("SISTERCITY_WEB_SECRET", raising=False)
    run(project, "dormant-partners", "--as-of", "2018-03-05")
    for msg in emails(smtp_server, "dormant-partners").values():
        text, html = parts(msg)
        assert "/act/" not in text + html and "webcal" not in text + html
        assert "<a " not in html
    english = " ".join(body_text(emails(smtp_server, "dormant-partners")[
        "jk-lead@example.org"]).split())
    assert "reply to this email or contact the office by email" in english


@pytest.mark.parametrize("args", [
    ("run", "--as-of", "2018-03-05"),
    ("run", "--dry-run", "--as-of", "2018-03-05"),
    ("preview", "dormant-partners", "--as-of", "2018-03-05", "--out", "out"),
    ("daemon",),
])
def test_with_base_url_and_no_key_commands_that_plan_emails_exit_2_naming_it(
    project: Project, args: tuple[str, ...]
) -> None:
    project.write_config(web={"base_url": BASE, "secret_env": "SC_LINK_KEY"})
    project.monkeypatch.delenv("SC_LINK_KEY", raising=False)
    result = project.cli(*args)
    assert result.exit_code == 2
    assert "SC_LINK_KEY" in result.output and "Traceback" not in result.output
    # nothing planned, queued or written
    assert not project.mail_dir.exists() or not list(project.mail_dir.iterdir())
    assert not (project.root / "out").exists()
    if project.db_path.exists():
        with sqlite3.connect(project.db_path) as conn:
            assert conn.execute("SELECT count(*) FROM messages").fetchone() == (0,)


def test_the_bench_dataset_with_links_keeps_to_the_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = importlib.util.spec_from_file_location("gen_dataset", REPO / "bench" / "gen_dataset.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    data = tmp_path / "bench.toml"
    gen.generate(data)  # 10,000 partners, as of 2026-06-01
    config = write_config(tmp_path, data)
    with config.open("a", encoding="utf-8") as f:
        f.write(f'[web]\nbase_url = "{BASE}"\n')
    monkeypatch.setenv("SISTERCITY_WEB_SECRET", KEY)
    sistercity(config, "init")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    largest = cut = 0
    for job in ("dormant-partners", "anniversaries", "budget-deadlines"):
        for address, msg in preview(config, job, "2026-06-01", tmp_path / job).items():
            text, html = parts(msg)
            assert len(html.encode()) <= HTML_BUDGET, (job, address)
            assert len(msg.as_bytes()) <= MESSAGE_BUDGET, (job, address)
            found = claims(text, now)
            if "/act/" in html:  # an internal reader: every item shown has its links
                assert found and {c[0] for c in found} == {address}
                shown = len(re.findall(r"^\d+\. ", text, flags=re.M))
                per_item = 1 if job == "budget-deadlines" else 2
                assert len(found) == per_item * shown, (job, address)
                # what was cut is counted, and the web app shows it all (SPEC "Size")
                page = BASE + ("/deadlines" if job == "budget-deadlines" else "/partners")
                flat = " ".join(text.split())
                if re.search(r"… (and|และอีก) \d+ ", flat):
                    assert re.search(r"(see them all at|ดูทั้งหมดได้ที่) " + re.escape(page), flat)
                    cut += 1
            largest = max(largest, len(msg.as_bytes()))
    assert largest > 50 * 1024 and cut  # the big digests were there, and were cut


def test_a_leads_meeting_agenda_links_the_groups_feed_the_consulates_letter_does_not(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    linked(project, smtp_server)
    run(project, "meeting-agendas", "--as-of", "2018-11-01")  # 14 days before the summary
    sent = emails(smtp_server, "meeting-agendas")
    signer = LinkSigner(KEY)
    for address, group in (("jk-lead@example.org", "japan-korea"),
                           ("cn-lead@example.org", "china")):
        text, html = parts(sent[address])
        assert [signer.read_feed(u.rsplit("/", 1)[1].removesuffix(".ics"))
                for u in FEED.findall(text)] == [group]
        assert f'href="{FEED.search(text).group()}"' in html  # type: ignore[union-attr]
        assert "/act/" not in text + html  # a meeting has no action to take by link
    consulates = [a for a in sent if "consulate" in a]
    assert consulates
    for address in [*consulates, "staff@example.org"]:
        text, html = parts(sent[address])
        assert "webcal" not in text + html and "/act/" not in text + html


def test_a_thai_leads_feed_line_spaces_a_latin_group_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_audiences import SPACING

    data = tmp_path / "spacing.toml"
    data.write_text(SPACING, encoding="utf-8")  # group "West", no Thai name; a Thai lead
    config = write_config(tmp_path, data)
    with config.open("a", encoding="utf-8") as f:
        f.write(f'[web]\nbase_url = "{BASE}"\n')
    monkeypatch.setenv("SISTERCITY_WEB_SECRET", KEY)
    sistercity(config, "init")
    text, html = parts(preview(config, "anniversaries", "2018-03-29", tmp_path / "out")[
        "lead@example.org"])
    for body in (" ".join(text.split()), " ".join(html.split())):
        assert "ปฏิทินของคณะทำงาน West" in body and "คณะทำงานWest" not in body
