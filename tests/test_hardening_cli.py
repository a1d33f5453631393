"""Hardening through the real CLI: one bad item does not stop its job; bad input (a damaged
spreadsheet, an id too large, an unwritable or full output place) gets a clear message naming
it, exit status 2 and no traceback."""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO, Project

AS_OF = "2018-04-06"  # the "plan" deadline (2018-04-13) has its 7-day stage due


@dataclass(frozen=True)
class Ran:
    status: int
    out: str
    err: str


def sistercity(project: Project, *args: str) -> Ran:
    """`python -m scheduler --config … ARGS` in a real process, in the project folder."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "scheduler", "--config", str(project.config), *args],
        cwd=project.root, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    return Ran(done.returncode, done.stdout, done.stderr)


def add_deadline(project: Project, deadline_id: str, rrule: str) -> None:
    """A budget deadline written straight into the database, as an older version's `load`
    would have stored it (today's `load` may refuse the rule)."""
    with sqlite3.connect(project.db_path) as conn:
        conn.execute(
            "INSERT INTO budget_deadlines (id, title, title_th, dtstart, rrule, working_groups,"
            " notes) VALUES (?, ?, '', '2018-04-01 09:00:00.000000', ?, '[]', '')",
            (deadline_id, f"Deadline {deadline_id}", rrule),
        )


def queued_items(project: Project) -> dict[str, int]:
    """Notices queued per budget-deadline item."""
    with sqlite3.connect(project.db_path) as conn:
        rows = conn.execute(
            "SELECT item, count(*) FROM notices WHERE job = 'budget-deadlines' GROUP BY item"
        )
        return dict(rows.fetchall())


# -- fault 2: one bad item stops a whole job ----------------------------------------------------
def test_a_bad_deadline_is_skipped_and_the_others_are_queued(project: Project) -> None:
    project.write_config()
    assert sistercity(project, "init").status == 0
    add_deadline(project, "twice-a-day", "FREQ=DAILY;BYHOUR=9,15")
    add_deadline(project, "broken", "FREQ=BOGUS")

    first = sistercity(project, "run", "budget-deadlines", "--as-of", AS_OF)
    assert first.status == 0, first.err  # done: every message queued was delivered
    assert "Traceback" not in first.out + first.err
    # both stored rules are refused by today's rule reader (several occurrences a day, an
    # unknown FREQ): each is named and skipped, and the bundled deadline still goes out
    for item, why in (("broken", "FREQ=BOGUS"), ("twice-a-day", "BYHOUR")):
        assert f"budget-deadlines: item {item} skipped, it cannot be planned" in first.err
        assert why in first.err
    items = queued_items(project)
    assert items == {"plan": 3}  # the bundled deadline: two leads and staff
    with sqlite3.connect(project.db_path) as conn:
        outcome, error = conn.execute("SELECT outcome, error FROM runs").fetchone()
    assert outcome == "ok" and "item broken skipped" in error

    again = sistercity(project, "run", "budget-deadlines", "--as-of", "2018-04-07")
    assert again.status == 0, again.err
    assert "item twice-a-day skipped" in again.err  # reported again until it is fixed
    assert queued_items(project) == {"plan": 3}


# -- fault 8: tracebacks instead of a clear message -----------------------------------------------
def assert_refused(ran: Ran, *named: str) -> None:
    """Exit status 2, a message naming each of `named`, and no traceback."""
    assert ran.status == 2, (ran.out, ran.err)
    assert "Traceback" not in ran.out + ran.err
    for name in named:
        assert name in ran.err, ran.err


def partner_count(project: Project) -> int:
    with sqlite3.connect(project.db_path) as conn:
        return int(conn.execute("SELECT count(*) FROM partners").fetchone()[0])


def rewrite_member(source: Path, target: Path, member: str, change: str) -> None:
    """A copy of the workbook `source` with one zip member damaged: "cut" (half its XML),
    "drop" (missing) or "crc" (stored uncompressed, then bytes changed after the checksum
    was taken)."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == member:
                if change == "drop":
                    continue
                if change == "cut":
                    data = data[: len(data) // 2]
                if change == "crc":
                    info.compress_type = zipfile.ZIP_STORED
            zout.writestr(info, data)
    if change == "crc":  # flip bytes inside the stored member's data
        raw = bytearray(target.read_bytes())
        start = raw.find(b"<sheetData")
        raw[start : start + 10] = b"<sheetDatX"
        target.write_bytes(bytes(raw))


@pytest.mark.parametrize(
    ("change", "member"),
    [("cut", "xl/worksheets/sheet1.xml"), ("crc", "xl/worksheets/sheet1.xml"),
     ("cut", "xl/workbook.xml"), ("drop", "xl/workbook.xml"),
     ("drop", "xl/worksheets/sheet2.xml")],
)
def test_a_damaged_workbook_is_refused_by_name(
    project: Project, tmp_path: Path, change: str, member: str
) -> None:
    project.write_config()
    good = tmp_path / "good.xlsx"
    assert sistercity(project, "export", str(good), "--as-of", AS_OF).status == 0
    before = partner_count(project)
    damaged = tmp_path / "damaged.xlsx"
    rewrite_member(good, damaged, member, change)
    ran = sistercity(project, "import", str(damaged))
    assert_refused(ran, "damaged.xlsx", "nothing was changed")
    assert partner_count(project) == before


def test_outbox_retry_refuses_an_id_too_large_for_the_database(project: Project) -> None:
    project.write_config()
    ran = sistercity(project, "outbox", "retry", "99999999999999999999")
    assert_refused(ran, "99999999999999999999", "ID")
    assert_refused(sistercity(project, "outbox", "retry", "0"), "0 is not in the range")


def test_preview_under_a_file_is_refused_by_name(project: Project) -> None:
    project.write_config()
    (project.root / "some.txt").write_text("a file, not a folder\n")
    ran = sistercity(project, "preview", "budget-deadlines", "--as-of", AS_OF,
                     "--out", "some.txt/dir")
    assert_refused(ran, "some.txt/dir", "Not a directory")


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on a 64 KiB tmpfs filled to the last byte (mounting needs root)."""
    folder = tmp_path / "full"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
                             capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip("a full disk is simulated with a small tmpfs, which needs root to mount")
    try:
        fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"x" * 4096):
                pass
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        finally:
            os.close(fd)
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize(
    "command",
    [("export", "full/agreements.xlsx"), ("export", "full/agreements.csv"),
     ("template", "full/template.xlsx"),
     ("preview", "budget-deadlines", "--as-of", AS_OF, "--out", "full/preview")],
)
def test_a_full_disk_is_reported_by_name(
    project: Project, full_disk: Path, command: tuple[str, ...]
) -> None:
    project.write_config()
    assert sistercity(project, "init").status == 0
    args = [a.replace("full/", f"{full_disk}/") for a in command]
    ran = sistercity(project, *args)
    assert_refused(ran, f"{full_disk}/", "No space left on device")
    leftovers = {p.name for p in full_disk.rglob("*") if p.is_file()} - {"filler"}
    assert leftovers == set()  # nothing half-written
