"""Issue 13: reminders that are right — the office's working days, stages counted back from the
act-by date, expired agreements, dormancy that counts signings, fiscal years in titles and
meetings on closed days. Date tables, hypothesis properties and end-to-end runs through the CLI
against the real SMTP server."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime, timedelta

import pytest
from conftest import Project, body_text
from hypothesis import given
from hypothesis import strategies as st
from smtpserver import SmtpTestServer

from jobs import budget_deadlines
from scheduler.dates.thaidate import WorkingCalendar
from scheduler.planning import JobSettings, PlanContext, due_stage
from scheduler.registry.domain import BudgetDeadline, Contact, Recurrence, Registry

CALENDAR = WorkingCalendar()

# -- SPEC "Working days": every government closure of 2024-2027 that falls on a weekday, as the
# holidays package (>= 0.85) records it: public holidays, substitution days ("in lieu") and the
# Cabinet's special days off ("Bridge Public Holiday").
GOVERNMENT_CLOSURES = [
    # 2024
    "2024-01-01", "2024-02-26", "2024-04-08", "2024-04-12", "2024-04-15", "2024-04-16",
    "2024-05-06", "2024-05-10", "2024-05-22", "2024-06-03", "2024-07-22", "2024-07-29",
    "2024-08-12", "2024-10-14", "2024-10-23", "2024-12-05", "2024-12-10", "2024-12-30",
    "2024-12-31",
    # 2025 (2025-06-02 and 2025-08-11 are Cabinet special days off)
    "2025-01-01", "2025-02-12", "2025-04-07", "2025-04-14", "2025-04-15", "2025-04-16",
    "2025-05-05", "2025-05-09", "2025-05-12", "2025-06-02", "2025-06-03", "2025-07-10",
    "2025-07-11", "2025-07-28", "2025-08-11", "2025-08-12", "2025-10-13", "2025-10-23",
    "2025-12-05", "2025-12-10", "2025-12-31",
    # 2026 (2026-01-02 is a Cabinet special day off; 2026-06-01 substitutes Visakha Bucha)
    "2026-01-01", "2026-01-02", "2026-03-03", "2026-04-06", "2026-04-13", "2026-04-14",
    "2026-04-15", "2026-05-04", "2026-05-13", "2026-06-01", "2026-06-03", "2026-07-28",
    "2026-07-29", "2026-07-30", "2026-08-12", "2026-10-13", "2026-10-23", "2026-12-07",
    "2026-12-10", "2026-12-31",
    # 2027
    "2027-01-01", "2027-02-22", "2027-04-06", "2027-04-13", "2027-04-14", "2027-04-15",
    "2027-05-04", "2027-05-20", "2027-06-03", "2027-07-19", "2027-07-20", "2027-07-28",
    "2027-08-12", "2027-10-13", "2027-10-25", "2027-12-06", "2027-12-10", "2027-12-31",
]
# National Labour Day and its substitutes: offices are open (2027-05-03 substitutes Sat 1 May).
LABOUR_DAYS_OPEN = ["2024-05-01", "2025-05-01", "2026-05-01", "2027-05-03"]


def _days(texts: list[str]) -> list[date]:
    return [date.fromisoformat(t) for t in texts]


@pytest.mark.parametrize("day", _days(GOVERNMENT_CLOSURES), ids=str)
def test_every_government_closure_is_closed(day: date) -> None:
    assert day.weekday() < 5
    assert not CALENDAR.is_working_day(day)
    assert CALENDAR.holiday_name(day, "en")


@pytest.mark.parametrize("day", _days(LABOUR_DAYS_OPEN), ids=str)
def test_labour_day_and_its_substitutes_are_working_days(day: date) -> None:
    assert CALENDAR.is_working_day(day)
    assert CALENDAR.holiday_name(day, "en") is None
    assert CALENDAR.holiday_name(day, "th") is None


def test_every_other_weekday_of_2024_to_2027_is_open_and_weekends_closed() -> None:
    closed = set(_days(GOVERNMENT_CLOSURES))
    day = date(2024, 1, 1)
    while day <= date(2027, 12, 31):
        expected = day.weekday() < 5 and day not in closed
        assert CALENDAR.is_working_day(day) is expected, day
        day += timedelta(days=1)


def test_extra_holidays_close_and_extra_working_days_open() -> None:
    calendar = WorkingCalendar(
        extra_holidays=[date(2026, 3, 4)],
        # a make-up Saturday, a substitution day the office does not take, and a day in both
        extra_working_days=[date(2026, 3, 7), date(2026, 6, 1), date(2026, 3, 4)],
    )
    assert calendar.is_working_day(date(2025, 3, 4))  # other years untouched
    assert calendar.is_working_day(date(2026, 3, 7))
    assert calendar.is_working_day(date(2026, 6, 1))
    assert calendar.holiday_name(date(2026, 6, 1), "en") is None
    assert calendar.is_working_day(date(2026, 3, 4))  # extra_working_days always wins
    closing = WorkingCalendar(extra_holidays=[date(2026, 3, 4), date(2026, 5, 1)])
    assert not closing.is_working_day(date(2026, 3, 4))
    assert not closing.is_working_day(date(2026, 5, 1))
    assert closing.holiday_name(date(2026, 5, 1), "en") == "Special holiday"
    assert closing.act_by(date(2026, 5, 4)) == date(2026, 4, 30)


def test_act_by_of_a_deadline_after_labour_day_is_labour_day() -> None:
    assert CALENDAR.act_by(date(2026, 5, 4)) == date(2026, 5, 1)
    assert CALENDAR.act_by(date(2026, 6, 1)) == date(2026, 5, 29)
    assert CALENDAR.act_by(date(2026, 5, 29)) == date(2026, 5, 29)


# -- end to end: a small registry of its own, the real CLI and the real SMTP server


REGISTRY_HEAD = """
[[contact]]
id = "lead"
name = "Jane Lead"
email = "lead@example.org"
language = "en"
role = "lead"

[[contact]]
id = "staff"
name = "Malee Staff"
email = "staff@example.org"
language = "th"
role = "staff"

[[working_group]]
id = "japan"
name = "Japan"
name_th = "ญี่ปุ่น"
lead = "lead"
countries = ["JP"]
"""


def use_registry(project: Project, server: SmtpTestServer, body: str, **sections: dict) -> None:
    data = project.root / "registry.toml"
    data.write_text(REGISTRY_HEAD + body, encoding="utf-8")
    project.write_config(
        data={"files": [str(data)]},
        email={"transport": "smtp"},
        smtp={"host": server.host, "port": server.port},
        **sections,
    )


def run(project: Project, job: str, as_of: str) -> None:
    result = project.cli("run", job, "--as-of", as_of)
    assert result.exit_code == 0, result.stdout + result.stderr


def mail_to(server: SmtpTestServer, address: str) -> list[tuple[str, str]]:
    """(subject, plain text) of every message to `address`, in arrival order; runs of white
    space (line breaks, the no-break spaces that keep a date on one line) read as one space."""
    return [
        (" ".join(str(m.message["Subject"]).split()), " ".join(body_text(m.message).split()))
        for m in server.messages
        if m.rcpt_tos[0] == address
    ]


def db_rows(project: Project, sql: str) -> list[tuple]:
    with sqlite3.connect(project.db_path) as conn:
        return conn.execute(sql).fetchall()


DEADLINE_MAY_4 = """
[[budget_deadline]]
id = "plan"
title = "Submit the activity plan"
due_on = 2026-05-04
"""


def test_deadline_after_labour_day_asks_for_1_may(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    use_registry(project, smtp_server, DEADLINE_MAY_4)
    run(project, "budget-deadlines", "2026-04-28")
    [(subject, text)] = mail_to(smtp_server, "lead@example.org")
    assert "1 May 2026" in subject and "30 Apr 2026" not in subject
    assert "4 May 2026" in text and "1 May 2026" in text and "30 Apr" not in text


def test_extra_working_days_from_config_reach_the_emails(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    # The office works on Coronation Day 2026 (say): the deadline is then not on a closed day.
    use_registry(
        project, smtp_server, DEADLINE_MAY_4, scheduler={"extra_working_days": ["2026-05-04"]}
    )
    config = project.config.read_text(encoding="utf-8")
    project.config.write_text(config.replace('["2026-05-04"]', "[2026-05-04]"), encoding="utf-8")
    run(project, "budget-deadlines", "2026-04-28")
    [(subject, text)] = mail_to(smtp_server, "lead@example.org")
    assert "4 May 2026" in subject and "1 May" not in subject and "⚠" not in text


def test_extra_working_days_must_be_dates(project: Project) -> None:
    project.write_config(scheduler={"extra_working_days": ["2026-05-04"]})
    result = project.cli("status")
    assert result.exit_code == 2
    assert "extra_working_days" in result.output + result.stderr
    assert "Traceback" not in result.output + result.stderr


# -- SPEC "Stages": a deadline's stages count back from its act-by date

DEADLINE_JUNE_1 = """
[[budget_deadline]]
id = "report"
title = "Submit the half-year report"
due_on = 2026-06-01               # Monday, Visakha Bucha (in lieu): offices are closed
"""


def test_stages_of_a_deadline_on_a_closed_day_count_from_the_act_by_date(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    use_registry(project, smtp_server, DEADLINE_JUNE_1)
    run(project, "budget-deadlines", "2026-05-29")  # Fri 29 May: the real last day
    [(subject, text)] = mail_to(smtp_server, "lead@example.org")
    assert "29 May 2026 (today)" in subject
    assert "1 Jun 2026" in text and "act by 29 May 2026 (today)" in text
    assert db_rows(project, "SELECT stage FROM notices WHERE recipient = 'lead@example.org'") == [
        (0,)
    ]
    # the days after the act-by date, the due date included, send nothing for it
    for as_of in ("2026-05-30", "2026-05-31", "2026-06-01"):
        run(project, "budget-deadlines", as_of)
    assert len(mail_to(smtp_server, "lead@example.org")) == 1


def test_a_run_after_the_act_by_date_never_asks_for_a_past_date(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    use_registry(project, smtp_server, DEADLINE_JUNE_1)
    run(project, "budget-deadlines", "2026-06-01")  # the daemon was down until the due date
    assert smtp_server.messages == []


def test_the_7_day_stage_counts_from_the_act_by_date(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    use_registry(project, smtp_server, DEADLINE_JUNE_1)
    run(project, "budget-deadlines", "2026-05-21")  # 8 days before 29 May: the 30-day stage
    run(project, "budget-deadlines", "2026-05-22")  # 7 days before 29 May
    stages = db_rows(
        project, "SELECT stage FROM notices WHERE recipient = 'lead@example.org' ORDER BY stage"
    )
    assert stages == [(7,), (30,)]


working_calendars = st.builds(
    WorkingCalendar,
    extra_holidays=st.lists(st.dates(date(2024, 1, 1), date(2027, 12, 31)), max_size=20),
    extra_working_days=st.lists(st.dates(date(2024, 1, 1), date(2027, 12, 31)), max_size=5),
)
days = st.dates(date(2024, 1, 10), date(2027, 12, 31))
lead_days = st.lists(st.integers(0, 90), min_size=1, max_size=6)


@given(working_calendars, days)
def test_act_by_is_the_last_working_day_on_or_before_the_due_date(
    calendar: WorkingCalendar, due: date
) -> None:
    act_by = calendar.act_by(due)
    assert act_by <= due
    assert calendar.is_working_day(act_by)
    day = act_by + timedelta(days=1)
    while day <= due:
        assert not calendar.is_working_day(day)
        day += timedelta(days=1)


@given(days, st.integers(-120, 120), lead_days)
def test_the_stage_picked_is_the_latest_due_and_never_after_act_by(
    act_by: date, offset: int, leads: list[int]
) -> None:
    as_of = act_by - timedelta(days=offset)
    stage = due_stage(act_by, as_of, leads)
    if as_of > act_by:
        assert stage is None  # never a reminder to act by a date already past
        return
    due = [d for d in leads if act_by - timedelta(days=d) <= as_of]
    if not due:
        assert stage is None
    else:
        assert stage == min(due)  # the latest stage already due; missed ones are skipped


@given(days, st.integers(-10, 70))
def test_the_deadline_planner_stages_from_act_by_and_never_after_it(
    due: date, offset: int
) -> None:
    staff = Contact("s", "Staff", "s@example.org")
    start = datetime.combine(due, datetime.min.time())
    deadline = BudgetDeadline("d", "Deadline", Recurrence(start))
    registry = Registry(contacts={"s": staff}, budget_deadlines={"d": deadline})
    as_of = due - timedelta(days=offset)
    context = PlanContext(registry, as_of, JobSettings(), CALENDAR)
    notices = budget_deadlines.plan(context)
    act_by = CALENDAR.act_by(due)
    expected = due_stage(act_by, as_of, JobSettings().deadline_lead_days)
    assert [n.stage for n in notices] == ([] if expected is None else [expected])
    for notice in notices:
        assert as_of <= act_by and notice.occurrence == due
        assert notice.context["act_by"] == act_by


# -- expired agreements: no anniversary after expiry; listed for review once expired

EXPIRED = """
[[partner]]
id = "nara"
name = "Nara"
country = "JP"

  [[partner.agreement]]
  kind = "mou"
  signed_on = 2015-03-30
  expires_on = 2020-03-30

[[partner]]
id = "kobe"
name = "Kobe"
country = "JP"

  [[partner.agreement]]
  kind = "mou"
  signed_on = 2015-03-30          # still in force: celebrated
"""


def test_an_expired_agreement_gets_no_anniversary(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    use_registry(project, smtp_server, EXPIRED)
    run(project, "anniversaries", "2025-03-30")
    [(_subject, text)] = mail_to(smtp_server, "lead@example.org")
    assert "Kobe" in text and "Nara" not in text
    items = {row[0] for row in db_rows(project, "SELECT DISTINCT item FROM notices")}
    assert items and all(item.startswith("kobe/") for item in items)


REVIEW = """
[[partner]]
id = "kobe"
name = "Kobe"
country = "JP"

  [[partner.agreement]]
  kind = "mou"
  signed_on = 2019-06-01
  expires_on = 2025-02-01         # expired six weeks before the meeting, not renewed

[[partner]]
id = "sakai"
name = "Sakai"
country = "JP"

  [[partner.agreement]]
  kind = "mou"
  signed_on = 2019-06-01
  expires_on = 2025-01-15

  [[partner.agreement]]
  kind = "mou"
  signed_on = 2025-01-10          # the renewal

[[partner]]
id = "himeji"
name = "Himeji"
country = "JP"

  [[partner.agreement]]
  kind = "mou"
  signed_on = 2010-06-01
  expires_on = 2024-06-01         # expired before the last horizon_days

[[meeting]]
id = "japan"
title = "Japan working group"
dtstart = 2025-03-14T10:00:00
working_groups = ["japan"]
"""


def _section(text: str, start: str, end: str) -> str:
    return text[text.index(start) : text.index(end, text.index(start))]


def test_an_agreement_expired_recently_and_not_renewed_is_listed_for_review(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    use_registry(project, smtp_server, REVIEW)
    run(project, "meeting-agendas", "2025-03-13")
    [(_subject, text)] = mail_to(smtp_server, "lead@example.org")
    review = _section(text, "4.2 ", "4.3 ")
    assert "1 Feb 2025 (expired)" in review and "Kobe" in review
    assert "Sakai" not in review and "Himeji" not in review
    [(_subject, thai)] = mail_to(smtp_server, "staff@example.org")
    assert "สิ้นสุดแล้ว 1 ก.พ. 2568" in _section(thai, "4.2 ", "4.3 ")


# -- dormancy: a signing is life; the occurrence is the day the silence began

NEW_SIGNING = """
[[partner]]
id = "nara"
name = "Nara"
country = "JP"

  [[partner.agreement]]
  kind = "loi"
  signed_on = 2014-03-01

  [[partner.agreement]]
  kind = "mou"
  signed_on = 2024-11-01

  [[partner.activity]]
  date = 2015-05-05
  title = "Visit"
"""


def test_a_new_signing_ends_dormancy(project: Project, smtp_server: SmtpTestServer) -> None:
    use_registry(project, smtp_server, NEW_SIGNING)
    run(project, "dormant-partners", "2024-12-30")
    assert smtp_server.messages == []
    listing = project.cli("partners", "--as-of", "2024-12-30")
    assert listing.exit_code == 0, listing.output
    assert "DORMANT" not in listing.output
    # a year of silence after the signing is dormancy again, counted from the signing
    run(project, "dormant-partners", "2025-11-01")
    [(_subject, text)] = mail_to(smtp_server, "lead@example.org")
    assert "Nara" in text
    assert db_rows(project, "SELECT DISTINCT occurrence FROM notices") == [("2024-11-01",)]


QUIET = """
[[partner]]
id = "nara"
name = "Nara"
country = "JP"

  [[partner.agreement]]
  kind = "mou"
  signed_on = 2010-03-01

  [[partner.activity]]
  date = 2017-09-05
  title = "Visit"
"""


def test_changing_after_days_does_not_restart_the_notices(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    use_registry(project, smtp_server, QUIET)
    run(project, "dormant-partners", "2018-09-05")  # 365 days of silence
    run(project, "dormant-partners", "2018-12-04")  # 90 days later: the repeat
    assert len(smtp_server.messages) == 4  # lead and staff, twice
    use_registry(
        project, smtp_server, QUIET, **{"jobs__dormant-partners": {"after_days": 380}}
    )
    run(project, "dormant-partners", "2018-12-05")
    assert len(smtp_server.messages) == 4
    use_registry(
        project, smtp_server, QUIET, **{"jobs__dormant-partners": {"repeat_days": 60}}
    )
    run(project, "dormant-partners", "2019-02-02")  # 60 days after the last notice
    assert len(smtp_server.messages) == 6
    assert db_rows(project, "SELECT DISTINCT occurrence FROM notices") == [("2017-09-05",)]


# -- fiscal years in titles; meetings on closed days flagged to staff

SUMMARY_MEETING = """
[[contact]]
id = "staff-en"
name = "Anna Staff"
email = "anna@example.org"
language = "en"
role = "staff"

[[meeting]]
id = "summary"
title = "Summary meeting FY{fiscal_year}, plans for FY{next_fiscal_year}"
title_th = "ประชุมสรุปผล ปีงบประมาณ {fiscal_year} แผนปี {next_fiscal_year}"
dtstart = 2024-11-15T09:30:00     # Fri 15 Nov 2024; Sat 15 Nov 2025; Sun 15 Nov 2026
rrule = "FREQ=YEARLY"

[[budget_deadline]]
id = "plan"
title = "Activity plan FY{next_fiscal_year}"
title_th = "แผนกิจกรรม ปีงบประมาณ {next_fiscal_year}"
due_on = 2017-11-15
"""


def test_fiscal_years_are_filled_in_meeting_and_deadline_titles(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    use_registry(project, smtp_server, SUMMARY_MEETING)
    run(project, "meeting-agendas", "2025-11-14")
    [(subject, text)] = mail_to(smtp_server, "lead@example.org")
    # FY of 15 Nov 2025 is BE 2569 (it began on 1 Oct 2025)
    assert "Summary meeting FY2569, plans for FY2570" in subject
    assert "Summary meeting FY2569, plans for FY2570" in text
    [(subject_th, text_th)] = mail_to(smtp_server, "staff@example.org")
    assert "ประชุมสรุปผล ปีงบประมาณ 2569 แผนปี 2570" in subject_th
    invitation = next(
        m.message for m in smtp_server.messages if m.rcpt_tos[0] == "lead@example.org"
    )
    ics = next(p for p in invitation.walk() if p.get_content_type() == "text/calendar")
    assert "FY2569" in ics.get_payload(decode=True).decode()
    assert "{" not in subject + text + subject_th + text_th
    run(project, "budget-deadlines", "2017-11-15")  # FY2561: the plan for FY2562
    deadline = mail_to(smtp_server, "lead@example.org")[-1]
    assert "Activity plan FY2562" in deadline[0]
    assert "แผนกิจกรรม ปีงบประมาณ 2562" in mail_to(smtp_server, "staff@example.org")[-1][0]


def test_a_meeting_on_a_weekend_is_flagged_to_staff(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    use_registry(project, smtp_server, SUMMARY_MEETING)
    run(project, "meeting-agendas", "2025-11-14")  # Sat 15 Nov 2025 is tomorrow
    [(_s, staff_en)] = mail_to(smtp_server, "anna@example.org")
    assert "⚠ Sat 15 Nov 2025 is not a working day" in staff_en
    [(_s, staff_th)] = mail_to(smtp_server, "staff@example.org")
    assert "⚠ วันเสาร์ที่ 15 พ.ย. 2568 ไม่ใช่วันทำการ" in staff_th
    [(_s, lead)] = mail_to(smtp_server, "lead@example.org")
    assert "not a working day" not in lead  # the lead is not staff
    html = next(m.message for m in smtp_server.messages if m.rcpt_tos[0] == "anna@example.org")
    html_part = html.get_body(preferencelist=("html",))
    assert html_part is not None
    assert "is not a working day" in " ".join(str(html_part.get_content()).split())


def test_a_meeting_on_a_working_day_is_not_flagged(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    use_registry(project, smtp_server, SUMMARY_MEETING)
    run(project, "meeting-agendas", "2024-11-14")  # Fri 15 Nov 2024
    [(_s, staff_en)] = mail_to(smtp_server, "anna@example.org")
    assert "not a working day" not in staff_en


def test_notices_keyed_by_the_old_rule_still_count_after_an_upgrade(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    """Before this rule, a dormant notice's occurrence was the day the spell reached
    after_days (2018-09-05 here). A database upgraded with such notices must not notify the
    same spell again before repeat_days have passed."""
    use_registry(project, smtp_server, QUIET)
    run(project, "dormant-partners", "2018-09-05")
    assert len(smtp_server.messages) == 2  # lead and staff
    with sqlite3.connect(project.db_path) as conn:  # as the previous version recorded them
        conn.execute("UPDATE notices SET occurrence = '2018-09-05'")
    run(project, "dormant-partners", "2018-09-06")
    run(project, "dormant-partners", "2018-12-03")  # 89 days on: too early to repeat
    assert len(smtp_server.messages) == 2
    run(project, "dormant-partners", "2018-12-04")  # 90 days on: the repeat
    assert len(smtp_server.messages) == 4
