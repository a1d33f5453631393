"""SPEC "Emails" → "Text": spans in years and months, dates and quantities that never break,
a space between Thai and Latin script, and text lines of at most 78 columns where Thai breaks
only between words."""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup
from pythainlp.tokenize import word_tokenize

from scheduler.mail.render import Renderer, header_text
from scheduler.mail.text import (
    NBSP,
    breaks,
    columns,
    space_scripts,
    span,
    span_between,
    wrap,
)


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(sender="Chiang Mai International Affairs <intl@example.org>",
                    timezone="Asia/Bangkok")


def plain(text: str) -> str:
    return text.replace(NBSP, " ")


# --- years and months ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "th", "en"),
    [
        (date(2018, 3, 1), date(2018, 3, 1), "0 วัน", "0 days"),
        (date(2018, 3, 1), date(2018, 3, 2), "1 วัน", "1 day"),
        (date(2018, 1, 1), date(2018, 3, 2), "60 วัน", "60 days"),
        (date(2018, 1, 1), date(2018, 3, 3), "2 เดือน", "2 months"),
        (date(2017, 3, 1), date(2018, 3, 1), "1 ปี", "1 year"),
        (date(2017, 2, 1), date(2018, 3, 1), "1 ปี 1 เดือน", "1 year 1 month"),
        (date(2015, 1, 10), date(2018, 3, 9), "3 ปี 1 เดือน", "3 years 1 month"),
        (date(2015, 1, 10), date(2018, 3, 10), "3 ปี 2 เดือน", "3 years 2 months"),
        # The example: 9,738 days of silence read "26 ปี 8 เดือน".
        (date(1991, 8, 20), date(2018, 5, 1), "26 ปี 8 เดือน", "26 years 8 months"),
        # 29 February's anniversary in a common year is 28 February (thaidate.anniversary).
        (date(2016, 2, 29), date(2018, 2, 28), "2 ปี", "2 years"),
    ],
)
def test_span_between_reads_in_years_and_months(
    start: date, end: date, th: str, en: str
) -> None:
    assert plain(span_between(start, end, "th")) == th
    assert plain(span_between(start, end, "en")) == en
    assert plain(span_between(end, start, "en")) == en  # either order
    assert plain(span_between(datetime.combine(start, datetime.min.time()),
                              datetime.combine(end, datetime.min.time()), "en")) == en


@pytest.mark.parametrize(
    ("days", "th", "en"),
    [
        (0, "0 วัน", "0 days"),
        (60, "60 วัน", "60 days"),
        (61, "2 เดือน", "2 months"),
        (364, "11 เดือน", "11 months"),
        (365, "1 ปี", "1 year"),
        (3652, "10 ปี", "10 years"),
        (400, "1 ปี 1 เดือน", "1 year 1 month"),
        (9738, "26 ปี 7 เดือน", "26 years 7 months"),
        (-745, "2 ปี", "2 years"),
    ],
)
def test_span_of_days_reads_in_years_and_months(days: int, th: str, en: str) -> None:
    assert plain(span(days, "th")) == th
    assert plain(span(days, "en")) == en


def test_a_number_and_its_unit_hold_together() -> None:
    assert span_between(date(2015, 1, 10), date(2018, 3, 10), "th") == "3\xa0ปี 2\xa0เดือน"
    assert span(45, "en") == "45\xa0days"
    for lang in ("th", "en"):
        for days in (1, 59, 61, 400, 10_000):
            assert re.fullmatch(r"\d+\xa0\S+( \d+\xa0\S+)?", span(days, lang))


def test_span_of_another_language_is_refused() -> None:
    with pytest.raises(ValueError, match="'de'"):
        span(100, "de")


def test_span_filters_in_both_environments(renderer: Renderer) -> None:
    for env in (renderer.text_env, renderer.html_env):
        out = env.from_string(
            "{{ a|span_between(b, 'th') }}|{{ 9738|span('en') }}"
        ).render(a=date(1991, 8, 20), b=date(2018, 5, 1))
        assert out == "26\xa0ปี 8\xa0เดือน|26\xa0years 7\xa0months"


# --- no break inside a date ----------------------------------------------------------------


def test_dates_hold_together_in_text_and_html(renderer: Renderer) -> None:
    source = ("{{ d|date('th') }}|{{ d|date('en') }}|{{ d|month_year('th') }}|"
              "{{ t|datetime('en') }}|{{ ('อีก ' ~ 17 ~ ' วัน')|nobreak }}")
    values = {"d": date(2016, 3, 23), "t": datetime(2017, 11, 15, 9, 30)}
    expected = ("23\xa0มี.ค.\xa02559|23\xa0Mar\xa02016|มี.ค.\xa02559|15\xa0Nov\xa02017\xa009:30|"
                "อีก\xa017\xa0วัน")
    assert renderer.text_env.from_string(source).render(values) == expected
    assert renderer.html_env.from_string(source).render(values) == expected


def test_nobreak_keeps_html_escaped_once(renderer: Renderer) -> None:
    out = renderer.html_env.from_string(
        '{% import "_macros.j2" as m %}{{ m.partner_name(p, "en")|nobreak }}'
    ).render(p={"name": "A & B <x>", "name_th": ""})
    assert out == "A\xa0&amp;\xa0B\xa0&lt;x&gt;"


def test_subjects_read_with_plain_spaces(renderer: Renderer) -> None:
    subject = renderer.text_env.from_string("ครบรอบ {{ d|date('th') }} (อีก 17 วัน)").render(
        d=date(2018, 11, 15))
    assert NBSP in subject
    assert header_text(subject) == "ครบรอบ 15 พ.ย. 2561 (อีก 17 วัน)"


@settings(deadline=None)  # the first call loads the segmenter's dictionary
@given(st.integers(min_value=0, max_value=60), st.integers(min_value=1, max_value=80))
def test_wrap_never_breaks_a_date(offset: int, width: int) -> None:
    day = "14\xa0พ.ค.\xa02569"
    text = "ก" * offset + " " + "วันที่ " + day + " และ 2\xa0ปี หรือ 3\xa0years ok"
    lines = wrap(text, width).split("\n")
    assert any(day in line for line in lines)
    assert any("2\xa0ปี" in line for line in lines)
    assert any("3\xa0years" in line for line in lines)


def test_a_long_template_line_keeps_its_dates_whole(renderer: Renderer) -> None:
    # Through the templates' own wrap macro: the issue's "14⏎พ.ค. 2569" and "2⏎ปี".
    template = renderer.text_env.from_string(
        '{% import "_macros.j2" as m %}{{ m.wrap(t, "th", 5) }}')
    for pad in range(0, 80):
        text = "   - " + "ก" * pad + " ลงนามเมื่อ " + "14\xa0พ.ค.\xa02569" + " (2\xa0ปี)"
        out = template.render(t=text)
        assert any("14\xa0พ.ค.\xa02569" in line for line in out.split("\n")), out
        assert any("(2\xa0ปี)" in line for line in out.split("\n")), out


# --- Thai and Latin script -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("โดยChiang Mai University", "โดย Chiang Mai University"),
        ("กับEdgecity", "กับ Edgecity"),
        ("Edgecityและเชียงใหม่", "Edgecity และเชียงใหม่"),
        ("ที่Kengtung", "ที่ Kengtung"),  # after a tone mark
        ("เมืองÉvianและHuế", "เมือง Évian และ Huế"),
        ("โดย Chiang Mai", "โดย Chiang Mai"),  # already spaced
        ("ปี 2561 (LOI)กับ", "ปี 2561 (LOI)กับ"),  # digits and punctuation are not letters
        ("เชียงใหม่", "เชียงใหม่"),
        ("Chiang Mai", "Chiang Mai"),
    ],
)
def test_thai_and_latin_script_are_spaced(before: str, after: str) -> None:
    assert space_scripts(before) == after


def test_spacing_scripts_leaves_tags_and_addresses_alone() -> None:
    html = Markup('<td class="xฟ">โดย<b>Chiang</b>กับEdgecity <a href="/ไทยabc">ลิงก์</a></td>')
    out = space_scripts(html)
    assert isinstance(out, Markup)
    assert out == '<td class="xฟ">โดย<b>Chiang</b>กับ Edgecity <a href="/ไทยabc">ลิงก์</a></td>'
    assert space_scripts("หัวหน้า<lead@ไทยexample.org>") == "หัวหน้า<lead@ไทยexample.org>"


# --- widths and wrapping -------------------------------------------------------------------


def test_columns_count_thai_marks_as_zero_width() -> None:
    assert columns("ที่") == 1
    assert columns("เชียงใหม่") == 7
    assert columns("น้ำ") == 2  # SARA AM takes a column
    assert columns("Chiang Mai") == 10
    assert columns("café\u0301") == 4
    assert columns("中国") == 4
    assert columns("a\tb") == 2


THAI_RUN = ("การลงนามความตกลงกับเมืองพี่เมืองน้องซึ่งไม่มีการบันทึกกิจกรรมมาเป็นเวลานาน"
            "โปรดพิจารณาจัดกิจกรรมหรือทบทวนความสัมพันธ์กับเมืองพี่เมืองน้องแห่งนี้")


def test_a_thai_run_breaks_between_words_only() -> None:
    assert columns(THAI_RUN) > 99
    lines = wrap("   ช่องทางติดต่อ: " + THAI_RUN, 78, 6).split("\n")
    assert len(lines) >= 2
    assert all(columns(line) <= 78 for line in lines)
    assert all(line.startswith("      ") for line in lines[1:])
    pieces = [lines[0].split(": ", 1)[1], *(line.strip() for line in lines[1:])]
    assert "".join(pieces) == THAI_RUN
    # Every break falls where the segmenter puts a word boundary in the whole run.
    boundaries = set()
    at = 0
    for word in word_tokenize(THAI_RUN, engine="newmm"):
        at += len(word)
        boundaries.add(at)
    at = 0
    for piece in pieces[:-1]:
        at += len(piece)
        assert at in boundaries, (piece, at)


def test_breaks_never_before_a_mark_or_beside_other_scripts() -> None:
    word = "ค่าใช้จ่ายๆ\xa0500\xa0บาทสำหรับMOUฯ"
    for at in breaks(word):
        assert "\u0e00" <= word[at - 1] <= "\u0e7f" and "\u0e00" <= word[at] <= "\u0e7f"
        assert word[at] not in "ๆฯ่้๊๋ิีึืุูั็์"


def test_wrap_keeps_padding_indent_and_long_runs() -> None:
    assert wrap("   Due:            14\xa0Apr\xa02018 (in\xa07\xa0days)", 78) == (
        "   Due:            14\xa0Apr\xa02018 (in\xa07\xa0days)")
    url = "https://example.org/" + "x" * 90
    assert wrap("see " + url + " now", 40, 2) == "see\n  " + url + "\n  now"
    assert wrap("one two three four", 9, 2) == "one two\n  three\n  four"
    assert wrap("a\nb c", 78, 3) == "a\n   b c"
    assert wrap("line\n", 78) == "line"


thai_words = st.sampled_from(
    ["เมือง", "พี่", "น้อง", "ความ", "ตกลง", "กิจกรรม", "ที่", "ใกล้", "จะ", "ถึง", "ครบรอบ",
     "เชียงใหม่", "สถานกงสุล", "ประเทศ", "จีน", "ญี่ปุ่น", "น้ำ", "ๆ"])
other_words = st.sampled_from(["Chengdu", "MOU", "(LOI)", "2561", "15\xa0พ.ย.\xa02561",
                               "3\xa0ปี", "Huế", "Évian", "—", ","])
chunks = st.lists(st.one_of(thai_words, other_words, st.just(" ")), max_size=60)


@settings(max_examples=300, deadline=None)
@given(chunks, st.integers(min_value=10, max_value=78), st.integers(min_value=0, max_value=8))
def test_wrap_property(parts: list[str], width: int, indent: int) -> None:
    text = "".join(parts).strip(" ")
    out = wrap(text, width, indent)
    lines = out.split("\n")
    # Nothing lost or added but line breaks (and the spaces where lines broke).
    assert "".join(" ".join(lines).split()) == "".join(text.split())
    for number, line in enumerate(lines):
        if number:
            assert line.startswith(" " * indent) or not line.strip()
        if columns(line) > width:
            # Only an unbreakable run is longer: no space in it and no Thai break.
            run = line.strip(" ")
            assert " " not in run and not breaks(run)
    for line in lines:
        assert line == line.rstrip()
        assert not line.strip(" ").startswith(NBSP) and not line.endswith(NBSP)


def test_thai_lines_are_filled_greedily() -> None:
    """Issue 14 review: a word that fits whole on the next line is not broken again there."""
    footer = ("อีเมลฉบับนี้ส่งโดยอัตโนมัติจากระบบ sistercity การตอบรับนัดหมายในปฏิทินจะส่งถึง"
              "ผู้จัดการประชุม การตอบกลับอีเมลนี้จะส่งถึงงานวิเทศสัมพันธ์ สำนักงานจังหวัดเชียงใหม่")
    assert wrap(footer, 76).split("\n")[-1] == (
        "การตอบกลับอีเมลนี้จะส่งถึงงานวิเทศสัมพันธ์ สำนักงานจังหวัดเชียงใหม่")
    text = ("ในโอกาสนี้ โปรดพิจารณาส่งสารแสดงความยินดี จัดการเยือน หรือจัดกิจกรรมร่วมกับเมืองพี่"
            "เมืองน้อง โดยประสานงานผ่านช่องทางที่ระบุไว้ข้างต้น")
    assert wrap(text, 76).split("\n")[-1] == "โดยประสานงานผ่านช่องทางที่ระบุไว้ข้างต้น"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["", " "]), st.one_of(thai_words, other_words)),
                min_size=1, max_size=60),
       st.integers(min_value=10, max_value=78), st.integers(min_value=0, max_value=8))
def test_wrap_is_greedy(parts: list[tuple[str, str]], width: int, indent: int) -> None:
    """No line could have taken the next line's first word or Thai segment; every line fits
    but an unbreakable run."""
    text = "".join(gap + word for gap, word in parts).strip(" ")
    lines = wrap(text, width, indent).split("\n")
    at = 0
    for number, line in enumerate(lines):
        content = line[indent:] if number else line
        assert text.startswith(content, at), (text, lines)
        at += len(content)
        if columns(line) > width:
            assert " " not in content and not breaks(content)
        if number == len(lines) - 1:
            assert at == len(text)
            break
        gap = " " if text[at] == " " else ""
        at += len(gap)
        word = text[at:].split(" ")[0]
        offsets = breaks(word)
        head = word[: offsets[0]] if offsets else word
        assert columns(line + gap + head) > width, (line, gap, head, width)
