"""sistercity benchmarks (issue #7): delivery throughput, planning at scale, start-up, idle
daemon cost, and what it costs to re-run a day that is already done.

    python bench/run.py              # full run (under ~10 minutes); exit 1 if a target is missed
    python bench/run.py --quick      # smoke test for CI (under a minute); exit 0 whenever it ran
    python bench/run.py --only delivery,startup
    python bench/run.py --src /tmp/benchcopy   # measure another checkout's code (PYTHONPATH)

Every figure prints one JSON line on stdout:
    {"figure", "target", "measured": {"median", "min", "max", "n"}, "baseline": {...},
     "ratio", "ok", ...details}
Times are wall-clock seconds of whole subprocesses (start-up included), measured side by side
in the same run, interleaved, medians of several runs; peak memory is each child's own
ru_maxrss (os.wait4). "ok" is null for a figure that is only reported or was skipped.
Progress goes to stderr. Everything is written under one temporary folder, removed at the end.

Only the project's dependencies are needed (`pip install .`); the delivery figure also needs
aiosmtpd (`pip install '.[test]'`) and prints a skip without it. The full run keeps to a time
budget (--budget, default 570 s): a command that runs too long is stopped and reported as such
(its ratio is then a lower bound), and a size that would not fit is skipped with its predicted
cost. bench/README.md explains each figure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pickle
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import gen_dataset  # noqa: E402  (a sibling script, found through the line above)

AS_OF = gen_dataset.AS_OF.isoformat()
FIGURES = ("delivery", "planning", "startup", "daemon", "once", "real")
FORBIDDEN_AT_HELP = ("sqlalchemy", "apscheduler", "jinja2", "aiosmtplib")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# -- measuring subprocesses -------------------------------------------------------------------
class TimedOut(Exception):
    def __init__(self, what: str, after: float, maxrss_mb: float) -> None:
        super().__init__(f"{what}: stopped after {after:.0f} s")
        self.after = after
        self.maxrss_mb = maxrss_mb


@dataclass
class Sample:
    wall: float  # seconds
    rc: int
    maxrss_mb: float  # the child's own peak resident set
    cpu: float  # user + system seconds
    stderr: str
    timed_out: bool = False

    def check(self, what: str) -> Sample:
        if self.timed_out:
            raise TimedOut(what, self.wall, self.maxrss_mb)
        if self.rc != 0:
            tail = " | ".join(self.stderr.strip().splitlines()[-4:])
            raise RuntimeError(f"{what}: exit status {self.rc}: {tail}")
        return self


def run_child(
    argv: Sequence[str],
    *,
    env: dict[str, str],
    cwd: Path,
    timeout: float,
    stdout: Path | None = None,
) -> Sample:
    """Run one command to completion: wall time, exit status and its own rusage."""
    with contextlib.ExitStack() as stack:
        out: IO[bytes] = stack.enter_context(open(stdout or os.devnull, "wb"))
        err = stack.enter_context(tempfile.TemporaryFile())
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(argv), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err
        )
        killed = threading.Event()

        def kill() -> None:
            killed.set()
            proc.kill()

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read().decode("utf-8", "replace")
    return Sample(
        wall=wall,
        rc=proc.returncode,
        maxrss_mb=usage.ru_maxrss / 1024,
        cpu=usage.ru_utime + usage.ru_stime,
        stderr=text,
        timed_out=killed.is_set(),
    )


def stats(values: Sequence[float], digits: int = 3) -> dict[str, Any]:
    if not values:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "n": len(values),
    }


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


# -- files --------------------------------------------------------------------------------------
def find_cli() -> list[str]:
    """The `sistercity` script next to this interpreter (not a pyenv shim, whose own start-up
    would be measured too), else the one on PATH, else `python -m scheduler`."""
    script = Path(sys.executable).parent / "sistercity"
    if script.is_file():
        return [str(script)]
    found = shutil.which("sistercity")
    return [found] if found else [sys.executable, "-m", "scheduler"]


def write_config(
    path: Path,
    *,
    db: Path,
    files: Sequence[Path] | None = (),
    transport: str = "file",
    smtp_port: int | None = None,
) -> Path:
    """A config.toml for one benchmark; `files=None` keeps the bundled dataset."""
    lines = ["[database]", f"url = {json.dumps(f'sqlite:///{db}')}", ""]
    if files is not None:
        lines += ["[data]", f"files = {json.dumps([str(f) for f in files])}", ""]
    lines += [
        "[email]",
        f'transport = "{transport}"',
        f"outbox_dir = {json.dumps(str(path.parent / 'mail'))}",
        "",
    ]
    if smtp_port is not None:
        lines += [
            "[smtp]",
            'host = "127.0.0.1"',
            f"port = {smtp_port}",
            'security = "none"',
            "max_connections = 4",
            "timeout_seconds = 30",
            "",
        ]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def remove_db(db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def copy_db(src: Path, dst: Path) -> None:
    """A consistent copy of a SQLite database (WAL included), through the backup API."""
    remove_db(dst)
    with (
        contextlib.closing(sqlite3.connect(src)) as source,
        contextlib.closing(sqlite3.connect(dst)) as target,
    ):
        source.backup(target)


def count_messages(db: Path, state: str | None = None) -> int:
    query = "SELECT count(*) FROM messages" + (" WHERE state = ?" if state else "")
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return int(conn.execute(query, (state,) if state else ()).fetchone()[0])


def message_sizes(db: Path) -> dict[str, Any]:
    """What a real run queued: how many messages, their total size, and the largest message
    (its job, language, size and the decoded size of its HTML part), all in KiB."""
    import email
    import email.policy

    with contextlib.closing(sqlite3.connect(db)) as conn:
        count, total = conn.execute(
            "SELECT count(*), coalesce(sum(length(data)), 0) FROM message_bodies").fetchone()
        rows = conn.execute(
            "SELECT m.job, m.language, length(b.data), b.data FROM messages m "
            "JOIN message_bodies b ON b.message_id = m.id ORDER BY length(b.data) DESC LIMIT 20"
        ).fetchall()
    largest: dict[str, Any] = {"message_kib": 0.0, "html_kib": 0.0}
    html_max = 0.0
    for job, language, length, data in rows:
        msg = email.message_from_bytes(data, policy=email.policy.default)
        html = msg.get_body(("html",))
        html_kib = len(html.get_content().encode("utf-8")) / 1024 if html else 0.0
        html_max = max(html_max, html_kib)
        if length / 1024 > largest["message_kib"]:
            largest = {"job": job, "language": language, "message_kib": round(length / 1024, 1),
                       "html_kib": round(html_kib, 1)}
    largest["largest_html_kib"] = round(html_max, 1)
    return {"messages": count, "total_mib": round(total / 2**20, 1), "largest": largest}


# -- an SMTP server that only counts --------------------------------------------------------------
class CountingServer:
    """aiosmtpd on loopback in a thread of this process. It accepts and counts, and parses
    nothing, so that the clients (each in its own process), not the server, are measured."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        owner = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                owner.count += 1
                return "250 2.0.0 OK"

        self.count = 0
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port: int = sock.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> CountingServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


# Queue the anniversaries of the delivery dataset (one message per lead) without sending them.
QUEUE_SCRIPT = """
import datetime as dt, sys
from scheduler.config import load_settings
from scheduler.mail.delivery import utcnow
from scheduler.services.runs import Runner
try:
    from scheduler.registry.bootstrap import open_database
except ImportError:  # before open_database moved out of scheduler.services.runs
    from scheduler.services.runs import open_database
settings = load_settings(sys.argv[1])
result = Runner(open_database(settings), settings).run_job(
    "anniversaries", dt.date.fromisoformat(sys.argv[2]), now=utcnow())
print(result.messages)
"""


# -- planning sizes -------------------------------------------------------------------------------
@dataclass
class SizeRun:
    """Planning measurements over one generated dataset."""

    partners: int
    dataset: Path
    db: Path
    config: Path
    load: list[Sample] = field(default_factory=list)
    dry: list[Sample] = field(default_factory=list)
    stopped_after: float | None = None
    stopped_rss_mb: float | None = None
    error: str | None = None
    skipped: str | None = None

    @property
    def dry_times(self) -> list[float]:
        return [s.wall for s in self.dry]

    @property
    def load_times(self) -> list[float]:
        return [s.wall for s in self.load]

    def summary(self) -> float | str:
        if self.dry:
            return round(statistics.median(self.dry_times), 3)
        if self.stopped_after is not None:
            return f"> {self.stopped_after:.0f} s (stopped)"
        return self.skipped or self.error or "not measured"


class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.quick: bool = args.quick
        self.tmp = tmp
        self.only = set(args.only.split(",")) if args.only else set(FIGURES)
        self.started = time.monotonic()
        self.budget: float = args.budget or (55.0 if self.quick else 570.0)
        self.cli = find_cli()
        self.env = {k: v for k, v in os.environ.items() if k != "SISTERCITY_CONFIG"}
        if args.src:
            paths = [str(Path(args.src).resolve()), self.env.get("PYTHONPATH", "")]
            self.env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        self.results: list[dict[str, Any]] = []
        # partners -> measurements; the judged size is 10,000 partners (quick: 400)
        self.sizes: dict[int, SizeRun] = {}
        self.judged = 200 if self.quick else 10_000
        self.once_done = False
        self.deferred: list[dict[str, Any]] = []

    # -- plumbing -----------------------------------------------------------------------------
    def remaining(self) -> float:
        return self.budget - (time.monotonic() - self.started)

    def sistercity(
        self, config: Path | None, *args: str, timeout: float, stdout: Path | None = None
    ) -> Sample:
        argv = [*self.cli, *(["--config", str(config)] if config else []), *args]
        return run_child(argv, env=self.env, cwd=self.tmp, timeout=timeout, stdout=stdout)

    def python(self, *args: str, timeout: float) -> Sample:
        return run_child([sys.executable, *args], env=self.env, cwd=self.tmp, timeout=timeout)

    def emit(self, result: dict[str, Any], *, later: bool = False) -> None:
        """Print one figure (or keep it to print after the figures being measured now)."""
        if later:
            self.deferred.append(result)
            return
        self.results.append(result)
        print(json.dumps(result, ensure_ascii=False), flush=True)

    def emit_deferred(self) -> None:
        deferred, self.deferred = self.deferred, []
        for result in deferred:
            self.emit(result)

    def guarded(self, figure: str, target: str, step: Callable[[], None]) -> None:
        """Run one figure; a failure becomes a JSON line with the error, not a crash."""
        try:
            step()
        except Exception as exc:
            log(f"{figure}: {exc!r}")
            self.emit({"figure": figure, "target": target, "error": str(exc), "ok": False})

    def reserve(self, *, once: bool) -> float:
        """Seconds kept for the figures measured after the planning sizes."""
        kept = 0.0
        if "daemon" in self.only:
            kept += 20 if self.quick else 90
        if once and "once" in self.only and not self.once_done:
            kept += 8 if self.quick else 60
        return kept

    # -- 3. start-up --------------------------------------------------------------------------
    def startup(self) -> None:
        n = 5 if self.quick else 21
        log(f"start-up: `sistercity --help` vs `python -c 'import click'`, {n} runs each")
        cli: list[float] = []
        click: list[float] = []
        for i in range(n + 1):  # the first of each is a warm-up (page cache, .pyc files)
            a = self.sistercity(None, "--help", timeout=30).check("sistercity --help")
            b = self.python("-c", "import click", timeout=30).check("python -c 'import click'")
            if i:
                cli.append(a.wall)
                click.append(b.wall)
        profiled = run_child(
            [*self.cli, "--help"],
            env={**self.env, "PYTHONPROFILEIMPORTTIME": "1"},
            cwd=self.tmp,
            timeout=30,
        ).check("sistercity --help (import profile)")
        imported = {
            line.rpartition("|")[2].strip()
            for line in profiled.stderr.splitlines()
            if line.startswith("import time:") and "|" in line
        }
        forbidden = sorted({m.split(".")[0] for m in imported} & set(FORBIDDEN_AT_HELP))
        r = ratio(median(cli), median(click))
        self.emit(
            {
                "figure": "startup",
                "target": "sistercity --help <= 3x python -c 'import click', and no "
                + ", ".join(FORBIDDEN_AT_HELP)
                + " import on the way",
                "measured": stats(cli),
                "baseline": {"command": "python -c 'import click'", **stats(click)},
                "ratio": r,
                "ok": r is not None and r <= 3.0 and not forbidden,
                "forbidden_imports": forbidden,
                "modules_imported": len(imported),
            }
        )

    # -- 1. delivery --------------------------------------------------------------------------
    def delivery(self) -> None:
        targets = {
            "delivery-vs-aiosmtplib": "sistercity deliver <= 1.5x raw aiosmtplib "
            "(4 reused connections)",
            "delivery-vs-smtplib": "sistercity deliver >= 1.5x faster than smtplib "
            "(a connection per message)",
        }
        try:
            import aiosmtpd  # noqa: F401
        except ImportError:
            for figure, target in targets.items():
                self.emit(
                    {
                        "figure": figure,
                        "target": target,
                        "skipped": "aiosmtpd is not installed: pip install '.[test]'",
                        "ok": None,
                    }
                )
            return
        n = 200 if self.quick else 1000
        reps = 2 if self.quick else 7
        work = self.tmp / "delivery"
        work.mkdir()
        dataset = work / "delivery.toml"
        gen_dataset.delivery_dataset(dataset, n)
        queued, db = work / "queued.db", work / "deliver.db"
        with CountingServer() as server:
            log(f"delivery: queueing {n} messages (the anniversaries of a generated dataset)")
            config = write_config(
                work / "queue.toml", db=queued, files=[dataset], transport="smtp",
                smtp_port=server.port,
            )
            self.python("-c", QUEUE_SCRIPT, str(config), AS_OF, timeout=600).check("queueing")
            if count_messages(queued, "pending") != n:
                raise RuntimeError(f"expected {n} queued messages")
            with contextlib.closing(sqlite3.connect(queued)) as conn:
                rows = conn.execute(
                    "SELECT m.sender, m.recipient, b.data FROM messages m "
                    "JOIN message_bodies b ON b.message_id = m.id ORDER BY m.id"
                )
                messages = [(s, r, bytes(d)) for s, r, d in rows]
            prebuilt = work / "messages.pickle"
            prebuilt.write_bytes(pickle.dumps(messages))
            config = write_config(
                work / "config.toml", db=db, transport="smtp", smtp_port=server.port
            )
            clients, port = str(BENCH / "clients.py"), str(server.port)
            commands: dict[str, Callable[[], Sample]] = {
                "deliver": lambda: self.sistercity(config, "deliver", timeout=300),
                "aiosmtplib": lambda: self.python(
                    clients, "aiosmtplib", "127.0.0.1", port, str(prebuilt), "4", timeout=300
                ),
                "smtplib": lambda: self.python(
                    clients, "smtplib", "127.0.0.1", port, str(prebuilt), timeout=300
                ),
            }
            times: dict[str, list[float]] = {name: [] for name in commands}
            rss: list[float] = []
            for rep in range(reps):
                order = list(commands)[rep % 3 :] + list(commands)[: rep % 3]  # rotate
                for name in order:
                    if name == "deliver":
                        copy_db(queued, db)
                    before = server.count
                    sample = commands[name]().check(name)
                    if server.count - before != n:
                        raise RuntimeError(f"{name}: the server got {server.count - before}/{n}")
                    if name == "deliver":
                        if count_messages(db, "sent") != n:
                            raise RuntimeError("deliver: not every message is marked sent")
                        rss.append(sample.maxrss_mb)
                    times[name].append(sample.wall)
                log(f"delivery {rep + 1}/{reps}: " + ", ".join(
                    f"{name} {values[-1]:.3f} s" for name, values in times.items()))
        details = {
            "measured": stats(times["deliver"]),
            "messages": n,
            "message_bytes_avg": round(sum(len(m[2]) for m in messages) / n),
            "peak_rss_mb": round(max(rss), 1),
        }
        deliver, fast, slow = (median(times[k]) for k in ("deliver", "aiosmtplib", "smtplib"))
        r = ratio(deliver, fast)
        self.emit(
            {
                "figure": "delivery-vs-aiosmtplib",
                "target": targets["delivery-vs-aiosmtplib"],
                **details,
                "baseline": {"command": "aiosmtplib, 4 connections opened once",
                             **stats(times["aiosmtplib"])},
                "ratio": r,
                "ratio_means": "deliver / aiosmtplib",
                "ok": r is not None and r <= 1.5,
            }
        )
        r = ratio(slow, deliver)
        self.emit(
            {
                "figure": "delivery-vs-smtplib",
                "target": targets["delivery-vs-smtplib"],
                **details,
                "baseline": {"command": "smtplib, a connection per message",
                             **stats(times["smtplib"])},
                "ratio": r,
                "ratio_means": "smtplib / deliver (speed-up)",
                "ok": r is not None and r >= 1.5,
            }
        )

    # -- 2. planning at scale -----------------------------------------------------------------
    def ladder(self) -> list[int]:
        """Partner counts, smallest first. The small steps are cheap and keep a linearity
        figure (4x apart) when 10,000 partners is too slow to measure twice."""
        return [50, 200] if self.quick else [625, 2500, 10_000, 40_000]

    def make_size(self, partners: int) -> SizeRun:
        folder = self.tmp / f"plan-{partners}"
        folder.mkdir()
        dataset = folder / "dataset.toml"
        small = {"deadlines": 20, "meetings": 5} if self.quick else {}  # quick: a smoke test
        gen_dataset.generate(
            dataset, partners=partners, agreements=3 * partners, activities=5 * partners, **small
        )
        db = folder / "sistercity.db"
        size = SizeRun(partners, dataset, db, write_config(folder / "config.toml", db=db))
        self.sizes[partners] = size
        return size

    def measure_load(self, size: SizeRun, reps: int) -> None:
        for _ in range(reps):
            remove_db(size.db)
            size.load.append(
                self.sistercity(size.config, "load", str(size.dataset), timeout=900).check(
                    f"load of {size.partners} partners"
                )
            )

    def dry_run(self, size: SizeRun, timeout: float) -> Sample:
        out = size.db.parent / "dry-run.txt"
        sample = self.sistercity(
            size.config, "run", "--dry-run", "--as-of", AS_OF, timeout=timeout, stdout=out
        ).check(f"run --dry-run over {size.partners} partners")
        summaries = [ln for ln in out.read_text("utf-8").splitlines() if " as of " in ln]
        if len(summaries) != 4:
            raise RuntimeError(f"the dry run printed {len(summaries)} job summaries, not 4")
        return sample

    def plan_size(self, partners: int) -> bool:
        """Load and dry-run one size; False when it could not be measured in full."""
        size = self.make_size(partners)
        main = partners in (self.judged, 4 * self.judged)
        longest = 40.0 if self.quick else 180.0
        try:
            log(f"planning: {partners} partners: load")
            self.measure_load(size, 3 if main and partners == self.judged and not self.quick
                              else 1)
            reps = (2 if self.quick else 5 if partners == self.judged else 3) if main else 2
            for i in range(reps):
                timeout = min(longest, max(10.0, self.remaining() - self.reserve(once=True)))
                if size.dry and 1.2 * statistics.median(size.dry_times) > timeout:
                    break
                log(f"planning: {partners} partners: dry run {i + 1}/{reps}")
                size.dry.append(self.dry_run(size, timeout))
                if size.dry[-1].wall > (20 if self.quick else 60):
                    break  # one sample of a run this slow says enough
        except TimedOut as exc:
            size.stopped_after, size.stopped_rss_mb = exc.after, exc.maxrss_mb
            log(f"planning: {exc}")
            return False
        except Exception as exc:
            size.error = str(exc)
            log(f"planning: {partners} partners: {exc!r}")
            return False
        return True

    def planning(self) -> None:
        ladder = self.ladder()
        for i, partners in enumerate(ladder):
            if not self.plan_size(partners):
                break
            size = self.sizes[partners]
            if partners == self.judged and "once" in self.only:
                self.once(size, later=True)  # measured now, with this size's database
            if i + 1 < len(ladder):
                nxt = ladder[i + 1]
                factor = nxt / partners
                load = median(size.load_times) or 0.0
                predicted = factor * (load + statistics.median(size.dry_times))
                if nxt > self.judged and predicted > self.remaining() - self.reserve(once=True):
                    reason = f"skipped: predicted {predicted:.0f} s, beyond the time budget"
                    self.sizes[nxt] = SizeRun(nxt, Path(), Path(), Path(), skipped=reason)
                    log(f"planning: {nxt} partners {reason}")
                    break
        self.emit_planning()
        self.emit_deferred()

    def emit_planning(self) -> None:
        by_size = {str(p): s.summary() for p, s in sorted(self.sizes.items())}
        target = self.sizes.get(self.judged)
        text = f"run --dry-run (all four jobs) over {self.judged:,} partners <= 3 s"
        if target is not None and target.dry:
            r = ratio(median(target.dry_times), 3.0)
            self.emit(
                {
                    "figure": "planning-dry-run",
                    "target": text,
                    "measured": stats(target.dry_times),
                    "baseline": {"limit_s": 3.0},
                    "ratio": r,
                    "ok": r is not None and r <= 1.0,
                    "partners": target.partners,
                    "peak_rss_mb": round(max(s.maxrss_mb for s in target.dry), 1),
                    "median_s_by_partners": by_size,
                }
            )
        else:
            after = target.stopped_after if target else None
            self.emit(
                {
                    "figure": "planning-dry-run",
                    "target": text,
                    "measured": {"median": None, "stopped_after_s": after and round(after)},
                    "baseline": {"limit_s": 3.0},
                    "ratio": ratio(after, 3.0),
                    "ratio_is_lower_bound": after is not None,
                    "ok": False,
                    "partners": self.judged,
                    "peak_rss_mb_when_stopped": target and target.stopped_rss_mb and round(
                        target.stopped_rss_mb, 1),
                    "error": (target.error if target else None) or "did not finish",
                    "median_s_by_partners": by_size,
                }
            )
        done = {p: s for p, s in self.sizes.items() if s.dry}
        pairs = [(p, 4 * p) for p in sorted(done) if 4 * p in done]
        text = "4x the data (partners, agreements, activities) costs <= 5x the dry-run time"
        if pairs:
            small, big = (done[p] for p in pairs[-1])
            r = ratio(median(big.dry_times), median(small.dry_times))
            result = {
                "figure": "planning-linearity",
                "target": text,
                "measured": {"partners": big.partners, **stats(big.dry_times)},
                "baseline": {"partners": small.partners, **stats(small.dry_times)},
                "ratio": r,
                "ok": r is not None and r <= 5.0,
                "peak_rss_mb": round(max(s.maxrss_mb for s in big.dry), 1),
                "median_s_by_partners": by_size,
            }
            if big.partners != 4 * self.judged:
                result["note"] = "measured on smaller sizes: the larger ones do not fit the budget"
            self.emit(result)
        else:
            self.emit({"figure": "planning-linearity", "target": text, "ok": False,
                       "error": "no two sizes 4x apart finished within the budget",
                       "median_s_by_partners": by_size})
        loaded = {p: s for p, s in self.sizes.items() if s.load}
        if not loaded:
            return
        main = loaded.get(self.judged) or loaded[max(loaded)]
        big = loaded.get(4 * main.partners)
        self.emit(
            {
                "figure": "load",
                "target": "reported, no target: `sistercity load` of the generated dataset "
                "into a new database, and its peak memory",
                "measured": stats(main.load_times),
                "baseline": {"partners": big.partners, **stats(big.load_times)} if big else {},
                "ratio": ratio(median(big.load_times), median(main.load_times)) if big else None,
                "ratio_means": "load time of 4x the data / of 1x",
                "ok": None,
                "partners": main.partners,
                "peak_rss_mb": round(max(s.maxrss_mb for s in main.load), 1),
                "peak_rss_mb_4x": round(max(s.maxrss_mb for s in big.load), 1) if big else None,
                "dry_run_peak_rss_mb": (
                    round(max(s.maxrss_mb for s in main.dry), 1) if main.dry else None
                ),
            }
        )

    # -- 5. once is cheap -----------------------------------------------------------------------
    def once(self, size: SizeRun | None = None, *, later: bool = False) -> None:
        """Re-run the day's jobs when all of it is queued and sent already, against the dry run
        of the same data without history, interleaved."""
        if self.once_done:
            return
        self.once_done = True
        text = "re-running the same day's jobs (all already queued and sent) <= 1.2x the dry run"
        try:
            if size is None:  # the judged size did not finish: the largest one that did
                done = [s for _, s in sorted(self.sizes.items()) if s.dry]
                if not done:
                    raise RuntimeError("no dataset could be planned within the time budget")
                size = done[-1]
            self._once(size, text, later)
        except Exception as exc:
            log(f"once: {exc!r}")
            error = {"figure": "once-is-cheap", "target": text, "error": str(exc), "ok": False}
            self.emit(error, later=later)

    def _once(self, size: SizeRun, text: str, later: bool) -> None:
        dry_median = statistics.median(size.dry_times)
        folder = size.db.parent / "rerun"
        folder.mkdir()
        db = folder / "sistercity.db"
        copy_db(size.db, db)
        config = write_config(folder / "config.toml", db=db)
        timeout = max(60.0, 4 * dry_median)
        log(f"once: the day's first real run over {size.partners} partners (file transport)")
        self.sistercity(config, "run", "--as-of", AS_OF, timeout=timeout).check("the first run")
        queued = count_messages(db)
        dry: list[float] = []
        rerun: list[float] = []
        for i in range(2 if self.quick else 5):
            cost = 1.2 * (dry_median + (median(rerun) or 0.0))
            if i and cost > self.remaining() - self.reserve(once=False):
                break
            dry.append(self.dry_run(size, timeout).wall)
            rerun.append(
                self.sistercity(config, "run", "--as-of", AS_OF, timeout=timeout)
                .check("the re-run")
                .wall
            )
            log(f"once {i + 1}: dry run {dry[-1]:.2f} s, re-run {rerun[-1]:.2f} s")
        again = count_messages(db) - queued
        r = ratio(median(rerun), median(dry))
        result = {
            "figure": "once-is-cheap",
            "target": text,
            "measured": stats(rerun),
            "baseline": {"command": "run --dry-run, same data, no history", **stats(dry)},
            "ratio": r,
            "ok": r is not None and r <= 1.2 and again == 0,
            "partners": size.partners,
            "messages_queued_by_first_run": queued,
            "messages_queued_by_reruns": again,
        }
        if size.partners != self.judged:
            result["note"] = f"measured at {size.partners} partners: larger sizes did not finish"
        self.emit(result, later=later)

    # -- 6. the real run against its dry run ----------------------------------------------------
    def real(self) -> None:
        """All four jobs for real (plan, render, queue, deliver through the file transport)
        over a fresh copy of the judged size's database, against `run --dry-run` of the same
        data, interleaved; then the largest message the real run wrote (SPEC "Emails" →
        "Size": HTML part <= 100 KiB, message <= 200 KiB)."""
        text = ("a real `run` of all four jobs (file transport) <= 4x its dry run, side by side; "
                "the largest message <= 200 KiB and HTML part <= 100 KiB")
        size = self.sizes.get(self.judged)
        if size is None or not size.dry:
            done = [s for _, s in sorted(self.sizes.items()) if s.dry]
            if not done:
                raise RuntimeError("no dataset could be planned within the time budget")
            size = done[-1]
        dry: list[float] = []
        real: list[Sample] = []
        folder = size.db.parent / "real"
        rounds = 2 if self.quick else 3
        for i in range(rounds):
            if i and 1.2 * (median(dry) + median([s.wall for s in real])) > self.remaining():
                break
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            db = folder / "sistercity.db"
            copy_db(size.db, db)  # no history: the real run plans and sends everything
            config = write_config(folder / "config.toml", db=db)
            timeout = max(120.0, 40 * statistics.median(size.dry_times))
            for step in (("real", "dry") if i % 2 == 0 else ("dry", "real")):
                if step == "dry":
                    dry.append(self.dry_run(size, timeout).wall)
                else:
                    real.append(self.sistercity(config, "run", "--as-of", AS_OF,
                                                timeout=timeout).check("the real run"))
            log(f"real {i + 1}: real run {real[-1].wall:.2f} s, dry run {dry[-1]:.2f} s")
        sizes = message_sizes(folder / "sistercity.db")
        r = ratio(median([s.wall for s in real]), median(dry))
        largest = sizes["largest"]
        result = {
            "figure": "real-run",
            "target": text,
            "measured": {**stats([s.wall for s in real]),
                         "peak_rss_mb": round(max(s.maxrss_mb for s in real), 1)},
            "baseline": {"command": "run --dry-run, same data", **stats(dry)},
            "ratio": r,
            "ok": (r is not None and r <= 4.0 and largest["message_kib"] <= 200
                   and largest["html_kib"] <= 100),
            "partners": size.partners,
            **sizes,
        }
        if size.partners != self.judged:
            result["note"] = f"measured at {size.partners} partners: larger sizes did not finish"
        self.emit(result)

    # -- 4. idle daemon -------------------------------------------------------------------------
    def daemon(self) -> None:
        text = "idle `sistercity daemon` after its catch-up: CPU <= 1 % and RSS <= 120 MB"
        probe = self.sistercity(None, "daemon", "--help", timeout=30)
        if probe.rc != 0:
            self.emit({"figure": "idle-daemon", "target": text, "ok": None,
                       "skipped": f"no `sistercity daemon` command (--help: exit {probe.rc})"})
            return
        window = 5.0 if self.quick else 60.0
        # the largest planned dataset (up to 10,000 partners) whose catch-up fits the budget
        size = None
        for partners, s in sorted(self.sizes.items()):
            fits = s.dry and 2 * statistics.median(s.dry_times) + window + 20 < self.remaining()
            if fits and partners <= self.judged:
                size = s
        folder = self.tmp / "daemon"
        folder.mkdir()
        db = folder / "sistercity.db"
        if size is not None:
            copy_db(size.db, db)
            config = write_config(folder / "config.toml", db=db)
        else:
            config = write_config(folder / "config.toml", db=db, files=None)
        what = f"{size.partners} partners" if size else "the bundled dataset"
        log(f"daemon: over {what}; waiting for the catch-up")
        with open(folder / "daemon.log", "wb") as out:
            proc = subprocess.Popen(
                [*self.cli, "--config", str(config), "daemon"],
                cwd=folder, env=self.env, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
            )
            try:
                result = self._watch_daemon(proc, window, folder / "daemon.log")
            finally:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        proc.wait(timeout=60)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
        cpu, rss = result["cpu_percent"], result["rss_mb_max"]
        self.emit(
            {
                "figure": "idle-daemon",
                "target": text,
                "measured": result,
                "baseline": {"cpu_percent_limit": 1.0, "rss_mb_limit": 120.0},
                "ratio": round(max(cpu / 1.0, rss / 120.0), 3),
                "ratio_means": "max(CPU % / 1 %, RSS / 120 MB)",
                "ok": cpu <= 1.0 and rss <= 120.0,
                "partners": size.partners if size else "bundled dataset",
                "exit_status_after_sigterm": proc.returncode,
                **({} if size and size.partners == self.judged else {
                    "note": f"measured over {what}: a catch-up over {self.judged:,} partners "
                    "does not fit the time budget; RSS after the catch-up grows with the data"}),
            }
        )

    def _watch_daemon(
        self, proc: subprocess.Popen[bytes], window: float, log_path: Path
    ) -> dict[str, Any]:
        started = time.monotonic()
        limit = max(15.0, min(300.0, self.remaining() - window - 10))
        history: list[tuple[float, int]] = []
        # Caught up: the daemon logged the catch-up line of every job (written once the run's
        # messages were delivered; the jobs themselves run in child processes, whose CPU the
        # daemon's own figure does not show), then at most one clock tick of CPU over 3 s.
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the daemon exited with status {proc.returncode}")
            now, ticks = time.monotonic(), _tree_ticks(proc.pid)
            history.append((now, ticks))
            before = [c for t, c in history if now - t >= 3.0]
            logged = log_path.read_bytes().count(b"trigger=catch-up")
            if logged >= 4 and before and ticks - before[-1] <= 1:
                break
            if now - started > limit:
                raise RuntimeError(f"the daemon was still busy after {limit:.0f} s")
            time.sleep(0.25)
        catchup = time.monotonic() - started
        log(f"daemon: caught up after {catchup:.1f} s; measuring {window:g} s")
        t0, c0 = time.monotonic(), _proc_ticks(proc.pid)
        per_second: list[float] = []
        rss: list[float] = []
        last_t, last_c = t0, c0
        while last_t - t0 < window:
            time.sleep(1.0)
            if proc.poll() is not None:
                raise RuntimeError(f"the daemon exited with status {proc.returncode}")
            t, c = time.monotonic(), _proc_ticks(proc.pid)
            per_second.append(100.0 * (c - last_c) / CLK_TCK / (t - last_t))
            rss.append(_proc_rss_mb(proc.pid))
            last_t, last_c = t, c
        return {
            "cpu_percent": round(100.0 * (last_c - c0) / CLK_TCK / (last_t - t0), 3),
            "rss_mb_max": round(max(rss), 1),
            "cpu_percent_per_second": stats(per_second, 2),
            "window_s": round(last_t - t0, 1),
            "catchup_s": round(catchup, 1),
            "cpu_s_catchup": round((c0 - history[0][1]) / CLK_TCK, 2),
        }

    # -- all ----------------------------------------------------------------------------------
    def run(self) -> int:
        log(f"cli: {' '.join(self.cli)}; budget {self.budget:.0f} s; temp {self.tmp}")
        if "startup" in self.only:
            self.guarded("startup", "start-up", self.startup)
        if "delivery" in self.only:
            self.guarded("delivery", "delivery throughput", self.delivery)
        if "planning" in self.only:
            self.guarded("planning-dry-run", "planning at scale", self.planning)
        if "once" in self.only:
            if not self.sizes:  # --only once: plan just the size it needs
                self.plan_size(self.judged)
            self.once()
        if "real" in self.only:
            if not self.sizes:  # --only real: plan just the size it needs
                self.plan_size(self.judged)
            self.guarded("real-run", "the real run", self.real)
        if "daemon" in self.only:
            self.guarded("idle-daemon", "idle daemon", self.daemon)
        missed = [r["figure"] for r in self.results if r.get("ok") is False]
        log(f"done in {time.monotonic() - self.started:.0f} s; targets missed: "
            f"{', '.join(missed) or 'none'}")
        return 1 if missed and not self.quick else 0


def _proc_ticks(pid: int) -> int:
    """utime + stime of a process (all its threads), in clock ticks."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])


def _tree_ticks(pid: int) -> int:
    """CPU ticks of a process, of its finished children (cutime + cstime) and of its live
    descendants."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rpartition(")")[2].split()
    except OSError:
        return 0  # it ended between listing and reading
    total = sum(int(f) for f in fields[11:15])
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as fh:
            children = [int(c) for c in fh.read().split()]
    except OSError:
        children = []
    return total + sum(_tree_ticks(child) for child in children)


def _proc_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(FIGURES)}")
    parser.add_argument("--budget", type=float, help="seconds for the whole run")
    parser.add_argument("--src", help="run the product from this checkout (via PYTHONPATH)")
    args = parser.parse_args(argv)
    if args.only and not set(args.only.split(",")) <= set(FIGURES):
        parser.error(f"--only: choose from {', '.join(FIGURES)}")
    with tempfile.TemporaryDirectory(prefix="sistercity-bench-") as tmp:
        return Bench(args, Path(tmp)).run()


if __name__ == "__main__":
    sys.exit(main())
