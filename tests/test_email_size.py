"""The size budget (SPEC "Emails", "Size"): whatever the registry's size, an email's HTML part
is at most 100 KiB and the whole message at most 200 KiB; each section shows its most urgent
items in full, then how many more there are and where to see them all. Through `sistercity
preview` (the production rendering) on a 300-partner group and on the 10,000-partner bench
dataset."""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
from email.message import EmailMessage
from pathlib import Path

import pytest
from test_audiences import parts, preview, sistercity, write_config

HTML_BUDGET = 100 * 1024
MESSAGE_BUDGET = 200 * 1024
REPO = Path(__file__).parent.parent
N = 300


def one_big_group(path: Path) -> None:
    """300 partners in the China group (long names), every one dormant (no activity), with
    an anniversary in March 2018 and, for half of them, an old LOI to review; 40 deadlines in
    March 2018; one meeting of the group on 15 March 2018 with the consulate invited."""
    lines = [
        '[[contact]]\nid = "lead"\nname = "China lead"\nemail = "lead@example.org"\n'
        'language = "th"\nrole = "lead"\n',
        '[[contact]]\nid = "staff"\nname = "Staff member"\nemail = "staff@example.org"\n'
        'language = "en"\nrole = "staff"\n',
        '[[contact]]\nid = "cn"\nname = "Consulate of China"\nemail = "cn@example.org"\n'
        'language = "en"\nrole = "consulate"\n',
        '[[working_group]]\nid = "china"\nname = "China"\nname_th = "จีน"\nlead = "lead"\n'
        'countries = ["CN"]\n',
        '[[consulate]]\ncountry = "CN"\ncontact = "cn"\n',
    ]
    for i in range(N):
        signed = dt.date(2008 + i % 8, 3, 2 + i % 27)
        kind = "loi" if i % 2 else "sister-city"
        lines.append(
            f'[[partner]]\nid = "p{i:03d}"\n'
            f'name = "Partner city number {i} of the rather long-named province"\n'
            f'name_th = "เมืองพี่เมืองน้องลำดับที่ {i} แห่งมณฑลที่มีชื่อยาวมาก"\ncountry = "CN"\n'
            f'  [[partner.agreement]]\n  kind = "{kind}"\n  signed_on = {signed.isoformat()}\n'
            '  areas = ["economy", "trade", "tourism", "culture", "education"]\n'
        )
    for i in range(40):
        lines.append(
            f'[[budget_deadline]]\nid = "d{i:02d}"\ntitle = "Deadline {i}: submit the report"\n'
            f'title_th = "กำหนดส่งรายงาน ฉบับที่ {i}"\ndue_on = 2018-03-{5 + i % 20:02d}\n'
        )
    lines.append(
        '[[meeting]]\nid = "big"\ntitle = "China group meeting"\ntitle_th = "ประชุมคณะทำงานจีน"\n'
        'starts_at = 2018-03-15T09:30:00\nworking_groups = ["china"]\n'
    )
    path.write_text("\n".join(lines), encoding="utf-8")


def within_budget(msg: EmailMessage) -> tuple[str, str]:
    text, html = parts(msg)
    assert len(html.encode()) <= HTML_BUDGET
    assert len(msg.as_bytes()) <= MESSAGE_BUDGET
    return text, html


def shown_and_more(text: str, more: str) -> tuple[int, int]:
    """Numbered items in `text`, and the N of its "N more" line (0 when none)."""
    shown = len(re.findall(r"^\d+\. ", text, flags=re.M))
    found = re.search(more, " ".join(text.split()))
    return shown, int(found.group(1)) if found else 0


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("big")
    one_big_group(root / "big.toml")
    config = write_config(root, root / "big.toml")
    sistercity(config, "init")
    return config


def test_digests_of_300_partners_keep_to_the_budget_and_count_the_rest(big: Path) -> None:
    out = big.parent
    anniversaries = preview(big, "anniversaries", "2018-03-01", out / "a")
    staff_text, _ = within_budget(anniversaries["staff@example.org"])
    shown, more = shown_and_more(staff_text, r"… and (\d+) more: see them all with "
                                            r"sistercity partners")
    assert shown >= 10 and shown + more == N
    lead_text, _ = within_budget(anniversaries["lead@example.org"])
    shown, more = shown_and_more(lead_text, r"… และอีก (\d+) รายการ ดูทั้งหมดได้ด้วยคำสั่ง "
                                           r"sistercity partners")
    assert shown >= 10 and shown + more == N
    letter_text, _ = within_budget(anniversaries["cn@example.org"])
    listed = len(re.findall(r"^- \d+\sMar\s2018:", letter_text, flags=re.M))
    found = re.search(r"- and (\d+) more", letter_text)
    assert found and listed + int(found.group(1)) == N

    dormant = preview(big, "dormant-partners", "2018-03-01", out / "d")
    for address, pattern in (("staff@example.org", r"… and (\d+) more: see them all"),
                             ("lead@example.org", r"… และอีก (\d+) รายการ ดูทั้งหมด")):
        text, _ = within_budget(dormant[address])
        shown, more = shown_and_more(text, pattern)
        assert shown >= 10 and shown + more == N, address
    # Most urgent first: the longest silence (partner 0, signed on 2 Mar 2008) leads.
    staff = " ".join(parts(dormant["staff@example.org"])[0].split())
    assert "1. Partner city number 0 of" in staff

    deadlines = preview(big, "budget-deadlines", "2018-03-01", out / "b")
    text, _ = within_budget(deadlines["staff@example.org"])
    shown, more = shown_and_more(text, r"… and (\d+) more: ask the office")
    assert shown + more == 40


def test_agenda_of_300_partners_keeps_to_the_budget_and_counts_the_rest(big: Path) -> None:
    agendas = preview(big, "meeting-agendas", "2018-03-01", big.parent / "m")
    for address in ("staff@example.org", "lead@example.org", "cn@example.org"):
        within_budget(agendas[address])
    text = " ".join(parts(agendas["staff@example.org"])[0].split())
    dormant = text.split("1. DORMANT PARTNERS")[1].split("2. ANNIVERSARIES")[0]
    listed = dormant.count("Partner city number")
    found = re.search(r"… and (\d+) more: `sistercity agenda big` lists them all", dormant)
    assert found and listed + int(found.group(1)) == N
    assert "sistercity agenda big" in text


def test_the_largest_message_of_the_bench_dataset_keeps_to_the_budget(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("gen_dataset", REPO / "bench" / "gen_dataset.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    data = tmp_path / "bench.toml"
    gen.generate(data)  # 10,000 partners, as of 2026-06-01
    config = write_config(tmp_path, data)
    sistercity(config, "init")
    largest = 0
    for job in ("dormant-partners", "meeting-agendas"):  # the largest messages
        for msg in preview(config, job, "2026-06-01", tmp_path / job).values():
            within_budget(msg)
            largest = max(largest, len(msg.as_bytes()))
    assert largest > 20 * 1024  # the big digests and agendas were there, and were cut
