"""Atomic file writes: write to a temporary name in the same folder, then rename; the book's folder is
built beside it and swapped into place the same way.

A failed or interrupted build therefore never leaves a half-written output that a later run could
mistake for a finished one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (True when that cannot be told)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists but not ours, or cannot tell: leave its files alone
    try:  # a killed process stays a zombie until reaped: it writes nothing any more
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat[stat.rindex(")") + 2:][:1] not in ("Z", "X")
    except (OSError, ValueError):
        return True


def remove_stale_temps(target: Path | str) -> list[Path]:
    """Remove temporary files left beside ``target`` by writers that no longer run.

    Temporary names carry the writer's process id (``.<name>.<pid>.<random>.tmp``), so a file
    left by a killed build is recognised and removed by the next write of the same target; a
    temporary file is never read as an output in any case.
    """
    target = Path(target)
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.(\d+)\.[^.]+\.tmp(\.[A-Za-z0-9]+)?$")
    removed: list[Path] = []
    try:
        siblings = list(target.parent.iterdir())
    except OSError:
        return removed
    for path in siblings:
        match = pattern.match(path.name)
        if match and int(match.group(1)) != os.getpid() and not pid_alive(int(match.group(1))):
            try:
                path.unlink()
                removed.append(path)
            except OSError:
                pass
    return removed


def fsync(path: Path | str) -> None:
    """Flush a file's content to disk (best effort: some file systems refuse)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _file_mode() -> int:
    """The mode a newly created file gets here (0666 less the umask)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_path(target: Path | str, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success only.

    ``suffix`` is appended to the temporary name (e.g. ``.ipynb`` for tools that check it).
    On any failure or interruption (including SIGINT, and SIGTERM under the CLI, which turns it
    into an exception) the temporary file is removed and ``target`` keeps its previous content.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=f".tmp{suffix}",
                               dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, _file_mode())  # mkstemp makes 0600; outputs are shared like any new file
    try:
        yield tmp_path
        fsync(tmp_path)  # the content is on disk before the name points at it (power loss)
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(target: Path | str, text: str) -> Path:
    """Write ``text`` (UTF-8, LF line ends) to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="\n")
    return Path(target)


def write_bytes(target: Path | str, data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_if_changed(path: Path | str, text: str) -> bool:
    """Write only when the content differs, so Make sees no change when there is none."""
    path = Path(path)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        remove_stale_temps(path)  # what a killed earlier write left
        return False
    write_text(path, text)
    return True


def dumps_json(obj: Any) -> str:
    """Deterministic JSON: keys in insertion order (category order matters), two-space indent.

    Every mapping written is built in a fixed order by the package, so output is byte-identical
    for the same inputs.
    """
    return json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False, allow_nan=False) + "\n"


def dumps_compact(obj: Any, sort_keys: bool = False) -> str:
    """Deterministic JSON on one line, for the build's own large files (the store of published
    numbers, caches): written by the C encoder, many times faster than the indented form."""
    return json.dumps(obj, separators=(",", ":"), sort_keys=sort_keys, ensure_ascii=False, allow_nan=False) + "\n"


def write_json(target: Path | str, obj: Any) -> Path:
    """Write ``obj`` as deterministic JSON atomically."""
    return write_text(target, dumps_json(obj))


def write_csv(target: Path | str, frame) -> Path:
    """Write a DataFrame as CSV (no index, LF line ends, fixed float format) atomically."""
    text = frame.to_csv(index=False, lineterminator="\n", float_format="%.6g")
    return write_text(target, text)


# --------------------------------------------------------------------------------------------
# Folders (the book): built beside the target, then put in its place


def recover_folder(target: Path) -> None:
    """Tidy up after a :func:`replace_folder` that was killed (the book's render): restore the previous
    folder if a kill fell between its two renames, and remove the half-built and old folders."""
    leftovers = []
    for kind in ("tmp", "old"):
        for path in target.parent.glob(f".{kind}-{target.name}-*"):
            pid = path.name.rsplit("-", 1)[-1]
            if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
                leftovers.append((kind, path))
    if not target.exists():
        olds = sorted((p for kind, p in leftovers if kind == "old" and (p / "index.html").is_file()),
                      key=lambda p: p.stat().st_mtime)
        if olds:
            os.rename(olds[-1], target)
    for _, path in leftovers:
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)


def exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    # fails e.g. with EINVAL on file systems without exchange (some network drives)
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def replace_folder(new: Path, target: Path) -> None:
    """Put ``new`` at ``target``. Where the system can, both are exchanged in one atomic step, so
    ``target`` is at every instant either the old or the new complete book; otherwise two renames,
    and a kill between them is repaired by the next render (see :func:`recover_folder`)."""
    if target.exists() and exchange(new, target):
        shutil.rmtree(new, ignore_errors=True)  # now holds the old book
        return
    backup = target.parent / f".old-{target.name}-{os.getpid()}"
    shutil.rmtree(backup, ignore_errors=True)
    had_old = target.exists()
    if had_old:
        os.rename(target, backup)
    try:
        os.rename(new, target)
    except BaseException:
        if had_old:
            os.rename(backup, target)
        raise
    if had_old:
        shutil.rmtree(backup, ignore_errors=True)
