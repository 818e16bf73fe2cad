"""Where the DfE national files are: the folder and file names from params (standard library only,
so the build's first step reads them without loading the analysis libraries)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ENV_DIR = "CINREPORT_NATIONAL_DIR"
DFE_KEYS = ("children_in_need", "factors", "cpp_duration", "population")   # Explore Education Statistics files
# Optional DfE files: the use of Child in Need plans (b7), primary need (b3), open-episode durations (b4).
OPTIONAL_KEYS: dict[str, str] = {
    "cin_plans": "Child in Need plans by local authority",
    "primary_need": "children in need by primary need",
    "episode_duration": "how long open Child in Need episodes had lasted",
}
FILE_KEYS = (*DFE_KEYS, *OPTIONAL_KEYS, "neighbours")   # the neighbour groupings are optional too


def national_dir(national: dict[str, Any], root: Path | str = ".") -> Path:
    """The folder holding the DfE files: $CINREPORT_NATIONAL_DIR, else ``national.dir`` from params
    (relative paths are relative to the project folder ``root``)."""
    folder = Path(os.environ.get(ENV_DIR) or national.get("dir") or "")
    return folder if folder.is_absolute() else Path(root) / folder


def national_files(national: dict[str, Any], root: Path | str = ".") -> dict[str, Path]:
    folder = national_dir(national, root)
    return {key: folder / str(national[key]) for key in FILE_KEYS if national.get(key)}


def missing_files(files: dict[str, Path]) -> list[Path]:
    """Required files that are not there (the statistical-neighbour file is optional)."""
    return [p for k, p in files.items() if k in DFE_KEYS and not p.is_file()]


def optional_not_included(files: dict[str, Path]) -> dict[str, str]:
    """Each optional file (:data:`OPTIONAL_KEYS`) that will not be read, with why, in readers' words."""
    out = {}
    for key, what in OPTIONAL_KEYS.items():
        if key not in files:
            out[key] = f"the Department for Education file of {what} was not supplied"
        elif not files[key].is_file():
            out[key] = f"the Department for Education file of {what} ({files[key].name}) was not found"
    return out
