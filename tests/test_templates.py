"""The bundled email templates, rendered through scheduler.mail.render as the jobs use them.

Contexts are built by hand but mirror exactly what jobs/anniversaries.py,
jobs/budget_deadlines.py and jobs/dormant_partners.py put into a Notice (partner views as
jobs/common.partner_view builds them; holiday data from the same WorkingCalendar), and the
assertions are about what a reader of the email sees.
"""

from __future__ import annotations

import email
import email.policy
import re
import unicodedata
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from scheduler.dates.thaidate import WorkingCalendar, fiscal_year
from scheduler.mail.render import Rendered, Renderer
from scheduler.planning import Notice, Recipient

JOBS = ["anniversaries", "budget-deadlines", "dormant-partners"]
BANGKOK = ZoneInfo("Asia/Bangkok")
CALENDAR = WorkingCalendar()

# --- people --------------------------------------------------------------------------------

CHINA_LEAD = "นายสมชาย ใจดี (คณะทำงานจีน)"
JK_LEAD = "นางวิไลวรรณ แก้วมณี (คณะทำงานญี่ปุ่นและเกาหลี)"
MM_LEAD = "นายธนากร อินทร์แก้ว (คณะทำงานเมียนมา)"
CN_CONSULATE = "Consulate-General of the People's Republic of China in Chiang Mai"
MFA_DESK = "กรมเอเชียตะวันออก กระทรวงการต่างประเทศ"
STAFF_TH = "นางสาวพิมพ์ชนก ศรีวงศ์"
STAFF_EN = "Anna Keller"

ADDRESSES = {STAFF_TH: "pimchanok@example.org", STAFF_EN: "anna.keller@example.org",
             CHINA_LEAD: "china-lead@example.org", CN_CONSULATE: "cn-consulate@example.org"}
STAFF_TH_R = Recipient("pimchanok@example.org", STAFF_TH, "th", ("staff",))
STAFF_EN_R = Recipient("anna.keller@example.org", STAFF_EN, "en", ("staff",))
CHINA_LEAD_R = Recipient("china-lead@example.org", CHINA_LEAD, "th", ("lead", "staff"))
CN_CONSULATE_R = Recipient("cn-consulate@example.org", CN_CONSULATE, "en", ("consulate",))


def told(*names: str) -> list[dict[str, str]]:
    """RecipientSet.people(): the item's lead, consulate or MFA contact, then every staff."""
    return [{"address": ADDRESSES.get(n, n.lower().replace(" ", ".") + "@example.org"),
             "name": n} for n in (*names, STAFF_TH, STAFF_EN)]


# --- contexts, as the jobs build them --------------------------------------------------------


def partner(
    pid: str,
    name: str,
    name_th: str,
    country: str,
    group: tuple[str, str, str] | None,
    *,
    consulate: bool,
    city: str | None = None,
) -> dict[str, Any]:
    """jobs.common.partner_view."""
    return {
        "id": pid,
        "name": name,
        "name_th": name_th or name,
        "country": country,
        "city": city if city is not None else name,
        "group": group[1] if group else "",
        "group_th": group[2] if group else "",
        "group_id": group[0] if group else None,
        "has_consulate": consulate,
    }


CHINA = ("china", "China", "จีน")
JAPAN_KOREA = ("japan-korea", "Japan & Korea", "ญี่ปุ่นและเกาหลี")
MYANMAR = ("myanmar", "Myanmar", "เมียนมา")

CHENGDU = partner("chengdu", "Chengdu", "เฉิงตู", "CN", CHINA, consulate=True)
QINGDAO = partner("qingdao", "Qingdao", "ชิงเต่า", "CN", CHINA, consulate=True)
SEONGNAM = partner("seongnam", "Seongnam", "ซ็องนัม", "KR", JAPAN_KOREA, consulate=False)
KENGTUNG = partner("kengtung", "Kengtung", "เชียงตุง", "MM", MYANMAR, consulate=True)


def anniversary(
    p: dict[str, Any],
    kind: str,
    signed_on: date,
    day: date,
    as_of: date,
    areas: list[str],
    *,
    lead: str,
    contact: str,
    stage: int = 30,
) -> dict[str, Any]:
    """jobs.anniversaries.plan, after planning.staged added stage and days_until."""
    years = day.year - signed_on.year
    return {
        "partner": p,
        "agreement_kind": kind,
        "signed_on": signed_on,
        "local_party": "Chiang Mai Province",
        "areas": areas,
        "date": day,
        "years": years,
        "milestone": years % 5 == 0,
        "route": "consulate" if p["has_consulate"] else "mfa",
        "told": told(lead, contact),
        "stage": stage,
        "days_until": (day - as_of).days,
    }


def deadline(
    did: str,
    title: str,
    title_th: str,
    day: date,
    as_of: date,
    *,
    groups: tuple[tuple[str, str, str], ...] = (),
    notes: str = "",
    leads: tuple[str, ...] = (CHINA_LEAD, JK_LEAD, MM_LEAD),
    stage: int = 7,
) -> dict[str, Any]:
    """jobs.budget_deadlines.plan (fill_title already applied), after planning.staged."""
    fy = fiscal_year(day)
    working = CALENDAR.is_working_day(day)
    return {
        "deadline_id": did,
        "title": title.replace("{next_fiscal_year}", str(fy + 1)),
        "title_th": title_th.replace("{next_fiscal_year}", str(fy + 1)),
        "notes": notes,
        "date": day,
        "fiscal_year": fy,
        "groups": [g[1] for g in groups],
        "groups_th": [g[2] for g in groups],
        "closed": not working,
        "weekend": day.weekday() >= 5,
        "holiday_en": CALENDAR.holiday_name(day, "en"),
        "holiday_th": CALENDAR.holiday_name(day, "th"),
        "last_working_day": None if working else CALENDAR.last_working_day_before(day),
        "told": told(*leads),
        "stage": stage,
        "days_until": (day - as_of).days,
    }


def dormant(
    p: dict[str, Any],
    agreements: list[tuple[str, date]],
    as_of: date,
    *,
    lead: str,
    last: date | None = None,
    last_title: str = "",
    after_days: int = 365,
) -> dict[str, Any]:
    """jobs.dormant_partners.plan."""
    first = min(d for _, d in agreements)
    since = last or first
    start = since + timedelta(days=after_days)
    return {
        "partner": p,
        "last_activity": last,
        "last_activity_title": last_title if last else "",
        "first_signed_on": first,
        "quiet_since": since,
        "quiet_days": (as_of - since).days,
        "spell_start": start,
        "date": start,
        "agreements": agreements,
        "told": told(lead),
    }


# --- the scenes ------------------------------------------------------------------------------

ANNIV_AS_OF = date(2018, 3, 2)
DEADLINE_AS_OF = date(2018, 4, 7)
DORMANT_AS_OF = date(2018, 4, 7)


def anniversary_items() -> list[dict[str, Any]]:
    # Deliberately not in date order: the digest sorts them.
    return [
        anniversary(
            QINGDAO,
            "sister-city",
            date(2008, 4, 1),
            date(2018, 4, 1),
            ANNIV_AS_OF,
            [],
            lead=CHINA_LEAD,
            contact=CN_CONSULATE,
        ),
        anniversary(
            CHENGDU,
            "sister-city",
            date(2015, 3, 30),
            date(2018, 3, 30),
            ANNIV_AS_OF,
            [],
            lead=CHINA_LEAD,
            contact=CN_CONSULATE,
        ),
        anniversary(
            SEONGNAM,
            "loi",
            date(2016, 3, 23),
            date(2018, 3, 23),
            ANNIV_AS_OF,
            ["smart city"],
            lead=JK_LEAD,
            contact=MFA_DESK,
        ),
    ]


def deadline_items() -> list[dict[str, Any]]:
    return [
        deadline(
            "lanna-expo-2018",
            "Lanna Expo 2018: confirm foreign buyers and partner-city delegations",
            "ลานนาเอ็กซ์โป 2561: ยืนยันผู้ซื้อต่างประเทศและคณะจากเมืองพี่เมืองน้อง",
            date(2018, 4, 20),
            DEADLINE_AS_OF,
            groups=(CHINA,),
            leads=(CHINA_LEAD,),
            notes="Meishan and Hainan will join. The fair runs late June – early July.",
        ),
        # Saturday 14 April 2018, in Songkran: the papers must be in by Thursday 12 April.
        deadline(
            "activity-plan",
            "Submit the FY{next_fiscal_year} activity plan and budget request",
            "ส่งแผนกิจกรรมและคำของบประมาณ ปีงบประมาณ {next_fiscal_year}",
            date(2018, 4, 14),
            DEADLINE_AS_OF,
            notes="Ministry and provincial budget requests fall in January–February.",
        ),
        # Friday 13 April 2018 is Songkran itself, a public holiday.
        deadline(
            "songkran-report",
            "Quarterly activity report",
            "รายงานผลการดำเนินงานรายไตรมาส",
            date(2018, 4, 13),
            DEADLINE_AS_OF,
        ),
    ]


def dormant_items() -> list[dict[str, Any]]:
    return [
        dormant(
            KENGTUNG,
            [("sister-city", date(2014, 10, 9))],
            DORMANT_AS_OF,
            lead=MM_LEAD,
            last=date(2016, 11, 20),
            last_title="Chiang Mai–Kengtung trade fair",
        ),
        dormant(SEONGNAM, [("loi", date(2016, 3, 23))], DORMANT_AS_OF, lead=JK_LEAD),
    ]


ITEMS = {
    "anniversaries": (anniversary_items, ANNIV_AS_OF),
    "budget-deadlines": (deadline_items, DEADLINE_AS_OF),
    "dormant-partners": (dormant_items, DORMANT_AS_OF),
}


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(
        sender="Chiang Mai International Affairs <intl@example.org>", timezone="Asia/Bangkok"
    )


def render(
    renderer: Renderer, job: str, recipient: Recipient, contexts: list[dict[str, Any]], as_of: date
) -> Rendered:
    notices = [
        Notice(job, f"item-{i}", ctx["date"], ctx.get("stage", 0), recipient, ctx)
        for i, ctx in enumerate(contexts)
    ]
    now = datetime.combine(as_of, datetime.min.time(), BANGKOK).replace(hour=8)
    return renderer.render(job, recipient, notices, as_of=as_of, now=now)


def digest(renderer: Renderer, job: str, lang: str) -> Rendered:
    build, as_of = ITEMS[job]
    return render(renderer, job, STAFF_TH_R if lang == "th" else STAFF_EN_R, build(), as_of)


def columns(line: str) -> int:
    """Terminal columns of a line: Thai vowel and tone marks take none of their own."""
    return sum(1 for c in line if unicodedata.category(c) != "Mn")


# --- loading -------------------------------------------------------------------------------


def test_check_loads_every_template(renderer: Renderer) -> None:
    renderer.check(JOBS)
    for job in JOBS:
        for lang in ("th", "en"):
            assert "subject" in renderer.template(f"{job}.{lang}.txt").blocks


# --- every job, both languages ----------------------------------------------------------------


@pytest.mark.parametrize("lang", ["th", "en"])
@pytest.mark.parametrize("job", JOBS)
def test_digest_reads_as_an_email(renderer: Renderer, job: str, lang: str) -> None:
    rendered = digest(renderer, job, lang)
    name = STAFF_TH if lang == "th" else STAFF_EN
    text = rendered.text

    # One subject line, mentioning how many other items there are.
    assert rendered.subject
    assert "\n" not in rendered.subject
    assert rendered.subject == rendered.subject.strip()
    assert str(len(ITEMS[job][0]()) - 1) in rendered.subject
    template = renderer.template(f"{job}.{lang}.txt")
    raw_subject = "".join(
        template.blocks["subject"](
            template.new_context(
                {
                    "lang": lang,
                    "job": job,
                    "recipient": STAFF_TH_R,
                    "items": ITEMS[job][0](),
                    "as_of": ITEMS[job][1],
                    "sender_name": "x",
                    "rows": 30,
                }
            )
        )
    )
    assert "\n" not in raw_subject and raw_subject == raw_subject.strip()

    # The subject is not printed in the body.
    assert rendered.subject not in text
    assert rendered.subject not in rendered.html.split("<body", 1)[1]

    # Salutation first, then the items, then the footer.
    first_line = text.splitlines()[0]
    assert first_line == (f"เรียน {name}" if lang == "th" else f"Dear {name},")
    flat_text = " ".join(text.split())
    if lang == "th":
        assert "ส่งโดยอัตโนมัติจากระบบ sistercity" in flat_text
        assert "Chiang Mai International Affairs" not in flat_text  # one name per language
        assert "งานวิเทศสัมพันธ์ สำนักงานจังหวัดเชียงใหม่ อีเมล intl@example.org" in flat_text
        assert "ท่านได้รับอีเมลนี้ในฐานะ: เจ้าหน้าที่งานวิเทศสัมพันธ์" in text
    else:
        assert "Sent automatically by sistercity." in text
        assert "International Affairs, Chiang Mai Provincial Office Email: intl@example.org" in (
            flat_text)
        assert "You receive it as: international-affairs staff." in text
    assert "do not reply" not in text.lower() and "อย่าตอบกลับ" not in text
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert "\n\n\n" not in text

    # Plain text: no markup, no trailing blanks, about 72 columns.
    assert not re.search(r"<[a-z/]", text)
    assert re.search(r"\d\xa0\S", text)  # a date or a quantity holds together with U+00A0
    for line in text.splitlines():
        assert line == line.rstrip() or line == "-- "
        assert columns(line) <= 80, line

    # Items numbered 1..n in date order.
    numbers = re.findall(r"^(\d+)\. ", text, flags=re.M)
    assert numbers == [str(i) for i in range(1, len(ITEMS[job][0]()) + 1)]

    # "Also sent to" once, after the items, without the recipient; the others are listed.
    also = "ผู้ได้รับแจ้งเรื่องนี้ด้วย:" if lang == "th" else "Also sent to:"
    assert text.count(also) == 1
    also_block = next(block for block in text.split("\n\n") if block.startswith(also))
    other_staff = STAFF_EN if lang == "th" else STAFF_TH
    bare = "".join(also_block.split())  # a Thai name may break between its words
    assert "".join(name.split()) not in bare
    assert "".join(other_staff.split()) in bare


@pytest.mark.parametrize("lang", ["th", "en"])
@pytest.mark.parametrize("job", JOBS)
def test_html_is_a_simple_safe_page(renderer: Renderer, job: str, lang: str) -> None:
    html = digest(renderer, job, lang).html
    assert html.startswith("<!DOCTYPE html>\n")
    assert f'<html lang="{lang}">' in html
    assert '<meta charset="utf-8">' in html
    assert html.rstrip().endswith("</html>")
    lowered = html.lower()
    for banned in ("<script", "<link", "<img", "src=", "url(", "http://", "https://"):
        assert banned not in lowered
    # Styles in one block in the head (classes), not repeated inline on every cell.
    assert lowered.count("<style") == 1 and lowered.index("<style") < lowered.index("<body")
    assert html.count('style="') <= 8
    # One data table: a header row and one row per item.
    rows = re.findall(r"<tr>\n<td class=\"d\"", html)
    assert len(rows) == len(ITEMS[job][0]())
    assert html.count("<th>") == 2
    # Escaped exactly once.
    assert "&amp;amp;" not in html and "&amp;lt;" not in html


# --- anniversaries ---------------------------------------------------------------------------


def test_anniversaries_thai(renderer: Renderer) -> None:
    rendered = digest(renderer, "anniversaries", "th")
    text = rendered.text.replace("\xa0", " ")  # no-break spaces read as spaces
    # The first item's name and date lead, then how many others (SPEC "Headers").
    assert rendered.subject == (
        "ซ็องนัม 23 มี.ค. 2561 (อีก 21 วัน): ครบรอบ 2 ปี หนังสือแสดงเจตจำนง (LOI) และอีก 2 รายการ"
    )
    assert "ข้อมูล ณ วันที่ 2 มี.ค. 2561" in " ".join(text.split())
    # In date order: Seongnam (23 Mar), Chengdu (30 Mar), Qingdao (1 Apr).
    assert text.index("ซ็องนัม") < text.index("เฉิงตู") < text.index("ชิงเต่า")
    assert "1. ครบรอบ 2 ปี การลงนามหนังสือแสดงเจตจำนง (LOI) กับซ็องนัม (เกาหลีใต้)" in text
    assert "2. ครบรอบ 3 ปี การลงนามความตกลงเมืองพี่เมืองน้องกับเฉิงตู (จีน)" in text
    assert "วันครบรอบ: 30 มี.ค. 2561 (อีก 28 วัน)" in text
    assert "ลงนามเมื่อ: 30 มี.ค. 2558 โดยจังหวัดเชียงใหม่" in text
    # Every fifth year is starred.
    assert "3. ★ ครบรอบ 10 ปี การลงนามความตกลงเมืองพี่เมืองน้องกับชิงเต่า (จีน)" in text
    assert text.count("★ ครบรอบ") == 1
    # The contact route: consulate, or the MFA where the country has none.
    assert "ช่องทางติดต่อ: ผ่านสถานกงสุลจีนประจำเชียงใหม่" in text
    flat = " ".join(text.split())
    # A Thai line breaks between words, where there is no space.
    assert (
        "ประเทศเกาหลีใต้ไม่มีสถานกงสุลในจังหวัดเชียงใหม่การติดต่อประสานงานจึงต้องดำเนินการผ่านกระทรวงการต่างประเทศ"
    ) in "".join(flat.split())
    assert "โปรดพิจารณาส่งสารแสดงความยินดี จัดการเยือน หรือจัดกิจกรรมร่วมกับเมืองพี่เมืองน้อง" in flat
    # Once for the email: everyone else told about any of its items, in order.
    also = (f"ผู้ได้รับแจ้งเรื่องนี้ด้วย: {CHINA_LEAD}, {CN_CONSULATE}, {STAFF_EN}, {JK_LEAD}, "
            f"{MFA_DESK}")
    assert "".join(also.split()) in "".join(flat.split())  # Thai lines break between words
    assert "จึงเรียนมาเพื่อโปรดทราบและพิจารณาดำเนินการ" in text

    html = rendered.html.replace("\xa0", " ")
    assert "30 มี.ค. 2561" in html and "อีก 28 วัน" in html
    assert "★ ครบรอบ 10 ปี" in html
    assert "ไม่มีสถานกงสุลในจังหวัดเชียงใหม่" in html and "กระทรวงการต่างประเทศ" in html


def test_anniversaries_english(renderer: Renderer) -> None:
    rendered = digest(renderer, "anniversaries", "en")
    text = rendered.text.replace("\xa0", " ")  # no-break spaces read as spaces
    assert rendered.subject == (
        "Seongnam, 23 Mar 2018 (in 21 days): 2nd anniversary of the letter of intent, and 2 more"
    )
    assert "As of 2 Mar 2018, these 3 agreement anniversaries are coming up, the" in text
    assert "1. 2nd anniversary of the letter of intent with Seongnam (South Korea)" in text
    assert "2. 3rd anniversary of the sister-city agreement with Chengdu (China)" in text
    assert "3. ★ 10th anniversary of the sister-city agreement with Qingdao (China)" in text
    assert "   Date:           30 Mar 2018 (in 28 days)" in text
    assert "   Signed:         30 Mar 2015 by Chiang Mai Province" in text
    assert "   Areas:          smart city" in text
    assert "   Working group:  Japan & Korea" in text
    assert "   Contact:        Through the consulate of China in Chiang Mai" in text
    flat = " ".join(text.split())
    assert (
        "South Korea has no consulate in Chiang Mai: contact goes through the Ministry of "
        "Foreign Affairs."
    ) in flat
    assert "a message of congratulations, a visit or a joint activity" in flat
    for line in text.splitlines():
        assert columns(line) <= 72, line

    html = rendered.html.replace("\xa0", " ")
    assert "30 Mar 2018" in html and "in 28 days" in html
    assert "★ 10th anniversary" in html
    assert "Japan &amp; Korea" in html
    assert "South Korea has no consulate in Chiang Mai" in html


def test_single_anniversary_names_it_in_the_subject(renderer: Renderer) -> None:
    chengdu = anniversary(
        CHENGDU,
        "sister-city",
        date(2008, 3, 30),
        date(2018, 3, 30),
        date(2018, 3, 29),
        ["trade"],
        lead=CHINA_LEAD,
        contact=CN_CONSULATE,
        stage=1,
    )
    en = render(renderer, "anniversaries", STAFF_EN_R, [chengdu], date(2018, 3, 29))
    assert en.subject == (
        "Chengdu, 30 Mar 2018 (tomorrow): ★ 10th anniversary of the sister-city agreement"
    )
    assert "this agreement anniversary is coming up" in en.text
    assert "marking the anniversary" in " ".join(en.text.split())
    # The consulate gets a letter: its subject names the partner and the date, no star.
    letter = render(renderer, "anniversaries", CN_CONSULATE_R, [chengdu], date(2018, 3, 29))
    assert letter.subject == (
        "Chengdu, 30 Mar 2018: 10th anniversary of the sister-city agreement with "
        "Chiang Mai Province"
    )
    assert "Dear Consulate-General of the People's Republic of China in Chiang Mai," in (
        letter.text)
    assert "Dear Consulate-General of the People&#39;s Republic of China in Chiang Mai," in (
        letter.html)

    th = render(renderer, "anniversaries", CHINA_LEAD_R, [chengdu], date(2018, 3, 29))
    assert th.subject == (
        "เฉิงตู 30 มี.ค. 2561 (พรุ่งนี้): ★ ครบรอบ 10 ปี ความตกลงเมืองพี่เมืองน้อง"
    )
    assert "ท่านได้รับอีเมลนี้ในฐานะ: หัวหน้าคณะทำงาน, เจ้าหน้าที่งานวิเทศสัมพันธ์" in th.text
    assert th.subject not in th.text

    today = {**chengdu, "days_until": 0}
    assert (
        "(today)"
        in render(renderer, "anniversaries", STAFF_EN_R, [today], date(2018, 3, 30)).subject
    )
    assert (
        "(วันนี้)"
        in render(renderer, "anniversaries", CHINA_LEAD_R, [today], date(2018, 3, 30)).subject
    )


def test_no_star_without_a_milestone(renderer: Renderer) -> None:
    seongnam = anniversary_items()[2]
    assert not seongnam["milestone"]
    for recipient in (STAFF_EN_R, STAFF_TH_R):
        rendered = render(renderer, "anniversaries", recipient, [seongnam], ANNIV_AS_OF)
        assert "★" not in rendered.subject
        assert "★" not in rendered.text
        assert "★" not in rendered.html


def test_partner_names_are_escaped_in_html_only(renderer: Renderer) -> None:
    evil = partner("evil", '<script>alert("x")</script> Town', "", "CN", CHINA, consulate=True)
    ctx = anniversary(
        evil,
        "mou",
        date(2013, 4, 10),
        date(2018, 4, 10),
        ANNIV_AS_OF,
        [],
        lead=CHINA_LEAD,
        contact=CN_CONSULATE,
    )
    for recipient in (STAFF_EN_R, STAFF_TH_R):
        rendered = render(renderer, "anniversaries", recipient, [ctx], ANNIV_AS_OF)
        assert "<script" not in rendered.html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Town" in rendered.html
        assert '<script>alert("x")</script> Town' in " ".join(rendered.text.split())
        assert '<script>alert("x")</script> Town' in rendered.subject

    dormant_ctx = dormant(evil, [("mou", date(2013, 4, 10))], DORMANT_AS_OF, lead=CHINA_LEAD)
    rendered = render(renderer, "dormant-partners", STAFF_EN_R, [dormant_ctx], DORMANT_AS_OF)
    assert "<script" not in rendered.html and "&lt;script&gt;" in rendered.html


# --- budget deadlines -----------------------------------------------------------------------


def test_deadlines_english_flag_weekend_and_holiday(renderer: Renderer) -> None:
    rendered = digest(renderer, "budget-deadlines", "en")
    text = rendered.text.replace("\xa0", " ")  # no-break spaces read as spaces
    flat = " ".join(text.split())
    assert rendered.subject == (
        "Quarterly activity report: due 13 Apr 2018, submit by 12 Apr 2018 (in 5 days), and 2 more"
    )
    assert (
        text.index("Quarterly activity report")
        < text.index("Submit the FY2562")
        < (text.index("Lanna Expo"))
    )
    # Saturday in Songkran: flagged with the last working day before it.
    assert "2. Submit the FY2562 activity plan and budget request" in text
    assert "   Due:            14 Apr 2018 (in 7 days)" in text
    assert (
        "⚠ 14 Apr 2018 falls on a Saturday: act by 12 Apr 2018 (in 5 days), the last "
        "working day before it."
    ) in flat
    # A weekday public holiday is named.
    assert (
        "⚠ 13 Apr 2018 falls on a public holiday (Songkran Festival): act by 12 Apr 2018 "
        "(in 5 days)"
    ) in flat
    # A working day is not flagged; listed groups are shown, none means every group.
    assert text.count("⚠") == 2 + 1  # two items and the explanation at the end
    assert "   For:            China" in text
    assert "   For:            all working groups" in text
    assert "   Fiscal year:    FY2561 (Buddhist Era)" in text
    assert "Notes:          Meishan and Hainan will join." in text
    assert "please prepare the documents and submit them in time" in flat
    for line in text.splitlines():
        assert columns(line) <= 72, line

    html = rendered.html.replace("\xa0", " ")
    assert "14 Apr 2018 falls on a Saturday: act by 12 Apr 2018 (in 5 days)" in html
    assert "public holiday (Songkran Festival)" in html


def test_deadlines_thai_flag_weekend_and_holiday(renderer: Renderer) -> None:
    rendered = digest(renderer, "budget-deadlines", "th")
    text = rendered.text.replace("\xa0", " ")  # no-break spaces read as spaces
    flat = " ".join(text.split())
    assert rendered.subject == (
        "รายงานผลการดำเนินงานรายไตรมาส กำหนดส่ง 13 เม.ย. 2561 โปรดยื่นภายใน 12 เม.ย. 2561 (อีก 5 วัน) "
        "และอีก 2 รายการ"
    )
    assert "2. ส่งแผนกิจกรรมและคำของบประมาณ ปีงบประมาณ 2562" in text
    assert "กำหนดวันที่: 14 เม.ย. 2561 (อีก 7 วัน)" in text
    assert (
        "⚠ วันที่ 14 เม.ย. 2561 ตรงกับวันเสาร์ โปรดดำเนินการภายในวันที่ 12 เม.ย. 2561 (อีก 5 วัน) "
        "ซึ่งเป็นวันทำการสุดท้ายก่อนกำหนด"
    ) in flat
    assert "⚠ วันที่ 13 เม.ย. 2561 ตรงกับวันหยุดราชการ (วันสงกรานต์)" in flat
    assert "ปีงบประมาณ: พ.ศ. 2561" in text
    assert "คณะทำงาน: จีน" in text and "คณะทำงาน: ทุกคณะทำงาน" in text
    assert "โปรดจัดเตรียมเอกสารและดำเนินการให้ทันกำหนด" in flat

    html = rendered.html.replace("\xa0", " ")
    assert "ตรงกับวันเสาร์ โปรดดำเนินการภายในวันที่ 12 เม.ย. 2561" in html


def test_single_deadline_subject(renderer: Renderer) -> None:
    saturday = deadline(
        "activity-plan",
        "Submit the FY{next_fiscal_year} activity plan",
        "ส่งแผนกิจกรรม ปีงบประมาณ {next_fiscal_year}",
        date(2018, 4, 14),
        DEADLINE_AS_OF,
    )
    en = render(renderer, "budget-deadlines", STAFF_EN_R, [saturday], DEADLINE_AS_OF)
    assert en.subject == (
        "Submit the FY2562 activity plan: due 14 Apr 2018, submit by 12 Apr 2018 (in 5 days)"
    )
    th = render(renderer, "budget-deadlines", STAFF_TH_R, [saturday], DEADLINE_AS_OF)
    assert th.subject == (
        "ส่งแผนกิจกรรม ปีงบประมาณ 2562 กำหนดส่ง 14 เม.ย. 2561 โปรดยื่นภายใน 12 เม.ย. 2561 (อีก 5 วัน)"
    )

    working = deadline(
        "activity-plan", "Submit the plan", "ส่งแผน", date(2018, 4, 9), date(2018, 4, 9)
    )
    en = render(renderer, "budget-deadlines", STAFF_EN_R, [working], date(2018, 4, 9))
    assert en.subject == "Submit the plan: due 9 Apr 2018 (today)"
    assert "⚠" not in en.text and "⚠" not in en.html
    th = render(renderer, "budget-deadlines", STAFF_TH_R, [working], date(2018, 4, 9))
    assert th.subject == "ส่งแผน กำหนดส่ง 9 เม.ย. 2561 (วันนี้)"


# --- dormant partners -----------------------------------------------------------------------


def test_dormant_partners_english(renderer: Renderer) -> None:
    rendered = digest(renderer, "dormant-partners", "en")
    text = rendered.text.replace("\xa0", " ")  # no-break spaces read as spaces
    flat = " ".join(text.split())
    assert rendered.subject == "Seongnam: no activity since 23 Mar 2016, and 1 more partner"
    # Sorted by the start of the dormant spell: Seongnam (2017-03-23), Kengtung (2017-11-20).
    assert text.index("1. Seongnam (South Korea)") < text.index("2. Kengtung (Myanmar)")
    # Spells of more than 60 days in years and months (SPEC "Text").
    assert "   Quiet for:      2 years, since 23 Mar 2016" in text
    assert "   Quiet for:      1 year 4 months, since 20 Nov 2016" in text
    assert (
        "Last activity: none recorded since the first agreement was signed on 23 Mar 2016" in flat
    )
    assert "   Last activity:  Chiang Mai–Kengtung trade fair, 20 Nov 2016" in text
    assert "   Agreements:     letter of intent, signed 23 Mar 2016" in text
    assert "South Korea has no consulate in Chiang Mai: contact goes through the Ministry" in flat
    assert "Through the consulate of Myanmar in Chiang Mai" in text
    assert "Cabinet resolution of 22 August 2017 asks for continuous activities" in flat
    assert "plan an activity with each partner above, or decide whether the relation" in flat
    for line in text.splitlines():
        assert columns(line) <= 72, line

    html = rendered.html.replace("\xa0", " ")
    assert "23 Mar 2016" in html and "2 years" in html
    assert "Chiang Mai–Kengtung trade fair, 20 Nov 2016" in html


def test_dormant_partners_thai(renderer: Renderer) -> None:
    rendered = digest(renderer, "dormant-partners", "th")
    text = rendered.text.replace("\xa0", " ")  # no-break spaces read as spaces
    flat = " ".join(text.split())
    assert rendered.subject == "ซ็องนัม: ไม่มีความเคลื่อนไหวตั้งแต่ 23 มี.ค. 2559 และอีก 1 เมือง"
    assert "1. ซ็องนัม (เกาหลีใต้)" in text and "2. เชียงตุง (เมียนมา)" in text
    assert "ไม่มีความเคลื่อนไหวมาแล้ว: 2 ปี นับแต่วันที่ 23 มี.ค. 2559" in text
    assert "ไม่มีความเคลื่อนไหวมาแล้ว: 1 ปี 4 เดือน นับแต่วันที่ 20 พ.ย. 2559" in text
    assert "ยังไม่มีบันทึกกิจกรรมนับแต่ลงนามความตกลงฉบับแรกเมื่อวันที่ 23 มี.ค. 2559" in flat
    assert "กิจกรรมล่าสุด: Chiang Mai–Kengtung trade fair เมื่อวันที่ 20 พ.ย. 2559" in text
    assert "ความตกลง: หนังสือแสดงเจตจำนง (LOI) ลงนามเมื่อ 23 มี.ค. 2559" in text
    assert "ตามมติคณะรัฐมนตรีเมื่อวันที่ 22 สิงหาคม 2560" in flat
    assert "หรือพิจารณาว่าจะคงความสัมพันธ์ต่อไปหรือไม่" in flat


def test_single_dormant_partner_subject(renderer: Renderer) -> None:
    ctx = dormant(SEONGNAM, [("loi", date(2016, 3, 23))], DORMANT_AS_OF, lead=JK_LEAD)
    en = render(renderer, "dormant-partners", STAFF_EN_R, [ctx], DORMANT_AS_OF)
    assert en.subject == "Seongnam: no activity since 23 Mar 2016"
    th = render(renderer, "dormant-partners", STAFF_TH_R, [ctx], DORMANT_AS_OF)
    assert th.subject == "ซ็องนัม: ไม่มีความเคลื่อนไหวตั้งแต่ 23 มี.ค. 2559"
    assert "with this partner" in en.text


# --- the message on the wire ----------------------------------------------------------------


@pytest.mark.parametrize("lang", ["th", "en"])
@pytest.mark.parametrize("job", JOBS)
def test_message_headers_and_parts(renderer: Renderer, job: str, lang: str) -> None:
    rendered = digest(renderer, job, lang)
    msg = email.message_from_bytes(rendered.data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    assert msg["Message-ID"] == rendered.message_id
    assert re.fullmatch(rf"<{job}\.[0-9a-f]{{32}}@example\.org>", rendered.message_id)
    assert msg["Date"].datetime == datetime.combine(
        ITEMS[job][1], datetime.min.time(), BANGKOK
    ).replace(hour=8)
    assert msg["Auto-Submitted"] == "auto-generated"
    # Python's parser keeps the folding whitespace that the SMTP policy puts after "Subject:"
    # (and between encoded words) where mail clients drop it: compare words.
    assert msg["Subject"].split() == rendered.subject.split()
    assert msg["From"].addresses[0].addr_spec == "intl@example.org"
    assert msg["From"].addresses[0].display_name == "Chiang Mai International Affairs"
    recipient = STAFF_TH_R if lang == "th" else STAFF_EN_R
    assert msg["To"].addresses[0].addr_spec == recipient.address
    assert msg["To"].addresses[0].display_name.split() == recipient.name.split()

    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    plain = parts[0].get_content().replace("\r\n", "\n")
    html = parts[1].get_content().replace("\r\n", "\n")
    assert plain == rendered.text
    assert html == rendered.html


def test_office_template_override(tmp_path: Path) -> None:
    from scheduler.config import bundled_path
    from scheduler.errors import ConfigError

    own = tmp_path / "templates"
    own.mkdir()
    text = (bundled_path("templates") / "anniversaries.en.txt").read_text(encoding="utf-8")
    (own / "anniversaries.en.txt").write_text(
        text.replace("{% block subject %}", "{% block subject %}[Chiang Mai] "), encoding="utf-8")
    renderer = Renderer(sender="Intl <intl@example.org>", timezone="Asia/Bangkok",
                        templates_dir=own)
    renderer.check(["anniversaries"])
    (own / "anniversaries.th.html").write_text("{% if %}", encoding="utf-8")
    broken = Renderer(sender="Intl <intl@example.org>", timezone="Asia/Bangkok",
                      templates_dir=own)
    with pytest.raises(ConfigError, match=r"anniversaries\.th\.html: broken email template"):
        broken.check(["anniversaries"])
