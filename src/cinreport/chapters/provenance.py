"""Provenance: what the report was built from (data hashes, params, versions, commit, renderer)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import nbformat

from cinreport.common.inert import markdown_code, markdown_text
from cinreport.common.layout import BUILD, codebook_path

PACKAGES = ("cinreport", "pandas", "numpy", "scipy", "seaborn", "matplotlib", "papermill", "pandera",
            "pypandoc-binary", "typst")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def git_state(root: Path | str = ".") -> dict[str, Any]:
    """Commit and dirty flag, or unknown outside a git checkout."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                    capture_output=True, text=True, check=True).stdout.strip())
        return {"commit": commit, "dirty": dirty}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": "unknown", "dirty": None}


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def file_label(path: Path, root: Path | str = ".", outside: dict[Path, str] | None = None) -> str:
    """How provenance names a file: its path in the project, or, for a file outside the project
    (confidential data kept on a shared drive), only ``<label>/<file name>`` (the label says whose
    folder it is), never the absolute path."""
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(os.path.abspath(root)).as_posix()
    except ValueError:
        label = (outside or {}).get(absolute.parent, "outside the project")
        return f"{label}/{absolute.name}"


def file_hashes(paths: list[Path], root: Path | str = ".",
                outside: dict[Path, str] | None = None) -> dict[str, str]:
    return {file_label(p, root, outside): sha256(p) for p in sorted(paths)}


def executed_notebooks(build_dir: Path | str) -> list[dict[str, Any]]:
    """Papermill metadata of every executed notebook under ``build_dir`` (parameters, duration, exception)."""
    out = []
    for path in sorted(Path(build_dir).glob("authorities/*/authority.ipynb")):
        nb = nbformat.read(path, as_version=4)
        pm = nb.metadata.get("papermill", {})
        out.append({"notebook": path.as_posix(), "parameters": pm.get("parameters", {}),
                    "duration_s": round(pm.get("duration") or 0, 2), "exception": pm.get("exception")})
    return out


def manifest(root: Path | str = ".", params_dir: str = "params", build_dir: str = BUILD,
             data_dirs: dict[str, Path] | None = None, renderer: str = "") -> dict[str, Any]:
    """``data_dirs``: each authority's data folder by its code."""
    from cinreport.data.sources import data_folder_files

    root = Path(root)
    data_files = [codebook_path(root)]
    outside = {Path(os.path.abspath(d)): f"{code} data folder (outside the project)"
               for code, d in (data_dirs or {}).items()}
    for d in (data_dirs or {}).values():
        data_files += data_folder_files(Path(d))
    params = sorted((root / params_dir).rglob("*.yml"))
    lock = root / "requirements.lock"
    return {
        "built_at": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "git": git_state(root),
        "renderer": renderer,
        "versions": versions(),
        "data_files": file_hashes(data_files, root, outside),
        "params_files": file_hashes(params, root),
        "lockfile_sha256": sha256(lock) if lock.exists() else None,
        "notebooks": executed_notebooks(root / build_dir),
        "national": national_status(root / build_dir),
    }


def national_status(build_dir: Path) -> dict[str, Any]:
    """What ``cinreport national`` read (file names and hashes), or why it read nothing."""
    path = Path(build_dir) / "national" / "status.json"
    if not path.is_file():
        return {"available": False, "reason": "national data were not prepared in this build"}
    return json.loads(path.read_text(encoding="utf-8"))


class Provenance:
    """The provenance appendix's data-driven pieces, from a manifest (``notebooks/study/provenance.ipynb``
    holds the headings). Names, paths and versions are shown through :mod:`cinreport.common.inert`."""

    def __init__(self, m: dict[str, Any]):
        self.manifest = m

    @classmethod
    def write(cls, params_dir: str = "params", build_dir: str = BUILD, root: Path | str = ".") -> "Provenance":
        """Build this build's manifest, write ``<build_dir>/manifest.json`` (see :func:`write_manifest`)."""
        return cls(write_manifest(params_dir, build_dir, root))

    def built(self) -> str:
        """When, from which commit and with which renderer the report was built."""
        m, git = self.manifest, self.manifest["git"]
        return (f"Built at {markdown_text(m['built_at'])} from commit {markdown_code(git['commit'][:12])}"
                + (" (with uncommitted changes)" if git.get("dirty") else "") + f". Rendered with "
                f"{markdown_text(m['renderer'])}.")

    def files_table(self) -> str:
        """The data and parameter files with the start of their SHA-256."""
        files = {**self.manifest["data_files"], **self.manifest["params_files"]}
        return "| File | SHA-256 |\n|:---|:---|" + "".join(f"\n| {_cell_code(k)} | {_cell_code(v[:16] + '…')} |"
                                                          for k, v in files.items())

    def national(self) -> str:
        """Which DfE files the national context read (names and hashes), or why it read none."""
        return _national_markdown(self.manifest.get("national") or {})

    def software_table(self) -> str:
        return "| Package | Version |\n|:---|:---|" + "".join(f"\n| {_cell_text(k)} | {_cell_text(v)} |"
                                                         for k, v in self.manifest["versions"].items())

    def notebooks_table(self) -> str:
        """The executed authority notebooks with their parameters and how long each took."""
        return "| Notebook | Parameters | Seconds |\n|:---|:---|---:|" + "".join(
            f"\n| {_cell_code(n['notebook'])} | {_cell_code(json.dumps(n['parameters'], sort_keys=True))} | "
            f"{n['duration_s']} |" for n in self.manifest["notebooks"])


def _cell_code(value: object) -> str:
    """A code span in a pipe-table cell (a ``|`` in it escaped, as a pipe table needs)."""
    return markdown_code(value).replace("|", "\\|")


def _cell_text(value: object) -> str:
    return markdown_text(value).replace("|", "\\|")


def _national_markdown(status: dict[str, Any]) -> str:
    if not status.get("available"):
        return f"Not included: {markdown_text(status.get('reason', 'not prepared'))}."
    rows = "".join(f"\n| {_cell_code(f['name'])} | {_cell_code(f['sha256'][:16] + '…')} |"
                   for f in status.get("files", []))
    return f"Read from {markdown_code(status.get('folder', ''))}.\n\n| File | SHA-256 |\n|:---|:---|{rows}"


def write_manifest(params_dir: str = "params", build_dir: str = BUILD, root: Path | str = ".") -> dict[str, Any]:
    """Build the manifest for the current build and write ``<build_dir>/manifest.json``."""
    from cinreport.common.atomic import write_json
    from cinreport.common.engines import renderer_description
    from cinreport.data.config import load_authorities

    m = manifest(root, params_dir, build_dir, {a.code: a.data_dir for a in load_authorities(params_dir, root=root)},
                 renderer_description())
    write_json(Path(build_dir) / "manifest.json", m)
    return m
