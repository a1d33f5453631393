"""Web app latency under load (issue 16): the dashboard and the partner list at 10,000
partners, 20 concurrent clients for 30 s, p95 ≤ 150 ms, side by side with a baseline.

    python bench/web_latency.py            # full run: 10,000 partners, 20 clients, 3 × 10 s
    python bench/web_latency.py --quick    # CI smoke test: 500 partners, 2 × 2 s; exit 0 if it ran
    python bench/web_latency.py --src /tmp/copy   # measure another checkout's code (PYTHONPATH)

What runs: a generated dataset (gen_dataset.generate, seed 7) loaded with `sistercity load`,
an account added with `sistercity user add`, then the real app, `sistercity web`, in a
subprocess (uvicorn, one worker, as shipped). A client signs in through the sign-in form, and
`--clients` asyncio clients, each on its own keep-alive connection, request as fast as they
get answers for the time given: half the requests the dashboard (`/`), half the partner list
(a random page of 50 of the whole list, or the dormant filter, or a search). The baseline is a
trivial Starlette endpoint returning a fixed page of the dashboard's size, served by uvicorn
the same way in a subprocess and driven by the same clients; the two alternate in rounds
(app, baseline, app, …). Latency is from sending a request to its last byte; every answer must
be 200. Also reported: the first view after start (the registry is read then) and the first
view after a change made with the CLI (`sistercity activity add`: the cache must reload, the
page must show it).

Each figure is one JSON line on stdout ({"figure", "target", "measured", "baseline", "ratio",
"ok", …}); progress goes to stderr. The machine's load average is recorded with the figures,
since other work on the machine shows in them. Everything is written under one temporary
folder, removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import gen_dataset  # noqa: E402  (sibling scripts, found through the line above)
from run import find_cli, log, write_config  # noqa: E402

SECRET = "bench-web-latency-" + "s" * 40
EMAIL, PASSWORD = "bench@example.org", "bench password 1234"
TARGET_P95_MS = 150.0
SEARCHES = ("an", "jp", "japan", "ญี่ปุ่น", "city 12", "de")

BASELINE_APP = """
import sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route
body = "x" * int(sys.argv[2])
async def page(request):
    return HTMLResponse(body, headers={"Cache-Control": "no-store"})
app = Starlette(routes=[Route("/", page), Route("/partners", page)])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), proxy_headers=True,
            log_level="warning")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"the server stopped at start (exit {proc.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on port {port} after {timeout:.0f} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- a blocking client for signing in and single timed views -----------------------------------
def fetch(port: int, path: str, cookie: str = "", *, method: str = "GET",
          form: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Cookie": cookie} if cookie else {}
    body = None
    if form is not None:
        body = urllib.parse.urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    text = response.read().decode("utf-8")
    found = {k.lower(): v for k, v in response.getheaders()}
    conn.close()
    return response.status, found, text


def sign_in(port: int) -> str:
    """The session cookie of a signed-in account, through the sign-in form."""
    status, headers, page = fetch(port, "/")
    cookie = headers["set-cookie"].split(";")[0]
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert status == 200 and token, "the sign-in form has a CSRF token"
    status, headers, _ = fetch(port, "/login", cookie, method="POST",
                               form={"csrf": token.group(1), "email": EMAIL,
                                     "password": PASSWORD})
    assert status == 303, f"sign-in answered {status}"
    return headers["set-cookie"].split(";")[0]


def timed(port: int, path: str, cookie: str) -> tuple[float, str]:
    start = time.perf_counter()
    status, _, text = fetch(port, path, cookie)
    took = time.perf_counter() - start
    assert status == 200, f"{path}: {status}"
    return took, text


# -- the load ----------------------------------------------------------------------------------
@dataclass
class Load:
    """Latencies (seconds) by page kind, and failures."""

    times: dict[str, list[float]] = field(default_factory=dict)
    failures: int = 0
    seconds: float = 0.0

    def add(self, other: Load) -> None:
        for kind, values in other.times.items():
            self.times.setdefault(kind, []).extend(values)
        self.failures += other.failures
        self.seconds += other.seconds

    def all(self) -> list[float]:
        return [t for values in self.times.values() for t in values]


def pick(rng: random.Random, pages: int) -> tuple[str, str]:
    """The next request of a client: (kind, path)."""
    if rng.random() < 0.5:
        return "dashboard", "/"
    roll = rng.random()
    if roll < 0.7:
        return "partners", f"/partners?page={rng.randint(1, pages)}"
    if roll < 0.85:
        return "partners", "/partners?dormant=1"
    return "partners", "/partners?" + urllib.parse.urlencode({"q": rng.choice(SEARCHES)})


async def one_client(port: int, cookie: str, until: float, pages: int, seed: int,
                     load: Load) -> None:
    rng = random.Random(seed)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < until:
            kind, path = pick(rng, pages)
            request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n"
                       "Accept-Language: en\r\n\r\n").encode()
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            took = time.perf_counter() - start
            if not head.startswith(b"HTTP/1.1 200"):
                load.failures += 1
            load.times.setdefault(kind, []).append(took)
    finally:
        writer.close()


async def drive(port: int, cookie: str, seconds: float, clients: int, pages: int,
                seed: int) -> Load:
    load = Load(seconds=seconds)
    until = time.perf_counter() + seconds
    await asyncio.gather(*(one_client(port, cookie, until, pages, seed * 100 + i, load)
                           for i in range(clients)))
    return load


def summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    ms = sorted(v * 1000 for v in values)
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return {"p50_ms": round(q[49], 1), "p95_ms": round(q[94], 1), "p99_ms": round(q[98], 1),
            "max_ms": round(ms[-1], 1), "n": len(ms)}


# -- the run -----------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--partners", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=30.0, help="per server, in all rounds")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="CI smoke: small and short")
    parser.add_argument("--src", type=Path, help="measure another checkout (PYTHONPATH)")
    args = parser.parse_args(argv)
    if args.quick:
        args.partners, args.seconds, args.rounds = 500, 4.0, 2
    env = dict(os.environ, SISTERCITY_WEB_SECRET=SECRET, PYTHONUNBUFFERED="1")
    if args.src:
        env["PYTHONPATH"] = str(args.src.resolve())
    cli = find_cli() if not args.src else [sys.executable, "-m", "scheduler"]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="sistercity-web-bench-") as tmp:
        work = Path(tmp)
        dataset, db = work / "dataset.toml", work / "bench.db"
        config = write_config(work / "config.toml", db=db)
        n = args.partners
        log(f"generating {n:,} partners")
        gen_dataset.generate(dataset, partners=n, agreements=3 * n, activities=5 * n)

        def sistercity(*words: str, stdin: str = "") -> None:
            done = subprocess.run([*cli, "--config", str(config), *words], input=stdin,
                                  text=True, capture_output=True, env=env, cwd=work)
            if done.returncode != 0:
                raise SystemExit(f"sistercity {' '.join(words)}: {done.stderr.strip()}")

        log("loading it")
        sistercity("load", str(dataset))
        sistercity("user", "add", EMAIL, "--name", "Bench", "--role", "viewer",
                   "--language", "en", stdin=PASSWORD + "\n")

        port = free_port()
        app = subprocess.Popen([*cli, "--config", str(config), "web", "--port", str(port)],
                               env=env, cwd=work, stderr=subprocess.DEVNULL)
        base_port = free_port()
        baseline: subprocess.Popen[bytes] | None = None
        try:
            wait_for_port(port, app)
            cookie = sign_in(port)
            cold, page = timed(port, "/", cookie)
            assert "/partners?dormant=1" in page or "Dormant" in page
            cold_list, listing = timed(port, "/partners", cookie)
            pages_found = re.search(r"Page 1 of ([\d,]+)", listing)
            pages = int(pages_found.group(1).replace(",", "")) if pages_found else 1
            log(f"first views after start: dashboard {cold:.2f} s, partner list "
                f"{cold_list:.2f} s ({pages} pages)")
            baseline = subprocess.Popen([sys.executable, "-c", BASELINE_APP, str(base_port),
                                         str(len(page.encode()))], env=env,
                                        stderr=subprocess.DEVNULL)
            wait_for_port(base_port, baseline)

            measured, base = Load(), Load()
            share = args.seconds / args.rounds
            for r in range(args.rounds):
                log(f"round {r + 1}/{args.rounds}: app {share:.0f} s, baseline {share:.0f} s")
                measured.add(asyncio.run(drive(port, cookie, share, args.clients, pages, r)))
                base.add(asyncio.run(drive(base_port, "", share, args.clients, pages, r)))

            # A change through the CLI: the next view must show it (the cache reloads).
            target = re.search(r'href="/partners/([^"]+)"', listing)
            assert target
            sistercity("activity", "add", urllib.parse.unquote(target.group(1)), "--date",
                       dt_today(), "--title", "Bench visit after the load")
            after_dash, _ = timed(port, "/", cookie)
            after, _ = timed(port, "/partners?" + urllib.parse.urlencode(
                {"q": urllib.parse.unquote(target.group(1))}), cookie)
            _, shown = timed(port, f"/partners/{target.group(1)}", cookie)
            assert "Bench visit after the load" in shown, "the change shows at once"
        finally:
            stop(app)
            if baseline is not None:
                stop(baseline)
    load_after = os.getloadavg()

    every, every_base = summary(measured.all()), summary(base.all())
    p95 = every.get("p95_ms")
    common = {"partners": n, "clients": args.clients, "seconds": args.seconds,
              "rounds": args.rounds, "loadavg_before": [round(x, 2) for x in load_before],
              "loadavg_after": [round(x, 2) for x in load_after]}
    figures = [
        {"figure": "web-latency", "target": f"p95 ≤ {TARGET_P95_MS:.0f} ms",
         "measured": {**every, "rps": round(every["n"] / measured.seconds, 1),
                      "failures": measured.failures,
                      **{kind: summary(v) for kind, v in sorted(measured.times.items())}},
         "baseline": {**every_base, "rps": round(every_base["n"] / base.seconds, 1),
                      "failures": base.failures, "what": "trivial Starlette page, same size"},
         "ratio": round(p95 / every_base["p95_ms"], 2) if p95 and every_base.get("p95_ms")
         else None,
         "ok": None if args.quick else bool(p95 is not None and p95 <= TARGET_P95_MS
                                             and measured.failures == 0),
         **common},
        {"figure": "web-first-views", "target": "reported",
         "measured": {"dashboard_after_start_s": round(cold, 3),
                      "partners_after_start_s": round(cold_list, 3),
                      "partner_search_after_cli_change_s": round(after, 3),
                      "dashboard_after_cli_change_s": round(after_dash, 3)},
         "baseline": None, "ratio": None, "ok": None, **common},
    ]
    for figure in figures:
        print(json.dumps(figure, ensure_ascii=False), flush=True)
    return 0 if args.quick or figures[0]["ok"] else 1


def dt_today() -> str:
    return time.strftime("%Y-%m-%d")


if __name__ == "__main__":
    sys.exit(main())
