"""Build the whole publication of a small study in-process: every chapter's text and the open data.

The same code the notebooks run (measure, the disclosure pass, the authority and study chapters,
the profiles, the open-data folder), without papermill or the renderer, so that property tests can
build many small random studies and attack what a reader would download.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from unittest import mock

import nbformat

import scenarios
from cinreport.chapters import profiles
from cinreport.chapters.study import Study
from cinreport.cli import main as national
from cinreport.common import opendata

STUDY_CHAPTERS = ("characteristics", "reasons", "support", "needs_match", "key_findings", "implications", "summary")
NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def notebook_text(path: Path, params: dict) -> str:
    """What a chapter notebook shows, in order: its Markdown cells and every ``show`` of its code
    cells, run in this process with ``params`` in place of its parameters cell (no papermill)."""
    shown: list[str] = []
    namespace = dict(params)
    with mock.patch("cinreport.chapters.report.show", shown.append):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "markdown":
                shown.append(cell.source)
            elif cell.cell_type == "code" and "parameters" not in cell.metadata.get("tags", []):
                exec(compile(cell.source, f"{path.name}", "exec"), namespace)
    return "\n\n".join(shown)


@contextlib.contextmanager
def inside(folder: Path):
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def build_outputs(workdir: Path, study_profiles, seed: int = 7, findings: dict | None = None
                  ) -> tuple[Path, dict[str, str], dict[str, str]]:
    """Write a study under ``workdir`` and publish it. Returns (open-data folder, chapter texts by
    authority code or chapter name, authority names by code)."""
    workdir = Path(workdir)
    metrics, _ = scenarios.write_study(workdir, study_profiles, seed, findings=findings)
    texts: dict[str, str] = {}
    with inside(workdir):
        national(["--build", "build", "national"])  # no DfE files beside a test project: "not included"
        st = Study.load("findings")
        st.publish()
        st.save_findings()
        for code in metrics:
            texts[code] = notebook_text(NOTEBOOKS / "authority.ipynb",
                                        {"authority": code, "params_dir": "params",
                                         "out_dir": f"build/authorities/{code}"})
        for chapter in STUDY_CHAPTERS:
            texts[chapter] = notebook_text(NOTEBOOKS / "study" / f"{chapter}.ipynb",
                                           {"params_dir": "params", "build_dir": "build", "out_dir": "build/study"})
        texts["profiles"] = "\n\n".join(profiles.comparison())
        opendata.publish("build", workdir / "book-data")
    names = {code: scenarios.authority_name(code) for code in metrics}
    return workdir / "book-data", texts, names
