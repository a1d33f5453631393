from __future__ import annotations

import email
import email.policy
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from scheduler.mail.invitation import (
    PRODID,
    Attendee,
    attach_invitation,
    build_invitation,
    clean_name,
    clean_text,
    event_uid,
)

BANGKOK = ZoneInfo("Asia/Bangkok")
THAI_SUMMARY = "ประชุมสรุปคณะทำงานเมืองพี่เมืองน้อง"
UID = event_uid("wg-tourism", date(2017, 11, 15), "sistercity.example")


def _build(**overrides: Any) -> bytes:
    kwargs: dict[str, Any] = {
        "uid": UID,
        "summary": THAI_SUMMARY,
        "starts_at": datetime(2017, 11, 15, 9, 30, tzinfo=BANGKOK),
        "duration_minutes": 120,
        "location": "ศาลากลางจังหวัด ห้องประชุม 1",
        "description": "วาระที่ 1: รับรองรายงานการประชุม\nวาระที่ 2: แผนงานปี 2561",
        "organizer_email": "ir@province.example.go.th",
        "organizer_name": "สำนักงานจังหวัด ฝ่ายการต่างประเทศ",
        "attendees": [
            Attendee("somchai@province.example.go.th", "สมชาย ใจดี"),
            Attendee("consul@consulate.example.jp", "Consul Tanaka"),
        ],
        "sequence": 0,
        "stamp": datetime(2017, 11, 1, 3, 0, tzinfo=UTC),
    }
    kwargs.update(overrides)
    return build_invitation(**kwargs)


def _event(ics: bytes) -> Any:
    cal = Calendar.from_ical(ics)
    events = cal.walk("VEVENT")
    assert len(events) == 1
    return events[0]


def _assert_wire_format(ics: bytes) -> None:
    assert ics.endswith(b"\r\n")
    assert b"\n" not in ics.replace(b"\r\n", b"")
    assert b"\r" not in ics.replace(b"\r\n", b"")
    for line in ics.split(b"\r\n"):
        assert len(line) <= 75, line
        line.decode("utf-8")  # folding never splits a UTF-8 sequence


def _unfolded_lines(ics: bytes) -> list[str]:
    return ics.decode("utf-8").replace("\r\n ", "").split("\r\n")


def test_event_uid_format() -> None:
    assert UID == "wg-tourism-20171115@sistercity.example"


def test_calendar_header_and_single_event() -> None:
    ics = _build()
    cal = Calendar.from_ical(ics)
    assert str(cal["METHOD"]) == "REQUEST"
    assert str(cal["PRODID"]) == PRODID
    assert str(cal["VERSION"]) == "2.0"
    assert str(cal["CALSCALE"]) == "GREGORIAN"
    assert len(cal.walk("VEVENT")) == 1
    assert cal.walk("VTIMEZONE") == []
    event = _event(ics)
    assert str(event["STATUS"]) == "CONFIRMED"
    assert str(event["TRANSP"]) == "OPAQUE"
    assert event["SEQUENCE"] == 0


def test_uid_is_stable_across_reminders() -> None:
    first = _build()
    second = _build(
        stamp=datetime(2017, 11, 14, 1, 0, tzinfo=UTC),
        sequence=3,
        attendees=[Attendee("other@consulate.example.cn", "Other")],
    )
    assert first != second
    assert str(_event(first)["UID"]) == str(_event(second)["UID"]) == UID
    assert _event(second)["SEQUENCE"] == 3


def test_times_are_utc() -> None:
    ics = _build()
    event = _event(ics)
    start = event.decoded("DTSTART")
    end = event.decoded("DTEND")
    assert start == datetime(2017, 11, 15, 2, 30, tzinfo=UTC)
    assert start.utcoffset() == timedelta(0)
    assert end - start == timedelta(minutes=120)
    assert event.decoded("DTSTAMP") == datetime(2017, 11, 1, 3, 0, tzinfo=UTC)
    lines = _unfolded_lines(ics)
    assert "DTSTART:20171115T023000Z" in lines
    assert "DTEND:20171115T043000Z" in lines
    assert "DTSTAMP:20171101T030000Z" in lines
    assert not any("TZID" in line for line in lines)


def test_naive_datetimes_rejected() -> None:
    with pytest.raises(ValueError):
        _build(starts_at=datetime(2017, 11, 15, 9, 30))
    with pytest.raises(ValueError):
        _build(stamp=datetime(2017, 11, 1))


def test_organizer_and_attendees() -> None:
    event = _event(_build())
    organizer = event["ORGANIZER"]
    assert str(organizer) == "mailto:ir@province.example.go.th"
    assert organizer.params["CN"] == "สำนักงานจังหวัด ฝ่ายการต่างประเทศ"
    attendees = event["ATTENDEE"]
    assert [str(a) for a in attendees] == [
        "mailto:somchai@province.example.go.th",
        "mailto:consul@consulate.example.jp",
    ]
    assert [a.params["CN"] for a in attendees] == ["สมชาย ใจดี", "Consul Tanaka"]
    for attendee in attendees:
        assert attendee.params["ROLE"] == "REQ-PARTICIPANT"
        assert attendee.params["PARTSTAT"] == "NEEDS-ACTION"
        assert attendee.params["RSVP"] == "TRUE"
        assert attendee.params["CUTYPE"] == "INDIVIDUAL"


def test_single_attendee_and_duplicates() -> None:
    event = _event(_build(attendees=[Attendee("a@x.example"), Attendee("A@x.example", "dup")]))
    attendee = event["ATTENDEE"]
    # a single ATTENDEE parses back as one value, not a list
    assert str(attendee) == "mailto:a@x.example"
    assert "CN" not in attendee.params


def test_wire_format_crlf_and_folding() -> None:
    ics = _build(description=THAI_SUMMARY * 10)
    _assert_wire_format(ics)
    assert any(line.startswith(b" ") for line in ics.split(b"\r\n"))


def test_thai_text_round_trips() -> None:
    event = _event(_build(description=THAI_SUMMARY * 5))
    assert str(event["SUMMARY"]) == THAI_SUMMARY
    assert str(event["DESCRIPTION"]) == THAI_SUMMARY * 5
    assert str(event["LOCATION"]) == "ศาลากลางจังหวัด ห้องประชุม 1"


def test_header_injection_in_summary_stays_in_summary() -> None:
    ics = _build(summary="Agenda\r\nBCC: x", location="Room\nATTENDEE:mailto:evil@x.example")
    _assert_wire_format(ics)
    lines = _unfolded_lines(ics)
    assert not any(line.startswith("BCC") for line in lines)
    assert "SUMMARY:Agenda\\nBCC: x" in lines
    event = _event(ics)
    assert str(event["SUMMARY"]) == "Agenda\nBCC: x"
    assert len(event["ATTENDEE"]) == 2  # the injected ATTENDEE line did not appear


def test_backslashes_and_separators_round_trip() -> None:
    text = "C:\\New folder\\notes; a, b \\n \\N\ttab"
    event = _event(_build(description=text))
    assert str(event["DESCRIPTION"]) == text


def test_control_characters_dropped() -> None:
    event = _event(_build(summary="a\x00b\x07c\x1bd\x7fe\x85f\u2028g"))
    assert str(event["SUMMARY"]) == "abcde\nf\ng"


def test_cn_is_cleaned() -> None:
    name = 'สมชาย "Joe"\r\nBCC: x;\x00 ROLE=CHAIR:\\'
    assert clean_name(name) == "สมชาย Joe BCC: x; ROLE=CHAIR:"
    ics = _build(attendees=[Attendee("a@x.example", name)], organizer_name='Org "Q"\n')
    _assert_wire_format(ics)
    event = _event(ics)
    attendee = event["ATTENDEE"]
    assert str(attendee) == "mailto:a@x.example"
    assert attendee.params["CN"] == "สมชาย Joe BCC: x; ROLE=CHAIR:"
    assert attendee.params["ROLE"] == "REQ-PARTICIPANT"
    assert event["ORGANIZER"].params["CN"] == "Org Q"


@pytest.mark.parametrize("name", ["\\", "Tanaka\\", "a\\;b"])
def test_backslash_in_cn_does_not_swallow_parameters(name: str) -> None:
    attendee = _event(_build(attendees=[Attendee("a@x.example", name)]))["ATTENDEE"]
    assert attendee.params.get("CN", "") == name.replace("\\", "")
    assert attendee.params["CUTYPE"] == "INDIVIDUAL"
    assert attendee.params["RSVP"] == "TRUE"


@pytest.mark.parametrize(
    "bad", ["", "no-at-sign", "a@x.example\r\nBCC: y", "a b@x.example", "a@x\x00.example"]
)
def test_bad_email_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        _build(attendees=[Attendee(bad)])
    with pytest.raises(ValueError):
        _build(organizer_email=bad)


def _agenda_message() -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = "วาระการประชุม: " + THAI_SUMMARY
    msg["From"] = "ir@province.example.go.th"
    msg["To"] = "consul@consulate.example.jp"
    msg.set_content("วาระการประชุม\n1. รับรองรายงาน")
    msg.add_alternative("<p>วาระการประชุม</p>", subtype="html")
    return msg


def test_email_structure() -> None:
    ics = _build()
    msg = _agenda_message()
    attach_invitation(msg, ics)

    parsed = email.message_from_bytes(bytes(msg), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    # One copy of the calendar, inline (issue 18, fault 5): no invite.ics attachment.
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed["Subject"] == "วาระการประชุม: " + THAI_SUMMARY
    assert parsed["From"] == "ir@province.example.go.th"
    assert parsed["To"] == "consul@consulate.example.jp"
    assert [p.get_content_type() for p in parsed.iter_parts()] == [
        "text/plain",
        "text/html",
        "text/calendar",
    ]
    assert b"invite.ics" not in bytes(msg) and b"application/ics" not in bytes(msg)

    calendars = [p for p in parsed.walk() if p.get_content_type() == "text/calendar"]
    assert len(calendars) == 1
    (calendar,) = calendars
    assert calendar.get_param("method") == "REQUEST"
    assert calendar.get_content_charset() == "utf-8"
    assert calendar.get_content_disposition() is None
    assert calendar.get_content().encode("utf-8") == ics
    assert str(_event(calendar.get_content().encode("utf-8"))["UID"]) == UID

    bodies = [p.get_content() for p in parsed.walk() if p.get_content_maintype() == "text"]
    assert "วาระการประชุม\n1. รับรองรายงาน\n" in bodies


def test_email_requires_alternative_and_single_invitation() -> None:
    ics = _build()
    plain = EmailMessage()
    plain.set_content("text only")
    with pytest.raises(ValueError):
        attach_invitation(plain, ics)
    msg = _agenda_message()
    attach_invitation(msg, ics)
    with pytest.raises(ValueError):
        attach_invitation(msg, ics)


_tricky = st.sampled_from(
    [
        *"ประชุมสรุปคณะทำงานเมืองพี่เมืองน้อง",
        "\r\n",
        "\r",
        "\n",
        "\x00",
        "\x0b",
        "\x1b",
        "\x7f",
        "\x85",
        "\u2028",
        "\t",
        "\\",
        "\\N",
        ";",
        ",",
        ":",
        '"',
        "^",
        "BCC: x",
        "😀",
        "é",
    ]
)
_summaries = st.lists(st.one_of(_tricky, st.characters()), max_size=120).map("".join)


@settings(max_examples=300, deadline=None)
@given(summary=_summaries, name=_summaries)
def test_random_text_never_breaks_structure(summary: str, name: str) -> None:
    ics = _build(
        summary=summary,
        description=summary * 3,
        attendees=[Attendee("a@x.example", name)],
    )
    _assert_wire_format(ics)
    event = _event(ics)
    assert str(event["SUMMARY"]) == clean_text(summary)
    assert str(event["DESCRIPTION"]) == clean_text(summary) * 3
    attendee = event["ATTENDEE"]
    assert str(attendee) == "mailto:a@x.example"
    assert attendee.params.get("CN", "") == clean_name(name)
    assert attendee.params["RSVP"] == "TRUE"
