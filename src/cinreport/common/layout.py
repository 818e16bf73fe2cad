"""The project's layout, defined once: its folders and files, the book's chapters, and how many
authorities count as "many".

Everything else reads it:

* the command line takes its defaults from here (``--build``, ``--params``, ``render --out``) and
  executes the notebooks named here;
* ``cinreport deps`` writes into ``<build>/deps.mk`` the study chapters Make executes (``STUDY``), and
  ``cinreport book-config`` (run by ``cinreport deps`` and ``cinreport render``) writes the book's whole
  chapter list, for the build folder in use, into the Quarto profile ``_quarto-chapters.yml``, which
  Quarto merges into ``_quarto.yml`` and the fallback renderer reads the same way;
* the benchmark executes :func:`study_chapters`, as Make does;
* a test checks that ``notebooks/study/`` holds exactly :func:`study_chapters`, and that the renderer's
  sidebar folds a part at :data:`MANY_AUTHORITIES`.

The Makefile's ``BUILD`` and ``BOOK_DIR`` default to :data:`BUILD` and :data:`BOOK` (a test checks it) and
are passed to every command (``cinreport --build $(BUILD)``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

BUILD = "build"  # executed notebooks, measures, the store of published numbers, stamps
BOOK = "_book"  # the rendered book and its open data
PARAMS = "params"  # report.yml and authorities/<code>.yml
CODEBOOK = Path("data") / "codebook.yml"  # the data files and variables every authority supplies
STUDY_NOTEBOOKS = Path("notebooks") / "study"
AUTHORITY_NOTEBOOK = Path("notebooks") / "authority.ipynb"

#: Above this many authorities: cross-authority tables show the spread instead of a column each, a
#: list of authorities becomes a range, leave-one-out robustness uses large-sample tests instead of
#: permutations, ``pdf_profiles: auto`` leaves the profiles out of the PDF, and the fallback renderer's
#: sidebar folds the part of authority profiles into one line.
MANY_AUTHORITIES = 12

# --- the book -------------------------------------------------------------------------------------
#: The Quarto profile that holds the book's chapters (``_quarto-<profile>.yml``, generated, git-ignored;
#: ``profile: default:`` in ``_quarto.yml``). Quarto appends a profile's arrays to ``_quarto.yml``'s, so
#: ``_quarto.yml`` lists no chapters: the profile lists them all, with the build folder's paths.
BOOK_PROFILE = "chapters"
#: The book in reading order. A name is a study chapter: ``notebooks/study/<name>.ipynb``, executed into
#: ``<build>/study/<name>.ipynb``; a ``.qmd`` path is a static chapter in the project; a dict is a part.
#: The authority profiles (:data:`AUTHORITY_PART`, one chapter per authority) follow the chapters.
CHAPTERS: tuple[Any, ...] = (
    "index.qmd",
    "methods",
    {"part": "Findings", "chapters": ("characteristics", "reasons", "support", "needs_match", "national")},
    "key_findings",
    "implications",
    "report/limitations.qmd",
    "profiles",
)
APPENDICES: tuple[Any, ...] = ("data_dictionary", "provenance")
AUTHORITY_PART = "Authority profiles"
#: Study notebooks that are not chapters: ``summary`` writes ``<build>/study/summary.md``, the landing
#: page's summary. ``index.qmd`` includes :data:`SUMMARY_INCLUDE`, the copy of it that the render puts
#: at the project's root for the build it renders (an include's path cannot depend on the build folder).
INCLUDED_STUDY = ("summary",)
SUMMARY = Path("study") / "summary.md"  # in the build folder
SUMMARY_INCLUDE = "_summary.md"  # in the project's root (git-ignored)


def _names(items) -> list[str]:
    names: list[str] = []
    for item in items:
        if isinstance(item, dict):
            names += _names(item["chapters"])
        elif not item.endswith(".qmd"):
            names.append(item)
    return names


def study_chapters() -> list[str]:
    """The study notebooks `make report` (and the benchmark) execute: the book's study chapters and
    :data:`INCLUDED_STUDY`, sorted."""
    return sorted({*_names(CHAPTERS), *_names(APPENDICES), *INCLUDED_STUDY})


def study_notebook(name: str) -> Path:
    return STUDY_NOTEBOOKS / f"{name}.ipynb"


def book_folder(build: Path | str, root: Path | str = ".") -> str:
    """The build folder as the book's configuration names it: relative to the project's root (POSIX)
    when inside it, else absolute (only the fallback renderer reads chapters outside the project)."""
    root_abs, build_abs = Path(os.path.abspath(root)), Path(os.path.abspath(Path(root) / build))
    try:
        return build_abs.relative_to(root_abs).as_posix()
    except ValueError:
        return build_abs.as_posix()


def authority_chapter(code: str, build: Path | str = BUILD, root: Path | str = ".") -> str:
    """An authority's chapter as the book lists it: ``<build>/authorities/<code>/authority.ipynb``."""
    return f"{book_folder(build, root)}/authorities/{code}/authority.ipynb"


def book_chapters(codes: list[str], build: Path | str = BUILD, root: Path | str = ".") -> dict[str, list]:
    """The ``book:`` entries of the profile (``chapters`` and ``appendices``) for the build folder
    ``build`` and the authorities ``codes``, in the book's order."""
    folder = book_folder(build, root)

    def entries(items) -> list:
        out: list = []
        for item in items:
            if isinstance(item, dict):
                out.append({"part": item["part"], "chapters": entries(item["chapters"])})
            elif item.endswith(".qmd"):
                out.append(item)
            else:
                out.append(f"{folder}/study/{item}.ipynb")
        return out

    chapters = entries(CHAPTERS)
    if codes:
        chapters.append({"part": AUTHORITY_PART, "chapters": [authority_chapter(c, build, root) for c in codes]})
    return {"chapters": chapters, "appendices": entries(APPENDICES)}


def codebook_path(root: Path | str = ".") -> Path:
    return Path(root) / CODEBOOK
