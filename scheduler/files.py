"""Files written whole or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from scheduler.errors import UserError


def write_atomically(
    path: Path, data: bytes, *, durable: bool = True, staging: Path | None = None
) -> None:
    """Write `data` to `path` through a temporary file beside it (or in `staging`, a folder on
    the same file system, created when missing) and a rename.

    A reader (or a crash) never sees half a file, and no temporary file is left behind on
    failure. With `durable`, the data and the rename are fsync'ed before returning (POSIX).
    The parent folder is created when missing.

    Raises:
        OSError: the folder or the file cannot be written; `path` is then unchanged.
    """
    folder = path.parent if str(path.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    if staging is not None:
        staging.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=staging or folder, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        with contextlib.suppress(OSError):  # make the rename itself durable
            dir_fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)


def refuse_overwrite(path: Path, force: bool) -> None:
    """UserError when `path` exists and `force` is not given: a file a user filled in or
    keeps (a workbook, a calendar) must not be lost to a mistyped command (SPEC: `template`,
    `export` and `calendar` never overwrite an existing file without `--force`)."""
    if not force and path.exists():
        raise UserError(f"{path}: the file exists; nothing was written (use --force to "
                        "replace it)")


def write_or_fail(path: Path, data: bytes) -> None:
    """`write_atomically`, with a UserError naming the file when it cannot be written."""
    try:
        write_atomically(path, data)
    except OSError as exc:
        raise UserError(f"{path}: cannot write: {exc.strerror}") from None
