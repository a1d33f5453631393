"""Faults a newcomer found in the emails (issue 14 review), through `load` and `run` with the
file transport: Thai twins (`notes_th`, `location_th`) in Thai emails, the signature last,
cancellation subjects, no stray space before the Thai "how to act" line."""

from __future__ import annotations

import itertools
from email.message import EmailMessage
from pathlib import Path

import pytest
from conftest import Project, body_text
from test_audiences import BUNDLED, parts, preview, sistercity, write_config

from scheduler.mail import render

PEOPLE = """
[[contact]]
id = "th-lead"
name = "Somchai Lead"
email = "th-lead@example.org"
language = "th"
role = "lead"

[[contact]]
id = "en-lead"
name = "Jane Lead"
email = "en-lead@example.org"
language = "en"
role = "lead"

[[working_group]]
id = "china"
name = "China"
name_th = "จีน"
lead = "th-lead"
countries = ["CN"]

[[working_group]]
id = "korea"
name = "Korea"
name_th = "เกาหลี"
lead = "en-lead"
countries = ["KR"]

[[partner]]
id = "chengdu"
name = "Chengdu"
name_th = "เฉิงตู"
country = "CN"

  [[partner.agreement]]
  kind = "sister-city"
  signed_on = 2015-03-30
"""

DEADLINE = """
[[budget_deadline]]
id = "plan"
title = "Submit the activity plan"
title_th = "ส่งแผนกิจกรรม"
due_on = 2018-01-15
notes = "Ask the provincial budget office first."
notes_th = "โปรดสอบถามสำนักงานงบประมาณจังหวัดก่อน"
"""


def meeting(extra: str = "") -> str:
    return f"""
[[meeting]]
id = "yearly"
title = "Yearly review"
title_th = "ประชุมทบทวนประจำปี"
starts_at = 2017-11-15T09:30:00
duration_minutes = 60
location = "Provincial Hall"
location_th = "ศาลากลางจังหวัด"
{extra}
"""


def setup(project: Project, data: str) -> None:
    path = project.root / "data.toml"
    path.write_text(PEOPLE + data, encoding="utf-8")
    project.write_config(data={"files": [str(path)]})
    loaded = project.cli("load", str(path))
    assert loaded.exit_code == 0, loaded.output


def run(project: Project, job: str, as_of: str) -> dict[str, EmailMessage]:
    """The emails `run` writes this time, by recipient address."""
    before = {str(m["Message-ID"]) for m in project.eml_files()}
    result = project.cli("run", job, "--as-of", as_of)
    assert result.exit_code == 0, result.output
    return {m["To"].addresses[0].addr_spec: m for m in project.eml_files()
            if str(m["Message-ID"]) not in before}


def html_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def flat(text: str) -> str:
    return " ".join(text.replace("\xa0", " ").split())


def test_a_deadlines_thai_notes_are_loaded_and_shown_to_thai_readers(project: Project) -> None:
    setup(project, DEADLINE)
    sent = run(project, "budget-deadlines", "2018-01-01")
    thai, english = sent["th-lead@example.org"], sent["en-lead@example.org"]
    for body in (flat(body_text(thai)), flat(html_of(thai))):
        assert "หมายเหตุ: โปรดสอบถามสำนักงานงบประมาณจังหวัดก่อน" in body
        assert "Ask the provincial" not in body
    assert "Ask the provincial budget office first." in flat(body_text(english))
    assert "โปรดสอบถาม" not in flat(body_text(english))


def test_thai_meeting_emails_give_the_thai_location(project: Project) -> None:
    setup(project, meeting())
    invitation = run(project, "meeting-agendas", "2017-11-01")["th-lead@example.org"]
    for body in (flat(body_text(invitation)), flat(html_of(invitation))):
        assert "สถานที่: ศาลากลางจังหวัด" in body or "สถานที่</td><td>ศาลากลางจังหวัด" in body
        assert "Provincial Hall" not in body
    setup(project, meeting('cancelled = true'))
    cancelled = run(project, "meeting-agendas", "2017-11-02")
    thai = flat(body_text(cancelled["th-lead@example.org"]))
    assert "ณ ศาลากลางจังหวัด โปรดลบออกจากปฏิทิน" in thai and "Provincial Hall" not in thai
    assert "at Provincial Hall is cancelled" in flat(body_text(cancelled["en-lead@example.org"]))


def test_a_cancellation_subject_names_the_meeting_and_its_time_only(project: Project) -> None:
    setup(project, meeting())
    run(project, "meeting-agendas", "2017-11-01")
    setup(project, meeting("cancelled = true"))
    cancelled = run(project, "meeting-agendas", "2017-11-02")
    assert str(cancelled["en-lead@example.org"]["Subject"]) == \
        "Cancelled: Yearly review, 15 Nov 2017 09:30"
    assert str(cancelled["th-lead@example.org"]["Subject"]) == \
        "ยกเลิก: ประชุมทบทวนประจำปี 15 พ.ย. 2560 09:30 น."


def test_every_email_ends_with_the_signature_and_has_no_stray_space(project: Project) -> None:
    """The office's name, email and phone end every part (SPEC "Signature"); the Thai "how to
    act" line starts its line, also after a shared rendering's "also sent to" line."""
    setup(project, meeting())
    project.write_config(data={"files": [str(project.root / "data.toml")]},
                         office={"name": "Intl Desk", "email": "desk@example.org",
                                 "phone": "+66 53 111 222"})
    sent = run(project, "meeting-agendas", "2017-11-01")
    assert set(sent) == {"th-lead@example.org", "en-lead@example.org"}
    for address, msg in sent.items():
        text = body_text(msg).replace("\r\n", "\n").rstrip()
        assert text.endswith("+66 53 111 222"), (address, text[-200:])
        html = html_of(msg)
        assert "desk@example.org" in html.split("sistercity")[-1], address


def test_no_stray_space_after_a_shared_renderings_also_sent_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several Thai leads share one rendering of the budget deadlines; each reader's "also sent
    to" line is put in afterwards, and the Thai "how to act" line still starts its line. The
    shared rendering's slots are random; here they end in a Latin letter, as 6 in 16 do."""
    made = itertools.count()
    monkeypatch.setattr(render, "_name_slot", lambda: f"sistercity-reader-{next(made)}f")
    monkeypatch.chdir(tmp_path)
    config = write_config(tmp_path, BUNDLED)
    sistercity(config, "init")
    emails = preview(config, "budget-deadlines", "2017-11-01", tmp_path / "out")
    # The bundled data's one head (an escalation, issue 17) has nobody else to name.
    thai = [parts(msg)[0] for address, msg in emails.items()
            if parts(msg)[0].startswith("เรียน") and address != "office-head@example.org"]
    assert len(thai) >= 4
    for text in thai:
        assert "ผู้ได้รับแจ้งเรื่องนี้ด้วย" in text
        assert "\nหากต้องการแจ้งผลการดำเนินการ" in text and " หากต้องการ" not in text


def test_without_a_phone_the_emails_do_not_point_to_one(tmp_path: Path) -> None:
    """With no `office.phone`, the line on how to act names the office's email only: it never
    sends the reader to a phone number that the signature below does not give."""
    config = write_config(tmp_path, BUNDLED, email="intl@example.org")
    sent = preview(config, "dormant-partners", "2017-11-01", tmp_path / "out")
    assert sent
    for msg in sent.values():
        text, html = parts(msg)
        for part in (text, html):
            assert "โทรศัพท์" not in part and "phone" not in part.lower(), msg["To"]
        assert "intl@example.org" in text
