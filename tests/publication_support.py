"""Build the whole publication of a small study in-process: every chapter's text and the open data.

The same code the notebooks run (measure, the disclosure pass, the authority and study chapters,
the profiles, the open-data folder), without papermill or the renderer, so that property tests can
build many small random studies and attack what a reader would download.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from cinreport import opendata, profiles, scenarios
from cinreport.authority_chapter import AuthorityChapter
from cinreport.cli import main as national
from cinreport.study import Study

STUDY_CHAPTERS = ("characteristics", "reasons", "support", "needs_match", "key_findings", "implications", "summary")
AUTHORITY_SECTIONS = ("heading", "characteristics", "reasons", "plans", "support", "needs", "national")


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
            ch = AuthorityChapter.build(code, out_dir=f"build/authorities/{code}")
            texts[code] = "\n\n".join(getattr(ch, s)() for s in AUTHORITY_SECTIONS)
        for chapter in STUDY_CHAPTERS:
            texts[chapter] = "\n\n".join(getattr(Study.load(chapter), chapter)())
        texts["profiles"] = "\n\n".join(profiles.comparison())
        opendata.publish("build", workdir / "book-data")
    names = {code: scenarios.authority_name(code) for code in metrics}
    return workdir / "book-data", texts, names
