"""The daemon: its decisions one turn at a time with explicit timestamps (in-process), and the
real process under signals, against a real SMTP server.

The real-process tests wait for explicit signs (a log line, a message at the server) with a
generous deadline (PATIENCE), never for a fixed time: on a busy machine the catch-up pass,
which starts one interpreter per job, may take many seconds.

The helpers at the top are shared with test_postgres.py.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import pytest
from smtpserver import SmtpTestServer, running_smtp_server
from sqlalchemy import func, select

from jobs import JOB_NAMES
from scheduler.config import load_settings
from scheduler.daemon import schedule
from scheduler.daemon.leadership import DaemonError, open_leadership
from scheduler.daemon.loop import ControlLoop
from scheduler.daemon.service import Change, Daemon, Timing
from scheduler.db.database import Database
from scheduler.db.models import DaemonRow, MessageRow, RunRow
from scheduler.registry.bootstrap import open_database
from scheduler.services.runs import Runner
from scheduler.services.status import active_daemon

TZ = ZoneInfo("Asia/Bangkok")
# How long to wait for something that takes a second on an idle machine (seconds).
PATIENCE = 120.0
REPO = Path(__file__).resolve().parent.parent

# Short timings so that the suite stays fast; production defaults are 10 s, 5 s and 20 s.
FAST_ENV = {
    "SISTERCITY_DAEMON_HEARTBEAT_SECONDS": "0.5",
    "SISTERCITY_DAEMON_POLL_SECONDS": "0.25",
    "SISTERCITY_DAEMON_DELIVERY_SECONDS": "1",
    "SISTERCITY_DAEMON_LEASE_SECONDS": "5",  # production: 15
    "SISTERCITY_DAEMON_STOP_TIMEOUT_SECONDS": "60",  # a stop on a busy machine is slow too
}


# -- helpers (also used by test_postgres.py) ------------------------------------------------
def bangkok_today() -> dt.date:
    """The daemon's "today" (scheduler.timezone = Asia/Bangkok), from the real clock."""
    return dt.datetime.now(TZ).date()


def write_dataset(path: Path, *, deadlines: dict[str, dt.date], people: bool = True,
                  anniversary_on: dt.date | None = None) -> Path:
    """A small dataset: one English-speaking lead of one group, and budget deadlines (each
    title carries its id, so a test can tell the emails apart)."""
    parts: list[str] = []
    if people:
        parts.append('[[contact]]\nid = "lead"\nname = "Lead Person"\n'
                     'email = "lead@example.org"\nlanguage = "en"\nrole = "lead"\n')
        parts.append('[[working_group]]\nid = "china"\nname = "China"\nname_th = "จีน"\n'
                     'lead = "lead"\ncountries = ["CN"]\n')
    if anniversary_on is not None:
        signed = anniversary_on.replace(year=anniversary_on.year - 3)
        parts.append('[[partner]]\nid = "chengdu"\nname = "Chengdu"\nname_th = "เฉิงตู"\n'
                     'country = "CN"\n\n  [[partner.agreement]]\n  kind = "mou"\n'
                     f'  signed_on = {signed.isoformat()}\n'
                     '  local_party = "Chiang Mai Province"\n')
    for ident, due in deadlines.items():
        parts.append(f'[[budget_deadline]]\nid = "{ident}"\ntitle = "Deadline {ident}"\n'
                     f'title_th = "กำหนด {ident}"\ndue_on = {due.isoformat()}\n'
                     'working_groups = []\n')
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def write_config(root: Path, server: SmtpTestServer, *, database_url: str | None = None,
                 templates_dir: Path | None = None, retry_initial_seconds: int = 60,
                 job_timeout_seconds: float | None = None) -> Path:
    """config.toml in `root`: SQLite in root/var (or `database_url`), data.toml, SMTP to
    `server`."""
    lines = [
        "[database]",
        f'url = "{database_url or "sqlite:///var/sistercity.db"}"',
        "[data]",
        'files = ["data.toml"]',
        "[email]",
        'transport = "smtp"',
        'from = "Chiang Mai International Affairs <intl@example.org>"',
    ]
    if templates_dir is not None:
        lines.append(f'templates_dir = "{templates_dir}"')
    lines += [
        "[smtp]",
        f'host = "{server.host}"',
        f"port = {server.port}",
        "timeout_seconds = 10",
        f"retry_initial_seconds = {retry_initial_seconds}",
        "[scheduler]",
        'timezone = "Asia/Bangkok"',
    ]
    if job_timeout_seconds is not None:
        lines.append(f"job_timeout_seconds = {job_timeout_seconds}")
    config = root / "config.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


def subprocess_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SISTERCITY_CONFIG"}
    env.update(FAST_ENV)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def sistercity(root: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `python -m scheduler --config root/config.toml ARGS` in `root`."""
    return subprocess.run(
        [sys.executable, "-m", "scheduler", "--config", str(root / "config.toml"), *args],
        cwd=root, env=subprocess_env(), capture_output=True, text=True, timeout=timeout,
    )


def job_children(parent: int) -> list[int]:
    """Pids of the living job processes (spawned interpreters) whose parent is `parent`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == parent and state != "Z" and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting for its new parent to reap it is dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(predicate: Callable[[], Any], timeout: float = PATIENCE,
               interval: float = 0.1) -> Any:
    """Poll until `predicate()` is truthy; return its value, or fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {predicate}")
        time.sleep(interval)


@dataclass
class DaemonProcess:
    """`sistercity daemon` as a real process; its stderr goes to a file we can read while it
    runs."""

    proc: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]

    @classmethod
    def start(cls, root: Path, name: str = "daemon") -> DaemonProcess:
        log_path = root / f"{name}.log"
        log_file = log_path.open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "scheduler", "--config", str(root / "config.toml"), "daemon"],
            cwd=root, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=log_file,
        )
        return cls(proc, log_path, log_file)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float = PATIENCE) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the daemon did not exit within {timeout} s:\n{self.log}") \
                from None

    def caught_up(self) -> bool:
        """Its catch-up pass is done (the job lines are logged after the delivery round)."""
        return self.log.count("trigger=catch-up") >= 4

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.log_file.close()


@pytest.fixture
def daemons() -> Iterator[list[DaemonProcess]]:
    """Started daemons are killed at the end of the test, whatever happened."""
    started: list[DaemonProcess] = []
    yield started
    for process in started:
        process.close()


@pytest.fixture
def server() -> Iterator[SmtpTestServer]:
    with running_smtp_server() as smtp:
        yield smtp


def status_json(root: Path) -> dict[str, Any]:
    result = sistercity(root, "status", "--json")
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


# -- in-process: one turn at a time, explicit timestamps ------------------------------------
# Saturday 5 Jan 2030, 10:00 in Bangkok.
SATURDAY = dt.datetime(2030, 1, 5, 10, 0, tzinfo=TZ).astimezone(dt.UTC)


@dataclass
class Setup:
    db: Database
    daemon: Daemon


@pytest.fixture
def setup(tmp_path: Path, server: SmtpTestServer) -> Iterator[Setup]:
    write_dataset(tmp_path / "data.toml", deadlines={"plan": dt.date(2030, 1, 12)})
    settings = load_settings(str(write_config(tmp_path, server)))
    leadership = open_leadership(settings)
    db = open_database(settings)
    daemon = Daemon(db, settings, leadership, timing=Timing(heartbeat_seconds=10))
    yield Setup(db, daemon)
    daemon.close(SATURDAY)
    db.dispose()


def daemon_row(db: Database, daemon: Daemon) -> DaemonRow:
    with db.read() as session:
        row = session.get(DaemonRow, daemon.id)
    assert row is not None
    return row


def test_next_runs_use_crontab_day_numbers(setup: Setup) -> None:
    # "0 8 * * 1-5" is Monday to Friday (APScheduler's from_crontab would say Tuesday).
    assert setup.daemon.next_runs(SATURDAY) == {
        "anniversaries": "2030-01-06T08:00:00+07:00",
        "budget-deadlines": "2030-01-07T08:00:00+07:00",
        "dormant-partners": "2030-01-07T09:00:00+07:00",
        "meeting-agendas": "2030-01-06T07:00:00+07:00",
    }


def test_one_turn_at_a_time(setup: Setup, server: SmtpTestServer) -> None:
    db, daemon = setup.db, setup.daemon
    daemon.register(SATURDAY)
    assert active_daemon(db, SATURDAY) is None  # registered, not active yet

    assert daemon.step(SATURDAY) is Change.PROMOTED
    row = daemon_row(db, daemon)
    assert row.active and row.next_runs["budget-deadlines"] == "2030-01-07T08:00:00+07:00"
    assert active_daemon(db, SATURDAY) is not None

    # The catch-up pass: every job as of Saturday, then delivery. The deadline of the 12th
    # is 7 days away: that stage is due.
    outcomes = {o.job: o for o in daemon.catch_up(SATURDAY)}
    assert set(outcomes) == {"anniversaries", "budget-deadlines", "dormant-partners",
                             "meeting-agendas"}
    deadline = outcomes["budget-deadlines"]
    assert deadline.as_of == dt.date(2030, 1, 5) and deadline.error is None
    assert (deadline.sent, deadline.failed) == (1, 0)
    assert [m.rcpt_tos for m in server.messages] == [("lead@example.org",)]

    # Again (a restart, a takeover): nothing new.
    again = {o.job: o for o in daemon.catch_up(SATURDAY)}
    assert again["budget-deadlines"].result is not None
    assert again["budget-deadlines"].result.messages == 0
    assert len(server.messages) == 1

    # Heartbeat every 10 s, not before.
    assert daemon.step(SATURDAY + dt.timedelta(seconds=5)) is Change.NONE
    assert daemon_row(db, daemon).heartbeat_at == SATURDAY
    later = SATURDAY + dt.timedelta(seconds=11)
    assert daemon.step(later) is Change.NONE
    assert daemon_row(db, daemon).heartbeat_at == later

    # Monday 08:00, its slot: the 7-day stage was sent already, the 1-day one is not due.
    monday = dt.datetime(2030, 1, 7, 8, 0, tzinfo=TZ)
    outcome = daemon.run_scheduled("budget-deadlines", monday)
    assert outcome is not None and outcome.result is not None
    assert outcome.as_of == dt.date(2030, 1, 7) and outcome.result.messages == 0
    # Friday the 11th at 08:00: the 1-day stage.
    friday = dt.datetime(2030, 1, 11, 8, 0, tzinfo=TZ)
    outcome = daemon.run_scheduled("budget-deadlines", friday)
    assert outcome is not None and (outcome.sent, outcome.failed) == (1, 0)
    assert len(server.messages) == 2

    with db.read() as session:
        triggers = set(session.scalars(select(RunRow.trigger)))
    assert triggers == {"daemon"}

    # A clean stop: the row says stopped, status shows no daemon, the lock is free again.
    assert daemon.drain(timeout=5)
    daemon.close(friday)
    row = daemon_row(db, daemon)
    assert not row.active and row.stopped_at == friday and row.next_runs == {}
    assert active_daemon(db, friday) is None
    open_leadership(daemon.settings).release()


def test_delivery_tick_follows_the_back_off(setup: Setup, server: SmtpTestServer) -> None:
    db, daemon = setup.db, setup.daemon
    daemon.register(SATURDAY)
    assert daemon.step(SATURDAY) is Change.PROMOTED
    server.fail_rcpt["*"] = "451 4.3.0 Try again later"
    outcome = {o.job: o for o in daemon.catch_up(SATURDAY)}["budget-deadlines"]
    assert (outcome.sent, outcome.retrying) == (0, 1)
    server.clear_failures()

    # retry_initial_seconds = 60: not due half a minute later, due after a minute.
    report = daemon.deliver(SATURDAY + dt.timedelta(seconds=30))
    assert report is not None and not report.attempted
    report = daemon.deliver(SATURDAY + dt.timedelta(seconds=61))
    assert report is not None and len(report.sent) == 1
    assert len(server.messages) == 1
    with db.read() as session:
        assert list(session.scalars(select(MessageRow.state))) == ["sent"]


def test_a_standby_does_no_work(setup: Setup, server: SmtpTestServer) -> None:
    daemon = setup.daemon
    daemon.register(SATURDAY)
    assert daemon.catch_up(SATURDAY) == []
    assert daemon.run_scheduled("budget-deadlines", SATURDAY) is None
    assert daemon.deliver(SATURDAY) is None
    assert server.messages == []


def test_a_failing_job_is_logged_recorded_and_retried(
    tmp_path: Path, server: SmtpTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    # The anniversaries template breaks while rendering (not when loaded): that job fails,
    # the others go on.
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "anniversaries.en.txt").write_text(
        "{% block subject %}Anniversary{% endblock %}\n{{ items[0].no_such_field }}\n",
        encoding="utf-8")
    write_dataset(tmp_path / "data.toml", deadlines={"plan": dt.date(2030, 1, 12)},
                  anniversary_on=dt.date(2030, 1, 5))
    settings = load_settings(str(write_config(tmp_path, server, templates_dir=templates)))
    db = open_database(settings)
    daemon = Daemon(db, settings, open_leadership(settings))
    try:
        daemon.register(SATURDAY)
        daemon.step(SATURDAY)
        outcomes = {o.job: o for o in daemon.catch_up(SATURDAY)}
        assert outcomes["anniversaries"].error is not None
        assert "no_such_field" in outcomes["anniversaries"].error
        assert outcomes["budget-deadlines"].sent == 1
        assert outcomes["dormant-partners"].error is None
        failures = [r for r in caplog.records
                    if r.name == "sistercity.daemon" and r.levelname == "ERROR"]
        assert len(failures) == 1 and failures[0].exc_info is not None
        assert "job=anniversaries" in failures[0].getMessage()

        # Its next slot (here later the same day, so the anniversary is still due) runs it
        # again; it fails again and is recorded again.
        again = daemon.run_scheduled("anniversaries", SATURDAY + dt.timedelta(hours=10))
        assert again is not None and again.error is not None
        with db.read() as session:
            runs = session.execute(select(RunRow.outcome, RunRow.error)
                                   .where(RunRow.job == "anniversaries")).all()
        assert [r.outcome for r in runs] == ["error", "error"]
        assert all("Traceback" in (r.error or "") for r in runs)
        jobs = sorted(str(m.message["X-Sistercity-Job"]) for m in server.messages)
        assert jobs == ["budget-deadlines", "dormant-partners"]  # no anniversary
    finally:
        daemon.close(SATURDAY)
        db.dispose()


def test_a_job_past_its_time_limit_is_stopped_and_delivery_goes_on(
    tmp_path: Path, server: SmtpTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    """scheduler.job_timeout_seconds = 0.1: no spawned interpreter even starts that fast, so
    every job run goes past it. Each is stopped, logged and recorded as failed; the next job
    still runs, the message queued earlier is still delivered, and no child is left."""
    write_dataset(tmp_path / "data.toml", deadlines={"plan": dt.date(2030, 1, 12)})
    settings = load_settings(str(write_config(tmp_path, server, job_timeout_seconds=0.1)))
    assert settings.job_timeout_seconds == 0.1
    db = open_database(settings)
    daemon = Daemon(db, settings, open_leadership(settings))
    try:
        # Queued earlier (by `sistercity run`, say), not sent yet.
        queued = Runner(db, settings).run_job("budget-deadlines", dt.date(2030, 1, 5),
                                              now=SATURDAY)
        assert queued.messages == 1
        daemon.register(SATURDAY)
        assert daemon.step(SATURDAY) is Change.PROMOTED
        outcomes = daemon.catch_up(SATURDAY)
        assert [o.job for o in outcomes] == list(JOB_NAMES)
        for outcome in outcomes:
            assert outcome.result is None and outcome.error is not None
            assert "did not finish within 0.1 s" in outcome.error
        assert [m.rcpt_tos for m in server.messages] == [("lead@example.org",)]
        with db.read() as session:
            runs = session.execute(select(RunRow.job, RunRow.outcome, RunRow.error)
                                   .where(RunRow.trigger == "daemon")).all()
            states = list(session.scalars(select(MessageRow.state)))
        assert sorted(r.job for r in runs) == sorted(JOB_NAMES)
        assert all(r.outcome == "error" and "job_timeout_seconds" in (r.error or "")
                   for r in runs)
        assert states == ["sent"]
        failures = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
        assert len(failures) == 4 and all("did not finish within 0.1 s" in f for f in failures)
        assert job_children(os.getpid()) == []
    finally:
        daemon.close(SATURDAY)
        db.dispose()


def test_the_control_loop_one_tick_at_a_time(setup: Setup, server: SmtpTestServer) -> None:
    """The loop's wiring with an explicit clock and a scheduler that never starts: promotion
    installs the catch-up pass, the cron jobs and the delivery tick; running the catch-up job
    as APScheduler would sends; demotion removes everything."""
    db, daemon = setup.db, setup.daemon
    clock = [SATURDAY]
    scheduler = schedule.background_scheduler(TZ, misfire_grace_seconds=3600)
    loop = ControlLoop(daemon, scheduler, clock=lambda: clock[0])
    daemon.register(SATURDAY)

    assert loop.tick() is Change.PROMOTED
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"catch-up", "deliver", "job:anniversaries", "job:budget-deadlines",
                         "job:dormant-partners", "job:meeting-agendas"}
    clock[0] = SATURDAY + dt.timedelta(seconds=3)
    assert loop.tick() is Change.NONE
    assert daemon_row(db, daemon).heartbeat_at == SATURDAY  # not due before 10 s

    catch_up = jobs["catch-up"]
    catch_up.func(*catch_up.args)  # what the worker thread would do, at the clock's time
    assert [m.rcpt_tos for m in server.messages] == [("lead@example.org",)]
    with db.read() as session:
        assert list(session.scalars(select(RunRow.as_of))) == [dt.date(2030, 1, 5)] * 4

    daemon.leadership.release()  # the lock is gone (for a FileLock: released by hand)
    assert loop.tick() is Change.DEMOTED
    assert scheduler.get_jobs() == []
    assert not daemon_row(db, daemon).active


def test_sqlite_lock_refuses_a_second_daemon_in_process(tmp_path: Path,
                                                        server: SmtpTestServer) -> None:
    write_dataset(tmp_path / "data.toml", deadlines={})
    settings = load_settings(str(write_config(tmp_path, server)))
    first = open_leadership(settings)
    try:
        with pytest.raises(DaemonError, match="already running"):
            open_leadership(settings)
    finally:
        first.release()
    open_leadership(settings).release()


# -- the real process -----------------------------------------------------------------------
def test_daemon_process(tmp_path: Path, server: SmtpTestServer,
                        daemons: list[DaemonProcess]) -> None:
    """Sends on start, shows next runs, refuses a twin, stops on SIGTERM with 0, sends nothing
    again after a restart, stops on SIGINT with 0."""
    today = bangkok_today()
    write_dataset(tmp_path / "data.toml", deadlines={"plan": today + dt.timedelta(days=7)})
    write_config(tmp_path, server)

    first = DaemonProcess.start(tmp_path, "first")
    daemons.append(first)
    received = server.wait_for_messages(1, timeout=PATIENCE)
    assert received[0].rcpt_tos == ("lead@example.org",)
    plain = received[0].message.get_body(("plain",))
    assert plain is not None and "Deadline plan" in plain.get_content()
    wait_until(first.caught_up)
    assert f"job=budget-deadlines as_of={today.isoformat()} trigger=catch-up" in first.log
    assert "queued=1 sent=1 retrying=0 failed=0" in first.log
    # stderr is a file here: every line still says when (ISO 8601 with the UTC offset).
    for line in first.log.splitlines():
        stamp = dt.datetime.fromisoformat(line.split(" ", 1)[0])
        assert stamp.tzinfo is not None, line

    status = status_json(tmp_path)
    assert all(job["next_run"] for job in status["jobs"]), status
    assert status["daemon"]["pid"] == first.pid

    # A second daemon on the same SQLite database: refused, exit 2, a clear message.
    second = sistercity(tmp_path, "daemon", timeout=PATIENCE)
    assert second.returncode == 2, second.stderr
    assert f"another sistercity daemon (pid {first.pid}) is already running" in second.stderr
    assert "Traceback" not in second.stderr

    first.signal(signal.SIGTERM)
    assert first.wait() == 0
    assert "SIGTERM: stopping" in first.log and "stopped" in first.log
    assert "work still in flight" not in first.log  # an idle daemon does not wait for the timeout
    status = status_json(tmp_path)
    assert all(job["next_run"] is None for job in status["jobs"]), status
    assert status["daemon"] is None

    # A restart runs the catch-up pass again and sends nothing new.
    again = DaemonProcess.start(tmp_path, "again")
    daemons.append(again)
    wait_until(again.caught_up)
    assert "queued=1" not in again.log
    assert len(server.messages) == 1
    again.signal(signal.SIGINT)
    assert again.wait() == 0


def large_registry(root: Path, server: SmtpTestServer, **config: Any) -> None:
    """bench/gen_dataset.py's 10,000 partners, loaded (planning a job takes seconds)."""
    subprocess.run([sys.executable, str(REPO / "bench" / "gen_dataset.py"),
                    str(root / "data.toml")], check=True, capture_output=True, timeout=PATIENCE)
    write_config(root, server, **config)
    loaded = sistercity(root, "init", timeout=PATIENCE)
    assert loaded.returncode == 0, loaded.stderr


@pytest.mark.parametrize("value", ["0", "-5", "1e9", '"600"', "true", "nan"])
def test_the_job_time_limit_is_bounded(tmp_path: Path, server: SmtpTestServer,
                                       value: str) -> None:
    write_dataset(tmp_path / "data.toml", deadlines={})
    config = write_config(tmp_path, server)
    config.write_text(config.read_text(encoding="utf-8") + f"job_timeout_seconds = {value}\n",
                      encoding="utf-8")
    result = sistercity(tmp_path, "status")
    assert result.returncode == 2, result.stderr
    assert "scheduler.job_timeout_seconds: expected a number of seconds from 0.1 to 86400" \
        in result.stderr
    assert "Traceback" not in result.stderr


def test_run_is_bounded_by_the_job_time_limit(tmp_path: Path, server: SmtpTestServer) -> None:
    """`sistercity run` past scheduler.job_timeout_seconds: each job stopped, recorded as
    failed and named on stderr; the next job still runs; exit status 1."""
    large_registry(tmp_path, server, job_timeout_seconds=0.5)
    result = sistercity(tmp_path, "run", "anniversaries", "meeting-agendas", timeout=PATIENCE)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    for job in ("anniversaries", "meeting-agendas"):
        assert (f"sistercity: job {job} did not finish within 0.5 s "
                "(scheduler.job_timeout_seconds)") in result.stderr
    db = Database(f"sqlite:///{tmp_path / 'var' / 'sistercity.db'}")
    try:
        with db.read() as session:
            runs = session.execute(select(RunRow.job, RunRow.outcome, RunRow.trigger)).all()
            queued = session.scalar(select(func.count()).select_from(MessageRow))
    finally:
        db.dispose()
    assert sorted(runs) == [("anniversaries", "error", "manual"),
                            ("meeting-agendas", "error", "manual")]
    assert queued == 0 and server.messages == []


def test_no_job_child_outlives_the_daemon(tmp_path: Path, server: SmtpTestServer,
                                          daemons: list[DaemonProcess]) -> None:
    """A registry of 10,000 partners keeps a job's child busy for seconds. SIGTERM ends it at
    once (a job run is not mail in flight); SIGKILL of the daemon takes it down too. Either
    way nothing it planned is written (it runs again at the next start)."""
    large_registry(tmp_path, server)

    first = DaemonProcess.start(tmp_path, "first")
    daemons.append(first)
    child = wait_until(lambda: job_children(first.pid), interval=0.02)[0]
    first.signal(signal.SIGTERM)
    assert first.wait() == 0
    assert not alive(child)
    assert "job=anniversaries as_of=" in first.log and "stopped with the daemon" in first.log

    second = DaemonProcess.start(tmp_path, "second")
    daemons.append(second)
    child = wait_until(lambda: job_children(second.pid), interval=0.02)[0]
    second.signal(signal.SIGKILL)
    assert second.wait() == -signal.SIGKILL
    wait_until(lambda: not alive(child))
    db = Database(f"sqlite:///{tmp_path / 'var' / 'sistercity.db'}")
    try:
        with db.read() as session:
            assert list(session.scalars(select(RunRow.job))) == []
    finally:
        db.dispose()
    assert server.messages == []


def test_stop_lets_the_message_in_flight_finish(tmp_path: Path, server: SmtpTestServer,
                                               daemons: list[DaemonProcess]) -> None:
    server.data_delay = 2.0  # the server takes its time to accept the message
    # MAIL FROM is the sign that the message is in flight: from then on a stop lets it finish
    # (before it, the round hands the claim back unsent).
    sending = threading.Event()
    server.fail_mail = lambda address: sending.set()
    today = bangkok_today()
    write_dataset(tmp_path / "data.toml", deadlines={"plan": today + dt.timedelta(days=7)})
    write_config(tmp_path, server)
    daemon = DaemonProcess.start(tmp_path)
    daemons.append(daemon)
    assert sending.wait(PATIENCE), daemon.log
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0
    assert len(server.messages) == 1
    db = Database(f"sqlite:///{tmp_path / 'var' / 'sistercity.db'}")
    try:
        with db.read() as session:
            assert list(session.scalars(select(MessageRow.state))) == ["sent"]
            row = session.scalars(select(DaemonRow)).one()
        assert row.stopped_at is not None and not row.active
    finally:
        db.dispose()


def test_log_lines_carry_an_iso_timestamp_when_stderr_is_a_file(tmp_path: Path) -> None:
    """The one logging setup, in a fresh interpreter whose stderr is a file: a command logs
    warnings only, the daemon (`show_progress`) its info lines too, each line stamped."""
    script = ("import logging; from scheduler import logs; "
              "logs.configure(logs.LogSetup(verbose=0)); "
              "logging.getLogger('sistercity.x').info('hidden'); "
              "logs.show_progress(); "
              "logging.getLogger('sistercity.x').info('job=x sent=1'); "
              "logging.getLogger('other').info('library chatter')")
    log_path = tmp_path / "stderr.log"
    env = {k: v for k, v in subprocess_env().items() if k != "JOURNAL_STREAM"}
    with log_path.open("wb") as stderr:
        subprocess.run([sys.executable, "-c", script], env=env, stderr=stderr, check=True,
                       timeout=PATIENCE)
    lines = log_path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1, lines
    stamp, level, rest = lines[0].split(" ", 2)
    assert dt.datetime.fromisoformat(stamp).tzinfo is not None
    assert (level, rest) == ("INFO", "sistercity.x: job=x sent=1")
