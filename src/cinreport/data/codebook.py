"""The codebook (``data/codebook.yml``): variables, code lists, labels and groups."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from cinreport.common.layout import CODEBOOK

DEFAULT_PATH = CODEBOOK
FILE_NAMES = ("case_files", "support", "admin", "themes", "sources")


@dataclass(frozen=True)
class Column:
    """One variable of a data file."""

    name: str
    type: str
    required: bool
    description: str
    codes: str | None = None
    unique: bool = False
    min: float | None = None
    max: float | None = None
    max_length: int | None = None
    dmy: bool = False
    references: str | None = None

    @property
    def code_list(self) -> str:
        """The code list a ``code`` or ``code_list`` column takes its values from."""
        if self.codes is None:
            raise ValueError(f"column '{self.name}' ({self.type}) names no code list (key 'codes')")
        return self.codes


@dataclass(frozen=True)
class FileSpec:
    """One data file: its name, key and columns in order."""

    name: str
    filename: str
    description: str
    key: str | None
    columns: tuple[Column, ...]
    optional: bool = False          # True: an authority may leave the file out (sources.csv)

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


@dataclass(frozen=True)
class CodeList:
    """An allowed set of codes with labels, and optional reporting groups."""

    name: str
    source: str
    labels: dict[str, str]
    groups: dict[str, tuple[str, ...]]

    def label(self, code: str) -> str:
        return self.labels.get(code, code)

    def group_of(self, code: str) -> str | None:
        for group, members in self.groups.items():
            if code in members:
                return group
        return None


@dataclass(frozen=True)
class Codebook:
    """The whole codebook."""

    path: Path
    files: dict[str, FileSpec]
    code_lists: dict[str, CodeList]

    def codes(self, list_name: str) -> CodeList:
        return self.code_lists[list_name]

    def label(self, list_name: str, code: str) -> str:
        return self.code_lists[list_name].label(code)


def _column(name: str, spec: dict[str, Any]) -> Column:
    return Column(
        name=name,
        type=spec["type"],
        required=bool(spec.get("required", False)),
        description=spec.get("description", ""),
        codes=spec.get("codes"),
        unique=bool(spec.get("unique", False)),
        min=spec.get("min"),
        max=spec.get("max"),
        max_length=spec.get("max_length"),
        dmy=bool(spec.get("dmy", False)),
        references=spec.get("references"),
    )


def parse_codebook(data: dict[str, Any], path: Path = DEFAULT_PATH) -> Codebook:
    """Build a :class:`Codebook` from the YAML mapping; checks its own consistency."""
    code_lists = {
        name: CodeList(
            name=name,
            source=str(spec.get("source", "")),
            labels={str(k): str(v) for k, v in spec["codes"].items()},
            groups={g: tuple(str(c) for c in members) for g, members in (spec.get("groups") or {}).items()},
        )
        for name, spec in data["code_lists"].items()
    }
    files = {}
    for name, spec in data["files"].items():
        columns = tuple(_column(c, s) for c, s in spec["columns"].items())
        for col in columns:
            if col.codes and col.codes not in code_lists:
                raise ValueError(f"{path}: column {name}.{col.name} names unknown code list '{col.codes}'")
        files[name] = FileSpec(name=name, filename=spec["filename"], description=spec.get("description", ""),
                               key=spec.get("key"), columns=columns,
                               optional=bool(spec.get("optional", False)))
    for cl in code_lists.values():
        for group, members in cl.groups.items():
            unknown = [m for m in members if m not in cl.labels]
            if unknown:
                raise ValueError(f"{path}: group '{group}' of code list '{cl.name}' names unknown codes {unknown}")
    return Codebook(path=path, files=files, code_lists=code_lists)


@lru_cache(maxsize=8)
def _load_cached(path: str, mtime_ns: int) -> Codebook:
    with open(path, encoding="utf-8-sig") as fh:
        return parse_codebook(yaml.safe_load(fh), Path(path))


def load_codebook(path: Path | str = DEFAULT_PATH) -> Codebook:
    """Read the codebook (cached while the file is unchanged)."""
    p = Path(path)
    return _load_cached(str(p), p.stat().st_mtime_ns)
