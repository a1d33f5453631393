"""Emails each reader can use (issue 14, SPEC "Emails"): two audiences, the office's signature
and Reply-To, one "also sent to" that never names the reader, subjects that lead with the first
item, Thai–Latin spacing. Everything goes through `sistercity preview` (the production path:
planners, shared renderings with their share key, the real templates) on the bundled data or a
small dataset."""

from __future__ import annotations

import email
import email.policy
import re
import tomllib
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner

from scheduler.cli.app import cli

REPO = Path(__file__).parent.parent
BUNDLED = REPO / "data" / "chiang-mai.toml"
OFFICE = {
    "name": "Intl Affairs Desk, Chiang Mai Provincial Office",
    "name_th": "ฝ่ายวิเทศสัมพันธ์ ศาลากลางจังหวัดเชียงใหม่",
    "email": "desk@office.example.org",
    "phone": "+66 53 111 222",
}
EXTERNAL = ("cn-consulate@example.org", "jp-consulate@example.org",
            "mm-consulate@example.org", "mfa-desk@example.org")
# Dates of the bundled data at which each job sends something (several per job).
RUNS = {
    "anniversaries": ("2018-01-10", "2018-03-01", "2018-03-24", "2018-03-30"),
    "budget-deadlines": ("2017-11-01", "2018-01-08"),
    "dormant-partners": ("2017-11-15", "2018-06-04"),
    "meeting-agendas": ("2017-11-01", "2017-11-14"),
}


def write_config(root: Path, data: Path, **office: str) -> Path:
    lines = [
        "[database]", 'url = "sqlite:///var/sistercity.db"',
        "[data]", f'files = ["{data}"]',
        "[email]", 'transport = "file"', 'outbox_dir = "var/mail"',
        'from = "Chiang Mai International Affairs <intl@example.org>"',
    ]
    if office:
        lines.append("[office]")
        lines += [f'{key} = "{value}"' for key, value in office.items()]
    path = root / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def sistercity(config: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def preview(config: Path, job: str, as_of: str, out: Path) -> dict[str, EmailMessage]:
    """The emails `preview` writes, by recipient address."""
    sistercity(config, "preview", job, "--as-of", as_of, "--out", str(out))
    found: dict[str, EmailMessage] = {}
    for path in sorted(out.glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        found[str(msg["To"].addresses[0].addr_spec)] = msg
    return found


def parts(msg: EmailMessage) -> tuple[str, str]:
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    # As a reader reads them: no-break spaces (dates, numbers and units) read as spaces.
    return (str(text.get_content()).replace("\r\n", "\n").replace("\xa0", " "),
            str(html.get_content()).replace("\r\n", "\n").replace("\xa0", " "))


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def bundled(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[tuple[str, str], dict[str, EmailMessage]]:
    """Every job's emails on the bundled data at each date of RUNS, with a custom [office]."""
    root = tmp_path_factory.mktemp("bundled")
    config = write_config(root, BUNDLED, **OFFICE)
    sistercity(config, "init")
    return {(job, day): preview(config, job, day, root / f"{job}-{day}")
            for job, days in RUNS.items() for day in days}


def partner_names(country_not: str) -> list[str]:
    """Both names of every bundled partner outside `country_not`."""
    data = tomllib.loads(BUNDLED.read_text(encoding="utf-8"))
    return [name for p in data["partner"] if p["country"] != country_not
            for name in (p["name"], p.get("name_th", p["name"]))]


# Words of the office's internal assessment and routing, never in an external email.
INTERNAL_WORDS = (
    "dormant", "no activity", "ไม่มีความเคลื่อนไหว", "ไม่มีกิจกรรม",  # dormancy
    "to review", "ควรทบทวน", "ทบทวน",  # agreements to review
    "working group lead", "หัวหน้าคณะทำงาน", "roster", "คณะทำงานและเมืองพี่เมืองน้อง",  # roster
    "contact goes through", "through the consulate", "ผ่านสถานกงสุล",  # routing notes
    "การติดต่อประสานงานจึงต้อง", "no consulate", "ไม่มีสถานกงสุล",
    "budget", "งบประมาณ", "to decide", "ประเด็นพิจารณา",
    "also sent to", "ผู้ได้รับแจ้งเรื่องนี้ด้วย", "do not reply", "อย่าตอบกลับ",
    "you receive it as", "ท่านได้รับอีเมลนี้ในฐานะ",
)


def test_no_internal_section_reaches_an_external_reader(bundled) -> None:  # type: ignore[no-untyped-def]
    seen = 0
    for (job, day), emails in bundled.items():
        for address in EXTERNAL:
            msg = emails.get(address)
            if msg is None:
                continue
            seen += 1
            assert job in ("anniversaries", "meeting-agendas"), (job, day, address)
            text, html = parts(msg)
            everything = flat(f"{msg['Subject']} {text} {html}").lower()
            for word in INTERNAL_WORDS:
                assert word.lower() not in everything, (job, day, address, word)
            if address != "mfa-desk@example.org":
                country = address[:2].upper()
                for name in partner_names(country):
                    assert name not in everything, (job, day, address, name)
            # A formal letter: formal closing, replies welcome and sent to the office.
            closing = "ขอแสดงความนับถือ" if "เรียน" in text[:10] else "Yours sincerely,"
            assert closing in text and closing in html
            assert msg["Reply-To"] == OFFICE["email"]
    # The China consulate's agenda names its own partners' anniversaries, and no other's.
    agenda = parts(bundled[("meeting-agendas", "2017-11-01")]["cn-consulate@example.org"])[0]
    assert "Chengdu (China)" in agenda and "Qingdao (China)" in agenda
    assert "Operations room, Chiang Mai Provincial Hall" in agenda
    assert seen >= 10


def test_every_email_is_signed_and_replies_reach_the_office(bundled) -> None:  # type: ignore[no-untyped-def]
    count = 0
    for emails in bundled.values():
        for address, msg in emails.items():
            count += 1
            text, html = parts(msg)
            thai = text.startswith("เรียน")
            name = OFFICE["name_th"] if thai else OFFICE["name"]
            other = OFFICE["name"] if thai else OFFICE["name_th"]
            for body in (flat(text), flat(html)):
                assert name in body and OFFICE["email"] in body and OFFICE["phone"] in body
                # One sender name per language (the From display name is not the signature).
                assert other not in body and "Chiang Mai International Affairs" not in body
                assert "do not reply" not in body.lower() and "อย่าตอบกลับ" not in body
            assert msg["Reply-To"] == OFFICE["email"], address
            if address not in EXTERNAL:  # internal: how to act, with the office's contact
                how = ("โปรดตอบกลับอีเมลนี้ หรือติดต่อ" if thai
                       else "reply to this email or contact")
                assert how in flat(text) and how in flat(html), address
    assert count > 30


def test_also_sent_to_never_names_the_reader(bundled) -> None:  # type: ignore[no-untyped-def]
    emails = bundled[("anniversaries", "2018-03-01")]
    lead = emails["china-lead@example.org"]
    text, html = parts(lead)
    also = [block for block in text.split("\n\n") if block.startswith("ผู้ได้รับแจ้งเรื่องนี้ด้วย")]
    assert len(also) == 1  # once per email, not under every item
    assert "China working group lead" not in also[0]
    assert "Consulate-General of China" in flat(also[0])
    assert "International affairs staff" in flat(also[0])
    assert html.count("ผู้ได้รับแจ้งเรื่องนี้ด้วย") == 1
    assert "China working group lead" not in html.split("ผู้ได้รับแจ้งเรื่องนี้ด้วย")[1].split("</p>")[0]
    # Each reader of a shared rendering sees their own list (staff: the leads, not itself).
    for (job, _day), sent in bundled.items():
        for address, msg in sent.items():
            body = parts(msg)[0]
            name = msg["To"].addresses[0].display_name
            for block in body.split("\n\n"):
                if block.startswith(("ผู้ได้รับแจ้งเรื่องนี้ด้วย", "Also sent to")):
                    assert name not in block, (job, address)


def test_subjects_lead_with_the_first_item_and_count_the_others(bundled) -> None:  # type: ignore[no-untyped-def]
    lead = bundled[("anniversaries", "2018-03-01")]["china-lead@example.org"]
    assert str(lead["Subject"]).startswith("เฉิงตู 30 มี.ค. 2561")
    staff = bundled[("dormant-partners", "2017-11-15")]["intl-staff@example.org"]
    subject = str(staff["Subject"])
    assert subject.startswith("เซี่ยงไฮ้")
    assert re.search(r"และอีก \d+ เมือง$", subject)
    agenda = bundled[("meeting-agendas", "2017-11-01")]["cn-consulate@example.org"]
    assert str(agenda["Subject"]).strip().startswith(
        "Sister-city working groups: summary meeting, 15 Nov 2017 09:30")


SPACING = """
[[contact]]
id = "lead"
name = "Lead"
email = "lead@example.org"
language = "th"
role = "lead"

[[working_group]]
id = "west"
name = "West"
lead = "lead"
countries = ["DE"]

[[partner]]
id = "edgecity"
name = "Edgecity"
country = "DE"

  [[partner.agreement]]
  kind = "mou"
  signed_on = 2015-03-30
  local_party = "Chiang Mai University"
"""


def test_thai_text_and_latin_names_are_spaced(tmp_path: Path) -> None:
    data = tmp_path / "spacing.toml"
    data.write_text(SPACING, encoding="utf-8")
    config = write_config(tmp_path, data)
    sistercity(config, "init")
    emails = preview(config, "anniversaries", "2018-03-29", tmp_path / "out")
    text, html = parts(emails["lead@example.org"])
    for body in (flat(text), flat(html)):
        assert "กับ Edgecity" in body and "กับEdgecity" not in body
        assert "โดย Chiang Mai University" in body and "โดยChiang" not in body
        assert "คณะทำงาน West" not in body or "คณะทำงานWest" not in body


@pytest.mark.parametrize(
    ("office", "expected"),
    [
        ({"email": "not an address"},
         'office.email: expected an email address, got "not an address"'),
        ({"name": ""}, "office.name: missing (the office's name signs every email)"),
        ({"phone": "+66\\n53"}, "office.phone: control characters are not allowed"),
        ({"fax": "+66 53"}, "office.fax: unknown key"),
    ],
)
def test_a_bad_office_table_is_refused_naming_the_key(
    tmp_path: Path, office: dict[str, str], expected: str
) -> None:
    config = write_config(tmp_path, BUNDLED, **office)
    result = CliRunner().invoke(cli, ["--config", str(config), "status"])
    assert result.exit_code == 2
    assert f"config.toml: {expected}" in result.output
    assert "Traceback" not in result.output


def test_the_office_email_defaults_to_the_sender_address(tmp_path: Path) -> None:
    config = write_config(tmp_path, BUNDLED)
    sistercity(config, "init")
    emails = preview(config, "anniversaries", "2018-03-01", tmp_path / "out")
    assert {msg["Reply-To"] for msg in emails.values()} == {"intl@example.org"}
    text = parts(emails["cn-consulate@example.org"])[0]
    assert "International Affairs, Chiang Mai Provincial Office" in flat(text)
