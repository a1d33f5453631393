"""Where the compiled templates are kept between runs: a folder only this user can write.

Loading Jinja bytecode runs it, so whoever can write the cache folder can run code as the
operator (issue 12, fault 5: a symlink planted in the shared /tmp pointed the cache at a
world-writable folder). The cache therefore lives under the user's own cache folder
(`$XDG_CACHE_HOME`, else `~/.cache`: XDG Base Directory Specification), every folder on the
way is checked with lstat (a symlink is refused, not followed), and a folder that is not
ours alone means no cache at all: templates then compile on every run (about 3 s for all of
them), which is slower but safe.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

from jinja2 import FileSystemBytecodeCache

log = logging.getLogger(__name__)

__all__ = ["bytecode_cache", "cache_home", "private_folder"]


def cache_home() -> Path | None:
    """`$XDG_CACHE_HOME` if it is an absolute path, else `~/.cache`; None without a home."""
    configured = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(configured):
        return Path(configured)
    try:
        return Path.home() / ".cache"
    except RuntimeError:  # no home directory can be determined
        return None


def _only_ours(st: os.stat_result, *, private: bool) -> bool:
    """Owned by us, and nobody else may write in it (nor, if `private`, look in it)."""
    others = 0o077 if private else 0o022
    return st.st_uid == os.getuid() and not st.st_mode & others


def private_folder(base: Path, *names: str) -> Path | None:
    """`base/names...`, each folder below `base` created mode 0700 when missing.

    `base` must be a folder (it may be reached through a symlink, as a home's `.cache` often
    is) owned by this user and writable by nobody else; each folder below it must be a real
    folder (lstat: not a symlink), owned by this user, with no access for group or others.
    Since nobody else can write any folder on the way, nobody can swap one after the check.
    Returns None (and logs why) when any check fails or a folder cannot be created.
    """
    try:
        if not base.exists():
            os.makedirs(base, mode=0o700, exist_ok=True)
        st = os.stat(base)
        if not (stat.S_ISDIR(st.st_mode) and _only_ours(st, private=False)):
            log.warning("not caching templates: %s is not a folder only this user can write",
                        base)
            return None
        folder = base
        for name in names:
            folder = folder / name
            with contextlib.suppress(FileExistsError):  # checked below, whoever made it
                os.mkdir(folder, 0o700)
            st = os.lstat(folder)
            if not (stat.S_ISDIR(st.st_mode) and _only_ours(st, private=True)):
                log.warning("not caching templates: %s is not a private folder of this user "
                            "(a symlink, or open to others)", folder)
                return None
        return folder
    except OSError as exc:
        log.debug("not caching templates: %s", exc)
        return None


def bytecode_cache(kind: str) -> FileSystemBytecodeCache | None:
    """The bytecode cache for one template environment (`kind`: "text" or "html", which
    compile the same macros differently), in `<cache home>/sistercity/jinja-<kind>`; None
    when there is no safe place for it."""
    home = cache_home()
    folder = None if home is None else private_folder(home, "sistercity", f"jinja-{kind}")
    return None if folder is None else FileSystemBytecodeCache(str(folder))
