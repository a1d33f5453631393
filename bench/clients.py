"""Reference SMTP clients for the delivery benchmark, run as subprocesses by bench/run.py so that
they pay the same interpreter start-up as `sistercity deliver`.

    python bench/clients.py aiosmtplib HOST PORT MESSAGES.pickle [CONNECTIONS]
    python bench/clients.py smtplib HOST PORT MESSAGES.pickle

MESSAGES.pickle holds a list of (envelope sender, recipient, message bytes), the very messages
`sistercity deliver` sends (read from its outbox). `aiosmtplib` sends them over CONNECTIONS
(default 4) connections opened once and reused -- the limit of what the product can do with
its own SMTP library; `smtplib` opens one connection per message, one message at a time -- what
a user would write without sistercity. Neither touches a database. Exit 0 when every message
was accepted.
"""

from __future__ import annotations

import pickle
import sys
from collections.abc import Iterator


def _aiosmtplib(host: str, port: int, messages: list[tuple[str, str, bytes]], n: int) -> None:
    import asyncio

    import aiosmtplib

    async def main() -> None:
        pending: Iterator[tuple[str, str, bytes]] = iter(messages)  # shared by the workers

        async def worker() -> None:
            smtp = aiosmtplib.SMTP(hostname=host, port=port, start_tls=False, timeout=30)
            await smtp.connect()
            try:
                for sender, recipient, data in pending:
                    await smtp.sendmail(sender, [recipient], data)
            finally:
                await smtp.quit()

        await asyncio.gather(*(worker() for _ in range(n)))

    asyncio.run(main())


def _smtplib(host: str, port: int, messages: list[tuple[str, str, bytes]]) -> None:
    import smtplib

    for sender, recipient, data in messages:
        with smtplib.SMTP(host, port, timeout=30) as smtp:
            smtp.sendmail(sender, [recipient], data)


def main() -> None:
    mode, host, port, path = sys.argv[1:5]
    with open(path, "rb") as fh:
        messages = pickle.load(fh)
    if mode == "aiosmtplib":
        connections = int(sys.argv[5]) if len(sys.argv) > 5 else 4
        _aiosmtplib(host, int(port), messages, connections)
    elif mode == "smtplib":
        _smtplib(host, int(port), messages)
    else:
        raise SystemExit(f"unknown client {mode!r}")


if __name__ == "__main__":
    main()
