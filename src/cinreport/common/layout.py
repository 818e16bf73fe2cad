"""The project's layout, defined once: its folders and files, the study chapters, and how many
authorities count as "many".

The command line takes its defaults from here (``--build``, ``--params``); the Makefile passes the
same folders explicitly (``BUILD``, ``BOOK_DIR``) and, like the benchmark, finds the study chapters
as :func:`study_chapters` does: one notebook each in ``notebooks/study/``. The book's order of
chapters is ``_quarto.yml``'s (a test checks that every study notebook is in the book).
"""

from __future__ import annotations

from pathlib import Path

BUILD = "build"  # executed notebooks, measures, the store of published numbers, stamps
BOOK = "_book"  # the rendered book and its open data
PARAMS = "params"  # report.yml and authorities/<code>.yml
CODEBOOK = Path("data") / "codebook.yml"  # the data files and variables every authority supplies
STUDY_NOTEBOOKS = Path("notebooks") / "study"
AUTHORITY_NOTEBOOK = Path("notebooks") / "authority.ipynb"

#: Above this many authorities: cross-authority tables show the spread instead of a column each, a
#: list of authorities becomes a range, leave-one-out robustness uses large-sample tests instead of
#: permutations, and ``pdf_profiles: auto`` leaves the profiles out of the PDF.
MANY_AUTHORITIES = 12


def study_chapters(root: Path | str = ".") -> list[str]:
    """The study chapters `make report` executes: one per notebook in ``notebooks/study/``."""
    return sorted(p.stem for p in (Path(root) / STUDY_NOTEBOOKS).glob("*.ipynb"))


def codebook_path(root: Path | str = ".") -> Path:
    return Path(root) / CODEBOOK
