"""Synthetic status travels with the data (issue 13, item 7).

``synthetic_data`` in params/report.yml drives: the open data's metadata (``.meta.csv``), the
catalogue (``datasets.csv``) and the data index (``data/index.html``); the PDF's cover and running
header; the Preface's and the Methods chapter's statements (Quarto conditional content on the
metadata ``synthetic-data``). With the flag false none of it appears.
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from cinreport.common.opendata import (
    DFE_PUBLISHED,
    SYNTHETIC,
    SYNTHETIC_LABEL,
    Indicator,
    authority_geography,
    national_geography,
    publish,
    write_open_table,
)
from cinreport.national.dfe import read_dfe_csv
from cinreport.render.renderer import (
    ASSETS,
    SYNTHETIC_META,
    WEAKENED_META,
    _pandoc,
    _quarto_commands,
    render_book,
    render_metadata,
)

ROOT = Path(__file__).resolve().parents[1]
PERIOD_END = dt.date(2021, 3, 31)


# -- open data ----------------------------------------------------------------------------------


def _build_open_data(build: Path) -> None:
    """A study table (two fictional authorities) and a table of national figures only."""
    rows = pd.DataFrame({"category": ["Under 5", "5 to 9"], "number": ["12", "c"], "percent": ["60.0", "c"]})
    geo = pd.DataFrame([authority_geography("Authority A", None, PERIOD_END),
                        authority_geography("Authority B", None, PERIOD_END)])
    write_open_table(build / "study", "age-band", "Age of children", "characteristics", rows, geo,
                     {"category": "Age band"},
                     {"number": Indicator("Children"), "percent": Indicator("Per cent of children", "%", 1)})
    national = pd.DataFrame({"factor_code": ["3A"], "england_percent": ["16.1"]})
    write_open_table(build / "study", "national-factors", "Factors, England", "national", national,
                     national_geography("2021"), {"factor_code": "Assessment factor code"},
                     {"england_percent": Indicator("England: per cent of episodes", "%", 1)})


def _rows(path: Path) -> list[dict]:
    return list(csv.DictReader(open(path, encoding="utf-8")))


def test_publish_flags_study_tables_when_synthetic(tmp_path):
    _build_open_data(tmp_path / "build")
    dest = tmp_path / "data"
    publish(tmp_path / "build", dest, synthetic=True)

    meta = _rows(dest / "age-band.meta.csv")
    assert {m["col_name"]: m["label"] for m in meta if m["col_type"] == "Indicator"} == {
        "number": "Children" + SYNTHETIC_LABEL, "percent": "Per cent of children" + SYNTHETIC_LABEL}
    filters = [m for m in meta if m["col_type"] == "Filter"]
    assert filters and all("Synthetic data" in m["filter_hint"] for m in filters)
    assert [m["label"] for m in filters] == ["Age band"]  # filter labels unchanged
    # the project's DfE reader still reads the file with its sidecar, and keeps the flag in the labels
    table = read_dfe_csv(dest / "age-band.csv")
    assert set(table.indicators) == {"number", "percent"}
    assert table.labels["number"] == "Children (synthetic data)"
    # the data file itself is as the chapter wrote it
    assert (dest / "age-band.csv").read_bytes() == (tmp_path / "build/study/open/age-band.csv").read_bytes()

    # DfE's published national figures are real: not flagged
    assert (dest / "national-factors.meta.csv").read_bytes() == \
        (tmp_path / "build/study/open/national-factors.meta.csv").read_bytes()

    catalogue = {r["file_name"]: r for r in _rows(dest / "datasets.csv")}
    assert catalogue["age-band.csv"]["data_status"] == SYNTHETIC
    assert catalogue["national-factors.csv"]["data_status"] == DFE_PUBLISHED

    index = (dest / "index.html").read_text(encoding="utf-8")
    top = index[index.index("<h1>"):index.index("<table>")]
    assert "Synthetic data" in top and "synthetic-notice" in top
    assert "<code>national-factors.csv</code>" in top  # named as the exception
    assert '<th scope="col">Status</th>' in index


def test_publish_says_nothing_when_not_synthetic(tmp_path):
    _build_open_data(tmp_path / "build")
    dest = tmp_path / "data"
    publish(tmp_path / "build", dest)  # synthetic defaults to false
    for name in ("age-band", "national-factors"):
        for suffix in (".csv", ".meta.csv"):
            assert (dest / f"{name}{suffix}").read_bytes() == \
                (tmp_path / f"build/study/open/{name}{suffix}").read_bytes()
    with open(dest / "datasets.csv", encoding="utf-8") as fh:
        assert next(csv.reader(fh)) == ["file_name", "metadata_file", "title", "chapter", "rows"]
    assert "synthetic" not in (dest / "datasets.csv").read_text(encoding="utf-8").lower()
    assert "synthetic" not in (dest / "index.html").read_text(encoding="utf-8").lower()
    assert read_dfe_csv(dest / "age-band.csv").labels["number"] == "Children"


# -- from params to the renderers --------------------------------------------------------------


def _params(root: Path, synthetic: bool | None) -> None:
    (root / "params").mkdir(parents=True, exist_ok=True)
    text = "period_start: 2019-04-01\nperiod_end: 2021-03-31\n"
    if synthetic is not None:
        text += f"synthetic_data: {'true' if synthetic else 'false'}\n"
    (root / "params" / "report.yml").write_text(text, encoding="utf-8")


def test_render_metadata_comes_from_params(tmp_path):
    assert render_metadata(tmp_path) == {SYNTHETIC_META: False, WEAKENED_META: False}  # no params/report.yml
    _params(tmp_path, True)
    assert render_metadata(tmp_path) == {SYNTHETIC_META: True, WEAKENED_META: False}
    assert render_metadata(tmp_path, synthetic=False) == {SYNTHETIC_META: False, WEAKENED_META: False}  # the caller's word wins
    _params(tmp_path, False)
    assert render_metadata(tmp_path) == {SYNTHETIC_META: False, WEAKENED_META: False}
    _params(tmp_path, None)  # README: the default is false
    assert render_metadata(tmp_path) == {SYNTHETIC_META: False, WEAKENED_META: False}


def test_quarto_gets_the_flag_as_metadata():
    assert _quarto_commands("out", {SYNTHETIC_META: True})[0][-2:] == ["-M", "synthetic-data:true"]
    assert _quarto_commands("out", {SYNTHETIC_META: False})[0][-2:] == ["-M", "synthetic-data:false"]
    assert all(c[-2:] == ["-M", "synthetic-data:true"] for c in _quarto_commands("out", {SYNTHETIC_META: True}, "pdf"))


# -- Quarto's conditional content in the fallback renderer --------------------------------------

CONDITIONAL_MD = """\
::: {.content-visible when-meta="synthetic-data"}
SHOWN-WHEN-SYNTHETIC
:::

::: {.content-hidden when-meta="synthetic-data"}
HIDDEN-WHEN-SYNTHETIC
:::

::: {.content-visible unless-meta="synthetic-data"}
SHOWN-UNLESS-SYNTHETIC
:::

::: {.content-visible when-meta="deep.key"}
SHOWN-WHEN-DEEP-KEY
:::

Text [INLINE-WHEN-SYNTHETIC]{.content-visible when-meta="synthetic-data"} end.

::: {.content-visible when-meta="synthetic-data" when-format="html"}
FORMAT-DEPENDENT
:::
"""


def _conditional_content(markdown: str, meta: dict) -> list:
    """What the fallback's chapter filter keeps of ``markdown`` when the build's metadata is ``meta``
    (the blocks after the title it adds)."""
    context = {"label": "", "page": "x.html", "slug": "x", "fallback_title": "X", "book": {}, "build": meta,
               "profiles": []}
    out = _pandoc("test", ["--from=markdown", "--to=json", f"--lua-filter={ASSETS / 'chapter.lua'}"], markdown,
                  env={"CINREPORT_CHAPTER": json.dumps(context)})
    return json.loads(out)["blocks"][1:]


def _texts(blocks) -> str:
    return json.dumps(blocks)


def test_conditional_content_follows_quarto():
    on = _texts(_conditional_content(CONDITIONAL_MD, {"synthetic-data": True, "deep": {"key": True}}))
    off = _texts(_conditional_content(CONDITIONAL_MD, {"synthetic-data": False}))
    assert "SHOWN-WHEN-SYNTHETIC" in on and "SHOWN-WHEN-SYNTHETIC" not in off
    assert "HIDDEN-WHEN-SYNTHETIC" not in on and "HIDDEN-WHEN-SYNTHETIC" in off
    assert "SHOWN-UNLESS-SYNTHETIC" not in on and "SHOWN-UNLESS-SYNTHETIC" in off
    assert "SHOWN-WHEN-DEEP-KEY" in on and "SHOWN-WHEN-DEEP-KEY" not in off
    assert "INLINE-WHEN-SYNTHETIC" in on and "INLINE-WHEN-SYNTHETIC" not in off
    # Quarto tests for boolean true: a string "true" or a missing key does not count
    assert "SHOWN-WHEN-SYNTHETIC" not in _texts(_conditional_content(CONDITIONAL_MD, {"synthetic-data": "true"}))
    assert "SHOWN-WHEN-SYNTHETIC" not in _texts(_conditional_content(CONDITIONAL_MD, {}))
    # a shown Div is replaced by its content, a shown Span loses the classes and conditions
    first = CONDITIONAL_MD.split("\n\n")[0]
    assert [b["t"] for b in _conditional_content(first, {"synthetic-data": True})] == ["Para"]
    para = _conditional_content(CONDITIONAL_MD.split("\n\n")[4], {"synthetic-data": True})[0]
    span = next(i for i in para["c"] if i["t"] == "Span")
    assert span["c"][0] == ["", [], []]
    # a condition on the output format is left alone once the metadata allows it; dropped if not
    assert "FORMAT-DEPENDENT" in on and "FORMAT-DEPENDENT" not in off


# -- the rendered book: preface, methods, PDF, data ----------------------------------------------

QUARTO_YML = """\
project:
  type: book
book:
  title: "Flag test book"
  author: "cinreport tests"
  chapters:
    - index.qmd
    - report/methods.qmd
    - report/more.qmd
lang: en-GB
"""


def _book(root: Path, synthetic: bool) -> Path:
    """The project's own Preface and Methods chapter, one more chapter, a study table and params."""
    (root / "report").mkdir(parents=True, exist_ok=True)
    (root / "_quarto.yml").write_text(QUARTO_YML, encoding="utf-8")
    shutil.copyfile(ROOT / "index.qmd", root / "index.qmd")
    # the Methods chapter's notes that carry the flag, as its notebook shows them
    from cinreport.chapters.study import METHODS_NOTES
    (root / "report" / "methods.qmd").write_text(f"# Methods {{#sec-methods}}\n\n{METHODS_NOTES}\n", encoding="utf-8")
    shutil.copyfile(ROOT / "report" / "style.css", root / "report" / "style.css")
    (root / "report" / "more.qmd").write_text("# More\n\nA second page.\n\n" + "Text. " * 400 + "\n",
                                              encoding="utf-8")
    _params(root, synthetic)
    if not (root / "build").exists():
        _build_open_data(root / "build")
    summary = root / "build" / "study" / "summary.md"  # the generated summary index.qmd includes
    summary.parent.mkdir(parents=True, exist_ok=True)
    summary.write_text("## Key findings\n\nA finding.\n", encoding="utf-8")
    return root


def _render(root: Path, out: Path, cache: Path, typst_source: dict) -> str:
    """Render with the fallback; return the Typst source it compiled, white space collapsed."""
    render_book(root, out, renderer="pandoc-typst", cache_dir=cache)
    return re.sub(r"\s+", " ", typst_source["source"])  # Pandoc wraps long lines


def _pdf_pages(pdf: Path) -> list[str] | None:
    if not shutil.which("pdftotext"):
        return None
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    return text.rstrip("\f").split("\f")


def _visible(html: str) -> str:
    """The page's text without tags or comments."""
    return re.sub(r"\s+", " ", re.sub(r"<!--.*?-->|<[^>]+>", " ", html, flags=re.S))


def test_rendered_book_carries_the_flag_only_when_synthetic(tmp_path, typst_source):
    """One book rendered twice through the same render cache: flag true, then false (params)."""
    root = tmp_path / "book"
    cache = tmp_path / "cache"

    _book(root, synthetic=True)
    source = _render(root, tmp_path / "on", cache, typst_source)
    on = tmp_path / "on"
    preface = _visible((on / "index.html").read_text(encoding="utf-8"))
    methods = _visible((on / "methods.html").read_text(encoding="utf-8"))
    assert "Synthetic data" in preface and "built from synthetic data" in preface
    assert "The data in this build are synthetic." in methods
    assert "Demonstration build" not in preface
    # PDF: the cover and the running header
    cover = source[source.index("#page(header: none, footer: none"):source.index("#outline(")]
    assert "Synthetic data" in cover and "describe no real child" in cover
    header = source[source.index("header: context {"):source.index("footer: context")]
    assert "Synthetic data" in header
    pages = _pdf_pages(on / "cinreport.pdf")
    if pages is not None:
        assert "Synthetic data" in pages[0]
        body = [p for p in pages[1:] if p.strip()]
        assert body and all("Synthetic data" in p.strip().splitlines()[0] for p in body)
    # the open data in the book
    assert "data_status" in (on / "data" / "datasets.csv").read_text(encoding="utf-8")
    assert SYNTHETIC_LABEL in (on / "data" / "age-band.meta.csv").read_text(encoding="utf-8")
    assert "synthetic-notice" in (on / "data" / "index.html").read_text(encoding="utf-8")

    _book(root, synthetic=False)  # only params/report.yml changes; chapters come from the cache
    source = _render(root, tmp_path / "off", cache, typst_source)
    off = tmp_path / "off"
    for page in ("index.html", "methods.html"):
        text = (off / page).read_text(encoding="utf-8")
        assert "synthetic" not in text.lower(), page
    assert "synthetic" not in source.lower()
    pages = _pdf_pages(off / "cinreport.pdf")
    if pages is not None:
        assert "synthetic" not in "\n".join(pages).lower()
    for name in ("datasets.csv", "age-band.meta.csv", "index.html"):
        assert "synthetic" not in (off / "data" / name).read_text(encoding="utf-8").lower(), name
    # the rest of the preface is there
    assert "research questions" in _visible((off / "index.html").read_text(encoding="utf-8"))


@pytest.mark.e2e
def test_demo_build_is_flagged_synthetic(built_project):
    """The demo (synthetic_data: true): preface, methods, data and the PDF's first page say so."""
    book = built_project / "_book"
    assert "Synthetic data" in _visible((book / "index.html").read_text(encoding="utf-8"))
    assert "The data in this build are synthetic." in _visible((book / "methods.html").read_text(encoding="utf-8"))
    catalogue = _rows(book / "data" / "datasets.csv")
    statuses = {r["file_name"]: r["data_status"] for r in catalogue}
    assert statuses["age-band.csv"] == SYNTHETIC
    assert all(s == SYNTHETIC for f, s in statuses.items() if not f.startswith("national-"))  # DfE's own tables
    assert SYNTHETIC_LABEL in (book / "data" / "age-band.meta.csv").read_text(encoding="utf-8")
    assert "synthetic-notice" in (book / "data" / "index.html").read_text(encoding="utf-8")
    pages = _pdf_pages(book / "cinreport.pdf")
    if pages is not None:
        assert "Synthetic data" in pages[0]
