"""The built book speaks to readers, not to developers: no params keys, file names, code names or
commands in the text a reader sees (HTML pages and PDF text), except in the technical appendices.

The data dictionary and the provenance appendix describe files by name on purpose (the codebook's
variables, the data and params files with their hashes), so they may; every other page may not.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess

import pytest

# Words that belong to the people who build the report: params keys, folders, files, commands.
DEVELOPER_WORDS = re.compile(
    r"new_la_code|data_dir|params/|params file|\.ya?ml\b|\bcinreport [a-z]|\bmake [a-z]|\bsynth\b|synth-like|"
    r"threshold:|allow_low_threshold|pdf_profiles|CINREPORT_|national\.dir|\(s\)|in this PDF")
TECHNICAL_PAGES = ("data_dictionary.html", "provenance.html")   # may speak of files (see the docstring)
TECHNICAL_PDF_PART = "Appendices"                                 # the PDF's part page before them


def developer_words(text: str) -> list[str]:
    """Each developer word in ``text`` with a little context."""
    return [text[max(0, m.start() - 50):m.end() + 30].replace("\n", " ") for m in DEVELOPER_WORDS.finditer(text)]


def visible_text(page: str) -> str:
    """What a reader sees in an HTML page: no scripts, styles or attributes."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def test_developer_words_are_found():
    """The check cannot pass vacuously."""
    for text in ("its params file gives no new_la_code", "made by cinreport synth", "set in params/report.yml",
                 "run make report", "2 practitioner focus group(s)", "marked in this PDF", "threshold: 5"):
        assert developer_words(text), text
    for text in ("synthetic data for fictional authorities", "Rendered by cinreport Synthetic data", "the report's settings",
                 "2 focus groups", "Make sure the plan", "the PDF edition"):
        assert not developer_words(text), text


def _part_page(page: str) -> str:
    """The title of a part page (its only line besides the page number), else ''."""
    lines = [line.strip() for line in page.splitlines() if line.strip() and not line.strip().isdigit()]
    return lines[0] if len(lines) == 1 else ""


@pytest.mark.e2e
def test_book_text_has_no_developer_words_outside_the_technical_appendices(built_project):
    book = built_project / "_book"
    found = []
    for page in sorted(book.glob("*.html")):
        if page.name in TECHNICAL_PAGES:
            continue
        found += [f"{page.name}: …{hit}…" for hit in developer_words(visible_text(page.read_text(encoding="utf-8")))]
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", "-layout", str(book / "cinreport.pdf"), "-"], capture_output=True,
                              text=True, check=True).stdout
        pages = text.split("\f")
        part = next((i for i, p in enumerate(pages) if _part_page(p) == TECHNICAL_PDF_PART), len(pages))
        assert part < len(pages), "the PDF has no Appendices part page"
        reader = " ".join(re.sub(r"-\n\s*", "", p) for p in pages[:part])
        found += [f"PDF: …{hit}…" for hit in developer_words(re.sub(r"\s+", " ", reader))]
    assert not found, "developer words in reader text:\n  " + "\n  ".join(found)
