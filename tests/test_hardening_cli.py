"""Hardening through the real CLI: one bad item does not stop its job; bad input (a damaged
spreadsheet, an id too large, an unwritable or full output place) gets a clear message naming
it, exit status 2 and no traceback."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass

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
    assert 'budget-deadlines: item broken skipped, it cannot be planned' in first.err
    assert "FREQ=BOGUS" in first.err
    items = queued_items(project)
    assert items["plan"] == 3  # the bundled deadline: two leads and staff
    # one notice per day and recipient (two leads and staff): no duplicate key
    assert items["twice-a-day"] == 61 * 3
    assert "broken" not in items
    with sqlite3.connect(project.db_path) as conn:
        outcome, error = conn.execute("SELECT outcome, error FROM runs").fetchone()
    assert outcome == "ok" and "item broken skipped" in error

    again = sistercity(project, "run", "budget-deadlines", "--as-of", "2018-04-07")
    assert again.status == 0, again.err
    # the next day: the new last day of the window, and the stages that came due (five days)
    assert queued_items(project)["twice-a-day"] == 61 * 3 + 5 * 3
