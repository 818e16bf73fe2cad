"""Content stamps: what Make sees of the build's inputs, keyed on their content, not their times.

Make decides staleness by file times, and file times lie about delivered data: ``unzip``,
``cp -p`` and ``rsync -t`` give a replaced file its *old* time, so Make would keep the old figures.
So Make's rules do not depend on the data, params and national files themselves but on one small
*stamp* per group of inputs under ``<build>/stamps/``, rewritten by ``cinreport deps`` (which every
build runs first) only when the group's content digest changes:

- ``authority/<code>``: the authority's params file and every file in its data folder;
- ``authorities``: the set of authorities (adding, removing or renaming one);
- ``common``: the codebook, ``params/report.yml`` and the study-wide sources (``data/sources.csv``);
- ``national``: the national folder in use (params or ``$CINREPORT_NATIONAL_DIR``) and the content
  of each DfE file it names.

A stamp's time therefore moves exactly when its content does. Digests of large files are reused
while the file's identity and times (device, inode, size, modification *and change* time) are the
same; the change time cannot be set back by a copy, so a replaced file is always read again.

``prune`` removes what the build holds for authorities that no longer exist, so a removed or
renamed authority leaves no trace in ``build/`` (the book is rebuilt without it).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any, Iterable

from cinreport.common.atomic import write_if_changed, write_json
from cinreport.common.layout import codebook_path

STAMPS = "stamps"
HASH_CACHE = "hash-cache.json"


class DigestCache:
    """SHA-256 of files, reused while a file's identity and times are unchanged."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.entries: dict[str, list[Any]] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.entries = {}
        self.used: dict[str, list[Any]] = {}

    def digest(self, path: Path) -> str:
        """The file's SHA-256 (symbolic links followed), or ``missing`` when there is none."""
        try:
            real = path.resolve()
            st = real.stat()
        except (OSError, RuntimeError):
            return "missing"
        if not real.is_file():
            return "not a file"
        key = str(real)
        ident = [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]
        old = self.entries.get(key)
        if old and old[:-1] == ident:
            value = old[-1]
        else:
            h = hashlib.sha256()
            with open(real, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            value = h.hexdigest()
        self.used[key] = [*ident, value]
        return value

    def save(self) -> None:
        if self.used != self.entries:
            write_json(self.path, self.used)


def _combine(parts: Iterable[tuple[str, str]]) -> str:
    h = hashlib.sha256()
    for name, value in parts:
        h.update(f"{name}\0{value}\n".encode())
    return h.hexdigest()


def _where(path: Path, root: Path | str) -> str:
    """A folder as the digest names it: relative to the project when inside it (a copied or moved
    project is the same build), else its absolute path (data outside the project)."""
    absolute = path.resolve()
    try:
        return absolute.relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return str(absolute)


def authority_digest(params_file: Path, data_dir: Path | None, cache: DigestCache,
                     sources: Iterable[Path] = (), root: Path | str = ".") -> str:
    """One digest of an authority's params file and its data folder's files (names and content),
    and of the files its data are read from (:func:`cinreport.data.sources.data_source`) elsewhere."""
    from cinreport.data.sources import data_folder_files

    parts = [("params", cache.digest(params_file)), ("data_dir", _where(data_dir, root) if data_dir else "")]
    if data_dir is not None:
        inside = data_folder_files(data_dir)
        parts += [(f"data/{p.name}", cache.digest(p)) for p in inside]
        parts += [(f"source/{_where(p, root)}", cache.digest(p)) for p in sorted(set(sources) - set(inside))]
    return _combine(parts)


def authority_sources(authority, specs) -> list[Path]:
    """The files (CSVs, workbooks) the authority's data are read from, as validation decides
    (``specs``: the codebook's file specs)."""
    from cinreport.data.sources import data_source

    return [p for spec in specs for p in data_source(authority, spec).inputs]


def national_digest(national: dict[str, Any], root: Path | str, cache: DigestCache) -> str:
    """The national folder in use and the content of each file params name in it."""
    from cinreport.national.files import national_dir, national_files

    parts = [("folder", _where(national_dir(national, root), root))]
    parts += [(key, cache.digest(path)) for key, path in sorted(national_files(national, root).items())]
    return _combine(parts)


def write_stamps(build_dir: Path, digests: dict[str, str]) -> list[str]:
    """Write each stamp whose digest changed (its time moves only then); remove stamps of groups
    that no longer exist. Returns the names of the stamps that changed."""
    root = build_dir / STAMPS
    changed = [name for name, digest in sorted(digests.items())
               if write_if_changed(root / name, digest + "\n")]
    for path in sorted((root / "authority").glob("*")) if (root / "authority").is_dir() else []:
        if f"authority/{path.name}" not in digests and not path.name.startswith("."):
            path.unlink(missing_ok=True)
    return changed


def prune(build_dir: Path, codes: set[str]) -> list[Path]:
    """Remove what ``build_dir`` holds for authorities not in ``codes``: their validation marks,
    measures and executed chapters (``build/authorities/<code>/``) and published slices."""
    removed: list[Path] = []
    for path in sorted((build_dir / "validated").glob("*.ok")):
        if path.stem not in codes:
            path.unlink(missing_ok=True)
            removed.append(path)
    authorities = build_dir / "authorities"
    for path in sorted(authorities.iterdir()) if authorities.is_dir() else []:
        if path.is_dir() and path.name not in codes:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def refresh(params_dir: Path | str, build_dir: Path | str, root: Path | str = ".") -> dict[str, Any]:
    """Digest every input group, write the stamps that changed and prune removed authorities.

    Params files that cannot be read still get a stamp from their bytes, so validation (which
    reports every problem in the project's words) runs for them."""
    from cinreport.data.config import ParamsError, authority_files, load_authority, load_report

    params_dir, build_dir = Path(params_dir), Path(build_dir)
    cache = DigestCache(build_dir / STAMPS / HASH_CACHE)
    report = None
    try:
        report = load_report(params_dir)
    except ParamsError:
        pass
    from cinreport.data.codebook import load_codebook

    try:
        specs = list(load_codebook(codebook_path(root)).files.values())
    except Exception:  # noqa: BLE001 - any unreadable codebook
        specs = []  # validation reports it; the codebook's own digest still changes
    digests: dict[str, str] = {}
    codes: list[str] = []
    for path in authority_files(params_dir):
        code = path.stem
        codes.append(code)
        data_dir, sources = None, []
        try:
            authority = load_authority(path, report, root, check_data=False)
            data_dir, sources = authority.data_dir, authority_sources(authority, specs)
        except ParamsError:
            pass
        digests[f"authority/{code}"] = authority_digest(path, data_dir, cache, sources, root)
    digests["authorities"] = _combine((c, "") for c in codes)
    codebook = codebook_path(root)
    digests["common"] = _combine([("codebook", cache.digest(codebook)),
                                  ("report", cache.digest(params_dir / "report.yml")),
                                  ("study-sources", cache.digest(codebook.parent / "sources.csv"))])
    digests["national"] = national_digest(report.national, root, cache) if report else "params unreadable"
    changed = write_stamps(build_dir, digests)
    removed = prune(build_dir, set(codes))
    cache.save()
    return {"codes": codes, "changed": changed, "removed": [str(p) for p in removed]}
