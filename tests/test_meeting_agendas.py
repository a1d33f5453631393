"""meeting-agendas: recipients, stages, the agenda's sections, the invitation; then the real CLI
against a real SMTP server, and the bundled Chiang Mai agenda."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import replace
from email.message import EmailMessage
from typing import Any

import pytest
from conftest import REPO, Project, body_text
from icalendar import Calendar
from smtpserver import SmtpTestServer

from jobs import meeting_agendas as job
from scheduler.dates.thaidate import WorkingCalendar
from scheduler.planning import History, JobSettings, Notice, PlanContext, Sent
from scheduler.registry.domain import (
    Activity,
    Agreement,
    AgreementKind,
    BudgetDeadline,
    Consulate,
    Contact,
    Meeting,
    Partner,
    Recurrence,
    Registry,
    Role,
    WorkingGroup,
)

D = dt.date
SENDER = "Chiang Mai International Affairs <intl@example.org>"
MEETING_DAY = D(2017, 11, 15)
AS_OF = D(2017, 11, 1)  # 14 days before: the first stage; the horizon runs to 30 Apr 2018
CALENDAR = WorkingCalendar()
LOI, MOU, SISTER = AgreementKind.LOI, AgreementKind.MOU, AgreementKind.SISTER_CITY


def _contact(ident: str, role: Role, email: str | None = None, language: str = "en") -> Contact:
    return Contact(ident, ident.replace("-", " ").title(), email or f"{ident}@example.org",
                   language, role)


def _registry(meeting_groups: tuple[str, ...] = ("china", "korea")) -> Registry:
    contacts = [
        _contact("cn-lead", Role.LEAD, language="th"),
        _contact("kr-lead", Role.LEAD),
        _contact("kr-lead-as-staff", Role.STAFF, email="KR-Lead@example.org"),  # the same person
        _contact("jp-lead", Role.LEAD),
        _contact("staff", Role.STAFF, language="th"),
        _contact("cn-consulate", Role.CONSULATE),
        _contact("jp-consulate", Role.CONSULATE),
        _contact("mfa", Role.MFA),
    ]
    groups = [
        WorkingGroup("china", "China", "จีน", "cn-lead", ("CN",)),
        WorkingGroup("korea", "Korea", "เกาหลี", "kr-lead", ("KR",)),  # KR: no consulate
        WorkingGroup("japan", "Japan", "ญี่ปุ่น", "jp-lead", ("JP",)),  # not in the meeting
    ]
    partners = [
        # Active, an MOU signed after its LOI: on no list but the roster.
        Partner("alpha", "Alpha", "CN", working_group="china",
                agreements=(Agreement(SISTER, D(2010, 6, 1)),),
                activities=(Activity(D(2017, 6, 1), "Trade fair"),
                            Activity(D(2018, 2, 1), "Planned visit"))),  # after as_of: ignored
        # An old LOI with nothing after it: dormant and to review; 4th anniversary on 10 Jan.
        Partner("beta", "Beta", "CN", working_group="china",
                agreements=(Agreement(LOI, D(2014, 1, 10), areas=("tourism",)),)),
        # LOI followed by an MOU (not to review); the MOU expires within the horizon.
        Partner("gamma", "Gamma", "CN", working_group="china",
                agreements=(Agreement(LOI, D(2013, 3, 1)),
                            Agreement(MOU, D(2015, 3, 1), expires_on=D(2018, 2, 1))),
                activities=(Activity(D(2017, 9, 1), "Visit"),)),
        # Korea has no consulate: handled through the MFA. 10th anniversary on 20 Dec.
        Partner("delta", "Delta", "KR", working_group="korea",
                agreements=(Agreement(MOU, D(2007, 12, 20)),),
                activities=(Activity(D(2015, 5, 5), "Exchange"),)),
        # A young LOI: not yet to review.
        Partner("epsilon", "Epsilon", "KR", working_group="korea",
                agreements=(Agreement(LOI, D(2016, 11, 20)),)),
        # In a group the meeting does not cover: on no list at all.
        Partner("omega", "Omega", "JP", working_group="japan",
                agreements=(Agreement(LOI, D(2010, 1, 20), expires_on=D(2018, 1, 1)),)),
    ]
    deadlines = [
        BudgetDeadline("all-groups", "Plan for FY{next_fiscal_year}",
                       Recurrence(dt.datetime(2018, 3, 31)), "แผน ปีงบประมาณ {next_fiscal_year}"),
        BudgetDeadline("china-only", "China budget FY{fiscal_year}",
                       Recurrence(dt.datetime(2018, 1, 15)), working_groups=("china",)),
        BudgetDeadline("japan-only", "Japan budget", Recurrence(dt.datetime(2018, 1, 20)),
                       working_groups=("japan",)),
        BudgetDeadline("too-late", "Beyond the horizon", Recurrence(dt.datetime(2018, 6, 1))),
    ]
    meeting = Meeting("summary", "Working groups: summary meeting",
                      Recurrence(dt.datetime(2017, 11, 15, 9, 30), "FREQ=YEARLY"),
                      title_th="ประชุมสรุปคณะทำงาน", location="Provincial Hall",
                      working_groups=meeting_groups)
    return Registry(
        contacts={c.id: c for c in contacts},
        working_groups={g.id: g for g in groups},
        consulates={"CN": Consulate("CN", "cn-consulate"), "JP": Consulate("JP", "jp-consulate")},
        mfa_contact="mfa",
        partners={p.id: p for p in partners},
        budget_deadlines={d.id: d for d in deadlines},
        meetings={meeting.id: meeting},
    )


def _plan(as_of: dt.date, registry: Registry | None = None,
          history: History | None = None) -> list[Notice]:
    ctx = PlanContext(registry=registry or _registry(), as_of=as_of, settings=JobSettings(),
                      calendar=CALENDAR, timezone="Asia/Bangkok",
                      history=history or History(), sender=SENDER)
    return job.plan(ctx)


def _agenda(registry: Registry | None = None) -> dict[str, Any]:
    registry = registry or _registry()
    return job.build_agenda(registry, registry.meetings["summary"], AS_OF, JobSettings(),
                            CALENDAR)


def _ids(rows: Sequence[dict[str, Any]]) -> list[str]:
    return [row["partner"]["id"] for row in rows]


# -- recipients -------------------------------------------------------------------------------
def test_recipients_are_leads_consulates_of_the_groups_countries_and_staff() -> None:
    notices = _plan(AS_OF)
    roles = {n.recipient.address: n.recipient.roles for n in notices}
    assert roles == {
        "cn-lead@example.org": ("lead",),
        "kr-lead@example.org": ("lead", "staff"),  # a lead who is also staff: one recipient
        "cn-consulate@example.org": ("consulate",),
        "staff@example.org": ("staff",),
    }
    # Korea has no consulate, and the MFA is never invited in its place; Japan is not covered.
    assert not {"mfa@example.org", "jp-consulate@example.org", "jp-lead@example.org"} & set(roles)
    assert len(notices) == len(roles)


def test_no_consulates_without_invite_consulates() -> None:
    registry = _registry()
    meeting = registry.meetings["summary"]
    quiet = replace(registry, meetings={"summary": replace(meeting, invite_consulates=False)})
    addresses = {n.recipient.address for n in _plan(AS_OF, quiet)}
    assert addresses == {"cn-lead@example.org", "kr-lead@example.org", "staff@example.org"}


def test_meeting_of_every_group_invites_every_lead_and_consulate() -> None:
    addresses = {n.recipient.address for n in _plan(AS_OF, _registry(meeting_groups=()))}
    assert addresses == {"cn-lead@example.org", "kr-lead@example.org", "jp-lead@example.org",
                         "cn-consulate@example.org", "jp-consulate@example.org",
                         "staff@example.org"}


# -- stages -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("as_of", "stage"), [
    (D(2017, 10, 31), None),  # 15 days before: nothing due yet
    (D(2017, 11, 1), 14),
    (D(2017, 11, 10), 14),  # between the stages, with nothing sent: the 14-day reminder, late
    (D(2017, 11, 14), 1),  # stage 14 was missed: skipped, only the latest stage goes out
    (D(2017, 11, 15), 1),  # the day itself: still the 1-day stage
    (D(2017, 11, 16), None),  # over
])
def test_stage_rule(as_of: dt.date, stage: int | None) -> None:
    notices = _plan(as_of)
    assert {n.stage for n in notices} == ({stage} if stage is not None else set())
    assert {(n.job, n.item, n.occurrence) for n in notices} <= {
        ("meeting-agendas", "summary", MEETING_DAY)}


def test_a_stage_already_queued_is_not_repeated_and_the_next_one_follows() -> None:
    first = _plan(AS_OF)
    history = History({(n.item, n.occurrence, n.recipient.address): Sent(n.stage, AS_OF)
                       for n in first})
    assert _plan(D(2017, 11, 5), history=history) == []
    second = _plan(D(2017, 11, 14), history=history)
    assert {n.stage for n in second} == {1}
    assert {n.recipient.address for n in second} == {n.recipient.address for n in first}


def test_next_year_occurrence_and_next_occurrence() -> None:
    notices = _plan(D(2018, 11, 1))
    assert {n.occurrence for n in notices} == {D(2018, 11, 15)}
    meeting = _registry().meetings["summary"]
    assert job.next_occurrence(meeting, D(2017, 11, 15)) == dt.datetime(2017, 11, 15, 9, 30)
    assert job.next_occurrence(meeting, D(2017, 11, 16)) == dt.datetime(2018, 11, 15, 9, 30)
    once = Meeting("once", "Once", Recurrence(dt.datetime(2017, 11, 15, 9, 30)))
    assert job.next_occurrence(once, D(2017, 11, 16)) is None


# -- the agenda -------------------------------------------------------------------------------
def test_agenda_dormant_partners() -> None:
    agenda = _agenda()
    # Longest silent first; epsilon signed 346 days ago, not yet dormant.
    assert _ids(agenda["dormant"]) == ["beta", "delta"]
    delta = agenda["dormant"][1]
    assert delta["last_activity"] == D(2015, 5, 5)
    assert delta["last_activity_title"] == "Exchange"
    assert (delta["quiet_years"], delta["quiet_months"]) == (2, 5)
    beta = agenda["dormant"][0]
    assert beta["last_activity"] is None and beta["quiet_since"] == D(2014, 1, 10)


def test_agenda_anniversaries_within_the_horizon() -> None:
    agenda = _agenda()
    assert agenda["until"] == D(2018, 4, 30)
    rows = [(r["partner"]["id"], r["date"], r["years"], r["milestone"])
            for r in agenda["anniversaries"]]
    assert rows == [
        ("epsilon", D(2017, 11, 20), 1, False),
        ("delta", D(2017, 12, 20), 10, True),
        ("beta", D(2018, 1, 10), 4, False),
        ("gamma", D(2018, 3, 1), 5, True),  # the LOI; the MOU expired on 1 Feb: not celebrated
    ]


def test_agenda_deadlines_of_the_groups_or_of_all() -> None:
    rows = _agenda()["deadlines"]
    assert [(r["deadline_id"], r["date"]) for r in rows] == [
        ("china-only", D(2018, 1, 15)), ("all-groups", D(2018, 3, 31))]
    china, everyone = rows
    assert china["title"] == "China budget FY2561" and china["groups"] == ["China"]
    assert everyone["title"] == "Plan for FY2562" and everyone["title_th"] == "แผน ปีงบประมาณ 2562"
    assert everyone["closed"] and everyone["weekend"]  # a Saturday
    assert everyone["last_working_day"] == D(2018, 3, 30)
    assert not china["closed"] and china["last_working_day"] is None


def test_agenda_agreements_to_review_expiring_and_through_the_mfa() -> None:
    agenda = _agenda()
    assert [(r["partner"]["id"], r["agreement_kind"], r["years"]) for r in agenda["review"]] == [
        ("beta", "loi", 3)]  # gamma's LOI was followed by an MOU; epsilon's is too young
    assert [(r["partner"]["id"], r["expires_on"]) for r in agenda["expiring"]] == [
        ("gamma", D(2018, 2, 1))]  # omega's expires too, but Japan is not in the meeting
    assert _ids_plain(agenda["via_mfa"]) == ["delta", "epsilon"]
    assert agenda["mfa"] == {"name": "Mfa", "email": "mfa@example.org"}


def _ids_plain(views: Sequence[dict[str, Any]]) -> list[str]:
    return [v["id"] for v in views]


def test_agenda_roster() -> None:
    roster = _agenda()["roster"]
    assert [(g["id"], g["lead"]["email"]) for g in roster] == [
        ("china", "cn-lead@example.org"), ("korea", "kr-lead@example.org")]
    china = {r["partner"]["id"]: r for r in roster[0]["partners"]}
    assert list(china) == ["alpha", "beta", "gamma"]
    alpha = china["alpha"]
    assert alpha["last_activity"] == D(2017, 6, 1)  # the planned 2018 visit has not happened
    assert alpha["agreements"] == [{"kind": "sister-city", "signed_on": D(2010, 6, 1),
                                    "years": 7, "expires_on": None,
                                    "local_party": "Chiang Mai Province", "areas": []}]
    assert not alpha["dormant"] and china["beta"]["dormant"]
    assert [r["partner"]["id"] for r in roster[1]["partners"]] == ["delta", "epsilon"]


def test_agenda_never_mentions_partners_of_other_groups() -> None:
    text = json.dumps(_agenda(), default=str)
    assert "omega" not in text and "Omega" not in text and "japan-only" not in text


def test_meeting_of_every_group_lists_partners_in_no_group() -> None:
    registry = _registry(meeting_groups=())
    stray = Partner("stray", "Stray", "FR", agreements=(Agreement(MOU, D(2016, 1, 1)),))
    registry = replace(registry, partners={**registry.partners, "stray": stray})
    roster = _agenda(registry)["roster"]
    assert [g["id"] for g in roster] == ["china", "korea", "japan", None]
    assert [r["partner"]["id"] for r in roster[-1]["partners"]] == ["stray"]


# -- the invitation ---------------------------------------------------------------------------
def _invitation(notice: Notice, notices: Sequence[Notice]) -> Any:
    now = dt.datetime(2017, 11, 1, 0, 0, tzinfo=dt.UTC)
    extras, ics = job.message_extras([notice], notices, now)
    assert extras["meeting"]["id"] == "summary" and "roster" in extras["agenda"]
    assert ics is not None
    calendar = Calendar.from_ical(ics)
    assert str(calendar["METHOD"]) == "REQUEST"
    events = calendar.walk("VEVENT")
    assert len(events) == 1
    return events[0]


def test_invitation_start_uid_and_attendees() -> None:
    first = _plan(AS_OF)
    second = _plan(D(2017, 11, 14))  # the 1-day reminder
    events = [_invitation(n, notices) for notices in (first, second) for n in notices]
    readers = [n.recipient.address for notices in (first, second) for n in notices]
    for event, reader in zip(events, readers, strict=True):
        assert event.decoded("DTSTART") == dt.datetime(2017, 11, 15, 2, 30, tzinfo=dt.UTC)
        assert event.decoded("DTEND") == dt.datetime(2017, 11, 15, 4, 30, tzinfo=dt.UTC)
        assert str(event["UID"]) == "summary-20171115@example.org"
        assert str(event["ORGANIZER"]) == "mailto:intl@example.org"
        assert str(event["ATTENDEE"]) == f"mailto:{reader}"  # the reader only (issue 18)
        assert int(event["SEQUENCE"]) == 0
    summaries = {str(e["SUMMARY"]) for e in events}
    assert summaries == {"Working groups: summary meeting", "ประชุมสรุปคณะทำงาน"}


# -- the real CLI, a real SMTP server ---------------------------------------------------------
DATASET = """
[[contact]]
id = "cn-lead"
name = "Somchai China Lead"
email = "cn-lead@example.org"
language = "th"
role = "lead"

[[contact]]
id = "kr-lead"
name = "Jane Korea Lead"
email = "kr-lead@example.org"
language = "en"
role = "lead"

[[contact]]
id = "kr-lead-staff"
name = "Jane (staff)"
email = "KR-Lead@example.org"
language = "en"
role = "staff"

[[contact]]
id = "staff"
name = "Malee Staff"
email = "staff@example.org"
language = "th"
role = "staff"

[[contact]]
id = "cn-consulate"
name = "Consulate-General of China"
email = "cn-consulate@example.org"
language = "en"
role = "consulate"

[[contact]]
id = "mfa"
name = "MFA desk"
email = "mfa@example.org"
language = "th"
role = "mfa"

[[working_group]]
id = "china"
name = "China"
name_th = "จีน"
lead = "cn-lead"
countries = ["CN"]

[[working_group]]
id = "korea"
name = "Korea"
name_th = "เกาหลี"
lead = "kr-lead"
countries = ["KR"]

[[consulate]]
country = "CN"
contact = "cn-consulate"

[mfa]
contact = "mfa"

[[partner]]
id = "chengdu"
name = "Chengdu"
name_th = "เฉิงตู"
country = "CN"

  [[partner.agreement]]
  kind = "sister-city"
  signed_on = 2015-03-30

[[partner]]
id = "seongnam"
name = "Seongnam"
name_th = "ซ็องนัม"
country = "KR"

  [[partner.agreement]]
  kind = "loi"
  signed_on = 2014-03-23

[[meeting]]
id = "summary"
title = "Working groups: summary <meeting>"
title_th = "ประชุมสรุปคณะทำงาน"
starts_at = 2017-11-15T09:30:00
duration_minutes = 120
location = "Provincial Hall"
"""


@pytest.fixture
def agenda_project(project: Project, smtp_server: SmtpTestServer) -> Project:
    data = project.root / "agenda-data.toml"
    data.write_text(DATASET, encoding="utf-8")
    project.write_config(data={"files": [str(data)]}, email={"transport": "smtp"},
                         smtp={"host": smtp_server.host, "port": smtp_server.port})
    return project


def _calendar_parts(msg: EmailMessage) -> list[EmailMessage]:
    return [p for p in msg.walk() if p.get_content_type() == "text/calendar"]


def _uid(msg: EmailMessage) -> str:
    (part,) = _calendar_parts(msg)
    assert part.get_param("method") == "REQUEST"
    event = Calendar.from_ical(part.get_content()).walk("VEVENT")[0]
    return str(event["UID"])


def test_run_sends_one_invitation_per_recipient_once(
    agenda_project: Project, smtp_server: SmtpTestServer
) -> None:
    result = agenda_project.cli("run", "meeting-agendas", "--as-of", "2017-11-01")
    assert result.exit_code == 0, result.output
    first = smtp_server.wait_for_messages(4)
    assert sorted(r for m in first for r in m.rcpt_tos) == [
        "cn-consulate@example.org", "cn-lead@example.org", "kr-lead@example.org",
        "staff@example.org"]  # no MFA; Korea has no consulate; Jane once
    assert {_uid(m.message) for m in first} == {"summary-20171115@example.org"}
    english = next(m.message for m in first if m.rcpt_tos == ("kr-lead@example.org",))
    assert english["Subject"] == "Agenda: Working groups: summary <meeting>, 15 Nov 2017 09:30"
    assert "Seongnam (South Korea)" in body_text(english)
    html = english.get_body(preferencelist=("html",))
    assert html is not None
    assert "summary &lt;meeting&gt;" in str(html.get_content())  # autoescaped
    thai = next(m.message for m in first if m.rcpt_tos == ("cn-lead@example.org",))
    assert "15 พ.ย. 2560 09:30" in str(thai["Subject"])

    again = agenda_project.cli("run", "meeting-agendas", "--as-of", "2017-11-01")
    assert again.exit_code == 0, again.output
    assert len(smtp_server.messages) == 4  # nothing new

    later = agenda_project.cli("run", "meeting-agendas", "--as-of", "2017-11-14")
    assert later.exit_code == 0, later.output
    both = smtp_server.wait_for_messages(8)
    assert {_uid(m.message) for m in both} == {"summary-20171115@example.org"}
    assert len({m.message["Message-ID"] for m in both}) == 8


def test_agenda_command_shows_without_sending(
    agenda_project: Project, smtp_server: SmtpTestServer
) -> None:
    result = agenda_project.cli("agenda", "summary", "--as-of", "2017-11-01")
    assert result.exit_code == 0, result.output
    text = result.output
    assert "Working groups: summary <meeting>" in text and "15 Nov 2017 09:30" in text
    assert "Dear" not in text  # the document, not an email
    for heading in ("1. DORMANT PARTNERS", "2. ANNIVERSARIES", "3. BUDGET DEADLINES",
                    "4. AGREEMENTS TO REVIEW", "5. WORKING GROUPS AND PARTNERS"):
        assert heading in text
    review = text[text.index("4.1"):text.index("4.2")]
    assert "Seongnam" in review and "Chengdu" not in review

    thai = agenda_project.cli("agenda", "summary", "--as-of", "2560-11-01", "--lang", "th")
    assert thai.exit_code == 0, thai.output
    assert "15 พ.ย. 2560 09:30" in thai.output

    out = agenda_project.root / "agenda.txt"
    wrote = agenda_project.cli("agenda", "summary", "--as-of", "2017-11-01", "--out", str(out))
    assert wrote.exit_code == 0, wrote.output
    assert out.read_text(encoding="utf-8") == text

    assert agenda_project.cli("agenda", "nope", "--as-of", "2017-11-01").exit_code == 2
    assert agenda_project.cli("agenda", "summary", "--as-of", "2017-11-16").exit_code == 2
    assert agenda_project.cli("agenda", "summary", "--as-of", "2017-13-01").exit_code == 2
    outbox = agenda_project.cli("outbox", "--json")
    assert json.loads(outbox.output) == [] and smtp_server.messages == []


def test_bundled_chiang_mai_agenda(project: Project) -> None:
    project.write_config(data={"files": [str(REPO / "data" / "chiang-mai.toml")]})
    en = project.cli("agenda", "november-summary", "--as-of", "2017-11-01")
    th = project.cli("agenda", "november-summary", "--as-of", "2017-11-01", "--lang", "th")
    assert en.exit_code == 0 and th.exit_code == 0, en.output + th.output
    text = " ".join(en.output.split())  # unwrapped
    sections = [text.index(h) for h in ("1. DORMANT", "2. ANNIVERSARIES", "3. BUDGET",
                                        "4. AGREEMENTS", "4.2", "4.3", "5. WORKING")]
    assert sections == sorted(sections)
    dormant, anniversaries, deadlines, review, _, mfa, _ = (
        text[a:b] for a, b in zip(sections, [*sections[1:], len(text)], strict=True))
    for name in ("Shanghai", "Yogyakarta", "Bursa", "Seongnam"):
        assert name in dormant
    assert "Kyoto" not in dormant and "Meishan" not in dormant  # signed in 2017
    assert "★ 10th anniversary of the sister-city agreement with Qingdao" in anniversaries
    assert "30 Mar 2018" in deadlines  # 31 Mar 2018 is a Saturday
    assert "Xishuangbanna" in review and "Hainan" not in review
    assert all(name in mfa for name in ("Seongnam", "Yogyakarta", "Bursa"))
    assert "Chengdu" not in mfa
    thai = " ".join(th.output.split())
    assert "วันพุธที่ 15 พ.ย. 2560 09:30–11:30 น." in thai
    assert "★ ครบรอบ 10 ปี การลงนามความตกลงเมืองพี่เมืองน้องกับชิงเต่า" in thai



def test_email_agendas_are_bounded_and_say_what_was_left_out() -> None:
    agenda = {key: [{"n": i} for i in range(100)] for key in job._LISTS}
    agenda["roster"] = [{"id": f"g{g}", "partners": [{"n": i} for i in range(50)]}
                        for g in range(3)]
    limited = job.limit_agenda(agenda, 30)
    for key in job._LISTS:
        assert len(limited[key]) == 30 and limited["more"][key] == 70
        assert len(agenda[key]) == 100  # the full agenda (for `sistercity agenda`) is untouched
    assert [len(g["partners"]) for g in limited["roster"]] == [20, 20, 20]
    assert [g["more"] for g in limited["roster"]] == [30, 30, 30]
    small = job.limit_agenda(_agenda(), 30)
    assert set(small["more"].values()) == {0}
    assert all(g["more"] == 0 for g in small["roster"])
