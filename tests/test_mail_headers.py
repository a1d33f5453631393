"""SPEC "Emails" → "Headers": every non-ASCII header is RFC 2047 encoded with encoded-words of
at most 75 characters and decodes to exactly the planned text, no space lost or added."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
from email.header import decode_header, make_header
from email.headerregistry import Address
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest
from conftest import Project
from hypothesis import example, given, settings
from hypothesis import strategies as st

from scheduler.config import bundled_path, load_settings
from scheduler.mail import headers
from scheduler.mail.outbox import Draft
from scheduler.mail.render import build_message, header_text
from scheduler.registry.bootstrap import open_database
from scheduler.services.runs import Runner

ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bqBQ]\?[^?\s]*\?=")

THAI = "".join(chr(c) for c in range(0x0E01, 0x0E5C) if chr(c).isprintable())
VIETNAMESE = ("ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ"
              "ĂÂĐÊÔƠƯẠẢẤẦẨẪẬẮẰẲẴẶẸẺẼẾỀỂỄỆỈỊỌỎỐỒỔỖỘỚỜỞỠỢỤỦỨỪỬỮỰỲỴỶỸ")
FRENCH = "éèêëàâîïôûùüçœæÉÈÊÀÂÎÔÛÇŒ«»’"
ASCII = "abcXYZ0189 .,:;!?()[]<>\"'-_=/@#%&*+"
subjects = st.text(
    alphabet=st.sampled_from(THAI + VIETNAMESE + FRENCH + ASCII + "\u00a0  –—…★⚠"),
    min_size=1, max_size=400,
)


def wire(data: bytes, name: str) -> list[str]:
    """The lines of header field `name` as written (CRLF line ends checked)."""
    head = data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    assert "\n" not in head.replace("\r\n", "")
    lines = head.split("\r\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{name}: "))
    end = start + 1
    while end < len(lines) and lines[end][:1] in (" ", "\t"):
        end += 1
    return lines[start:end]


def assert_well_formed(lines: list[str]) -> None:
    for line in lines:
        assert len(line.encode("ascii")) <= 78, line
    for word in ENCODED_WORD.findall(" ".join(lines)):
        assert len(word) <= 75, word


def rfc2047_decoded(lines: list[str], name: str) -> str:
    """The field decoded as RFC 2047 says (email.header: whitespace between encoded-words
    ignored), after unfolding (RFC 5322 §2.2.3: remove the CRLFs)."""
    unfolded = "".join(lines)[len(name) + 2 :]
    return str(make_header(decode_header(unfolded)))


def message(subject: str, to_name: str = "Anna Keller",
            sender: str = "Chiang Mai International Affairs <intl@example.org>") -> bytes:
    msg = build_message(
        sender=sender,
        to=Address(to_name, addr_spec="reader@example.org"),
        subject=subject,
        text="body\n",
        html="<p>body</p>\n",
        message_id="<x@example.org>",
        date=dt.datetime(2018, 11, 1, 8, 0, tzinfo=ZoneInfo("Asia/Bangkok")),
        job="anniversaries",
    )
    return msg.as_bytes()


def assert_subject_round_trips(planned: str, data: bytes) -> None:
    lines = wire(data, "Subject")
    assert_well_formed(lines)
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert parsed["Subject"] == planned
    assert rfc2047_decoded(lines, "Subject") == planned


# --- the cases ---------------------------------------------------------------------


def test_thai_subject_keeps_its_spaces() -> None:
    planned = ("วันครบรอบการลงนามความตกลงกับเมืองพี่เมืองน้อง: เฉิงตู 15 พ.ย. 2561 (อีก 17 วัน) "
               "และอีก 2 รายการ")
    data = message(planned)
    assert_subject_round_trips(planned, data)
    assert all(ENCODED_WORD.fullmatch(line.split(": ", 1)[-1].strip())
               for line in wire(data, "Subject"))


def test_no_break_spaces_of_a_date_read_as_plain_spaces_in_the_subject() -> None:
    planned = header_text("ครบรอบ 15\u00a0พ.ย.\u00a02561 (อีก\u00a017\u00a0วัน)")
    assert planned == "ครบรอบ 15 พ.ย. 2561 (อีก 17 วัน)"
    assert_subject_round_trips(planned, message(planned))


def test_ascii_subject_is_left_readable() -> None:
    planned = ("Anniversaries: Chengdu (China) on 15 Nov 2018 (in 17 days) and 2 more, "
               "among them a milestone")
    data = message(planned)
    lines = wire(data, "Subject")
    assert not ENCODED_WORD.search(" ".join(lines))
    assert len(lines) == 2
    assert_subject_round_trips(planned, data)


def test_thai_names_are_encoded_in_from_and_to() -> None:
    to_name = "นายสมชาย ใจดี"  # one encoded-word: every decoder reads it back exactly
    sender = "งานวิเทศสัมพันธ์ จ.เชียงใหม่ <intl@example.org>"
    data = message("x", to_name, sender)
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert parsed["To"].addresses[0].display_name == to_name
    assert parsed["To"].addresses[0].addr_spec == "reader@example.org"
    # Two encoded-words: Python 3.11's address parser would add a space between them
    # (CPython gh-128110); RFC 2047 §6.2 readers do not.
    assert rfc2047_decoded(wire(data, "From"), "From") == sender
    for name in ("From", "To"):
        assert_well_formed(wire(data, name))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(THAI + VIETNAMESE + FRENCH + " ()."), min_size=1,
               max_size=120))
def test_display_names_decode_exactly(name: str) -> None:
    name = header_text(name)
    if not name:
        return
    data = message("x", name)
    lines = wire(data, "To")
    assert_well_formed(lines)
    decoded = rfc2047_decoded(lines, "To")
    if name.isascii():
        assert email.message_from_bytes(data, policy=email.policy.default)[
            "To"].addresses[0].display_name == name
    else:
        assert decoded == f"{name} <reader@example.org>"


# --- any subject -------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(subjects)
@example("15 พ.ย.")
@example("(อีก 17 วัน)")
@example(" leading and trailing ")
@example("=?utf-8?q?not_an_encoded_word?=")
@example("x" * 200)
@example("ก" * 400)
def test_any_subject_round_trips(planned: str) -> None:
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["Subject"] = headers.unstructured("Subject", planned)
    msg.set_content("x")
    data = msg.as_bytes()
    assert_subject_round_trips(planned, data)


@settings(max_examples=200, deadline=None)
@given(subjects)
def test_any_subject_round_trips_through_build_message(raw: str) -> None:
    planned = header_text(raw)
    assert_subject_round_trips(planned, message(planned))


def test_encoded_words_never_split_a_character_or_a_mark() -> None:
    text = "ที่นี่เชียงใหม่" * 10
    for word in headers.encoded_words(text):
        decoded = str(make_header(decode_header(word)))
        assert decoded  # each word is whole UTF-8 on its own
        assert decoded[0] not in "ั่้๊๋ิีึืุู็์"


# --- every subject the planners produce on the bundled data --------------------------------


@pytest.fixture
def bundled(project: Project) -> Runner:
    project.write_config(data={"files": [str(bundled_path("data") / "chiang-mai.toml")]})
    settings_ = load_settings(str(project.config))
    return Runner(open_database(settings_, upgrade=True), settings_)


def test_every_planned_subject_of_2018_decodes_exactly(bundled: Runner) -> None:
    from jobs import JOB_NAMES

    seen: set[str] = set()
    drafts: list[Draft] = []
    day = dt.date(2018, 1, 1)
    while day.year == 2018:
        for job in JOB_NAMES:
            now = dt.datetime.combine(day, dt.time(1, 0), dt.UTC)
            bundled.run_job(job, day, now=now, dry_run=True, on_draft=drafts.append)
        bundled.renderer.forget_shared()
        day += dt.timedelta(days=9)
    assert drafts
    for draft in drafts:
        rendered = draft.rendered
        assert_subject_round_trips(rendered.subject, rendered.data)
        assert rendered.subject == header_text(rendered.subject)
        seen.add(rendered.subject)
    assert any(not s.isascii() for s in seen) and any(s.isascii() for s in seen)
    assert len(seen) > 20
