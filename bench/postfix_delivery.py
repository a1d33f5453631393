"""Delivery through a real Postfix (issue 18): `sistercity deliver` of 200 messages against plain
`smtplib` sending the same bytes over one connection (TCP_NODELAY), side by side.

    python bench/postfix_delivery.py [--messages 200] [--reps 5] [--base /tmp/sistercity-postfix]

The Postfix instance is the loopback one tests/postfix/setup.sh starts (submission on
127.0.0.1:10587, STARTTLS, SASL AUTH, Maildir); without it the figure is reported as skipped
and the exit status is 0. Both sides are subprocesses timed from the outside (interpreter
start-up included), interleaved, medians reported; both log in and use STARTTLS. A run counts
only when the Maildir received every message (after Postfix's queue emptied). One JSON line on
stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import smtplib
import socket
import sqlite3
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import gen_dataset  # noqa: E402
from run import AS_OF, QUEUE_SCRIPT, copy_db, count_messages, find_cli  # noqa: E402

PORT = 10587
FIGURE = "delivery-postfix-vs-smtplib"
TARGET = "reported: sistercity deliver (4 connections) vs smtplib over one connection"


def log(message: str) -> None:
    print(f"[postfix-bench] {message}", file=sys.stderr, flush=True)


def read_env(base: Path) -> dict[str, str] | None:
    env_file = base / "env"
    if not env_file.exists():
        return None
    try:
        with socket.create_connection(("127.0.0.1", PORT), timeout=2) as sock:
            if not sock.recv(64).startswith(b"220"):
                return None
    except OSError:
        return None
    return dict(line.split("=", 1) for line in env_file.read_text().split())


def client(pickle_path: str, cafile: str, user: str) -> None:
    """The reference: one smtplib connection, TCP_NODELAY, STARTTLS, AUTH, every message."""
    messages = pickle.loads(Path(pickle_path).read_bytes())
    with smtplib.SMTP("127.0.0.1", PORT, timeout=30) as smtp:
        assert smtp.sock is not None
        smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        smtp.starttls(context=ssl.create_default_context(cafile=cafile))
        smtp.login(user, os.environ["SISTERCITY_SMTP_PASSWORD"])
        for sender, recipient, data in messages:
            smtp.sendmail(sender, [recipient], data)


def maildir_count(maildir: Path, base: Path) -> int:
    """Messages in the Maildir once Postfix's queue is empty."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        out = subprocess.run(["postqueue", "-c", str(base / "etc"), "-p"], capture_output=True,
                             text=True, check=False).stdout
        if "Mail queue is empty" in out:
            break
        time.sleep(0.2)
    new = maildir / "new"
    return len(list(new.iterdir())) if new.exists() else 0


def write_config(path: Path, db: Path, env: dict[str, str], files: list[Path] | None) -> Path:
    lines = ["[database]", f"url = {json.dumps(f'sqlite:///{db}')}", ""]
    if files is not None:
        lines += ["[data]", f"files = {json.dumps([str(f) for f in files])}", ""]
    lines += ["[email]", 'transport = "smtp"', "", "[smtp]", 'host = "127.0.0.1"',
              f"port = {PORT}", 'security = "starttls"',
              f"cafile = {json.dumps(env['SISTERCITY_POSTFIX_CAFILE'])}",
              f"username = {json.dumps(env['SISTERCITY_POSTFIX_USER'])}",
              "max_connections = 4", "timeout_seconds = 30", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--base", type=Path, default=Path("/tmp/sistercity-postfix"))
    parser.add_argument("--client", nargs=3, metavar=("PICKLE", "CAFILE", "USER"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client(*args.client)
        return 0
    env = read_env(args.base)
    if env is None:
        print(json.dumps({"figure": FIGURE, "target": TARGET, "ok": None, "skipped":
                          f"no Postfix test instance in {args.base} (tests/postfix/setup.sh)"}))
        return 0
    n, maildir = args.messages, Path(env["SISTERCITY_POSTFIX_MAILDIR"])
    child_env = {**os.environ, "SISTERCITY_SMTP_PASSWORD": env["SISTERCITY_POSTFIX_PASSWORD"]}
    with tempfile.TemporaryDirectory(prefix="postfix-bench-") as tmp:
        work = Path(tmp)
        dataset = work / "delivery.toml"
        gen_dataset.delivery_dataset(dataset, n)
        queued, db = work / "queued.db", work / "deliver.db"
        config = write_config(work / "queue.toml", queued, env, [dataset])
        log(f"queueing {n} messages")
        subprocess.run([sys.executable, "-c", QUEUE_SCRIPT, str(config), AS_OF], check=True,
                       capture_output=True, env=child_env, timeout=600)
        if count_messages(queued, "pending") != n:
            raise RuntimeError(f"expected {n} queued messages")
        with closing(sqlite3.connect(queued)) as conn:
            rows = conn.execute("SELECT m.sender, m.recipient, b.data FROM messages m JOIN "
                                "message_bodies b ON b.message_id = m.id ORDER BY m.id")
            messages = [(s, r, bytes(d)) for s, r, d in rows]
        prebuilt = work / "messages.pickle"
        prebuilt.write_bytes(pickle.dumps(messages))
        config = write_config(work / "config.toml", db, env, None)
        commands = {
            "deliver": [*find_cli(), "--config", str(config), "deliver"],
            "smtplib": [sys.executable, __file__, "--client", str(prebuilt),
                        env["SISTERCITY_POSTFIX_CAFILE"], env["SISTERCITY_POSTFIX_USER"]],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for rep in range(args.reps):
            for name in (list(commands) if rep % 2 == 0 else list(reversed(commands))):
                if name == "deliver":
                    copy_db(queued, db)
                before = maildir_count(maildir, args.base)
                started = time.perf_counter()
                subprocess.run(commands[name], check=True, capture_output=True, env=child_env,
                               timeout=600)
                times[name].append(time.perf_counter() - started)
                got = maildir_count(maildir, args.base) - before
                if got != n:
                    raise RuntimeError(f"{name}: the Maildir got {got}/{n}")
                if name == "deliver" and count_messages(db, "sent") != n:
                    raise RuntimeError("deliver: not every message is marked sent")
            log(f"{rep + 1}/{args.reps}: " + ", ".join(
                f"{k} {v[-1]:.3f} s" for k, v in times.items()))
    deliver, reference = (statistics.median(times[k]) for k in ("deliver", "smtplib"))
    print(json.dumps({
        "figure": FIGURE, "target": TARGET, "messages": n,
        "measured": {"median": round(deliver, 3), "min": round(min(times["deliver"]), 3),
                     "max": round(max(times["deliver"]), 3), "n": args.reps},
        "baseline": {"median": round(reference, 3), "min": round(min(times["smtplib"]), 3),
                     "max": round(max(times["smtplib"]), 3), "n": args.reps},
        "ratio": round(deliver / reference, 2), "ok": None,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
