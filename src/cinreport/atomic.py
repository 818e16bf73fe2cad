"""Atomic file writes: write to a temporary name in the same folder, then rename.

A failed or interrupted build therefore never leaves a half-written output that a later run could
mistake for a finished one.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


@contextmanager
def atomic_path(target: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success only."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
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


def dumps_json(obj: Any) -> str:
    """Deterministic JSON: keys in insertion order (category order matters), two-space indent.

    Every mapping written is built in a fixed order by the package, so output is byte-identical
    for the same inputs.
    """
    return json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False, allow_nan=False) + "\n"


def write_json(target: Path | str, obj: Any) -> Path:
    """Write ``obj`` as deterministic JSON atomically."""
    return write_text(target, dumps_json(obj))


def write_csv(target: Path | str, frame) -> Path:
    """Write a DataFrame as CSV (no index, LF line ends, fixed float format) atomically."""
    text = frame.to_csv(index=False, lineterminator="\n", float_format="%.6g")
    return write_text(target, text)
