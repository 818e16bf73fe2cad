"""The book renderer (Pandoc + Typst fallback), on a tiny real book with executed notebooks."""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output  # noqa: E402

from cinreport.render.renderer import (
    RenderError,
    book_chapters,
    detect_renderer,
    page_names,
    render_book,
    renderer_description,
)

CODE = "from IPython.display import display, Markdown\ndisplay(Markdown(chapter_text))"
STDERR = "FutureWarning: SECRET-STDERR-TEXT"

QUARTO_YML = """\
project:
  type: book
  output-dir: _book
profile:
  default: authorities
book:
  title: "Tiny test book"
  subtitle: "A book made by the tests"
  author: "cinreport tests"
  chapters:
    - index.qmd
    - part: "Findings"
      chapters:
        - build/study/reasons.ipynb
        - build/study/support.ipynb
    - report/limitations.qmd
  appendices:
    - report/extra.qmd
lang: en-GB
"""

PROFILE_YML = """\
book:
  chapters:
    - part: "Authorities"
      chapters:
        - build/authorities/la-a/authority.ipynb
"""


# Quarto callouts: a title attribute, a heading as the title, the default title; one of each kind.
CALLOUTS = """\
::: {.callout-important title="Key finding"}
Plans lasted longer in AUTHORITY-B-CALLOUT-TEXT.
:::

::: {.callout-tip}
## Heading as title

Tip body text.
:::

::: callout-note
Note body without a title.
:::

::: {.callout-warning title="Careful"}
Warning body.
:::
"""


def _write_notebook(path: Path, title: str, figure: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.parent / "figures").mkdir(exist_ok=True)
    fig, ax = plt.subplots(figsize=(4, 2.5))
    ax.bar(["a", "b", "c"], [3, 5, 2])
    fig.savefig(path.parent / "figures" / f"{figure}.png", dpi=60)
    plt.close(fig)
    png_b64 = base64.b64encode((path.parent / "figures" / f"{figure}.png").read_bytes()).decode()
    markdown = (
        f"# {title}\n\nThis chapter describes {title.lower()}.\n\n"
        "## Overview\n\n| Authority | Plans |\n|---|---:|\n| LA A | 12 |\n| LA B | c |\n\n"
        f'![Plans by authority]({"figures/" + figure + ".png"}){{#fig-{figure} fig-alt="Bar chart of plans"}}\n\n'
        "## Detail\n\nMore text.\n"
    )
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        new_markdown_cell("Intro paragraph from a markdown cell."),
        new_code_cell(
            CODE,
            execution_count=1,
            outputs=[
                new_output(
                    "display_data",
                    data={"text/markdown": markdown, "text/plain": "<IPython.core.display.Markdown object>"},
                ),
                new_output("stream", name="stderr", text=STDERR + "\n"),
                new_output("execute_result", data={"text/plain": "<matplotlib.figure.Figure at 0x7f00>"}, execution_count=1),
            ],
        ),
        new_code_cell(
            "fig",
            execution_count=2,
            outputs=[
                new_output(
                    "display_data",
                    data={"image/png": png_b64, "text/plain": "<Figure size 400x250 with 1 Axes>"},
                )
            ],
        ),
    ]
    nbformat.write(nb, path)


def _make_book(root: Path) -> Path:
    (root / "report").mkdir(parents=True)
    (root / "_quarto.yml").write_text(QUARTO_YML)
    (root / "_quarto-authorities.yml").write_text(PROFILE_YML)
    shutil.copyfile(Path(__file__).resolve().parents[1] / "report" / "style.css", root / "report" / "style.css")
    (root / "index.qmd").write_text("# Preface {.unnumbered}\n\nWelcome. See @fig-plans-reasons.\n")
    (root / "report" / "limitations.qmd").write_text(
        "---\ntitle: Limitations\n---\n\nThe sample is small.\n\n## Sampling\n\nText.\n\n" + CALLOUTS
    )
    wide = "| " + " | ".join(f"Column heading {i}" for i in range(14)) + " |\n"
    wide += "|" + "---|" * 14 + "\n" + "| " + " | ".join("a rather long cell value" for _ in range(14)) + " |\n"
    (root / "report" / "extra.qmd").write_text(
        "# Extra tables\n\n## More\n\nAppendix text.\n\n" + wide + "\n: A wide table {#tbl-wide}\n"
    )
    _write_notebook(root / "build/study/reasons.ipynb", "Reasons for plans", "plans-reasons")
    _write_notebook(root / "build/study/support.ipynb", "Support provided", "plans-support")
    _write_notebook(root / "build/authorities/la-a/authority.ipynb", "Authority A", "plans-la-a")
    return root


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _pdf_pages(pdf: Path) -> int:
    if shutil.which("pdfinfo"):
        out = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
        return int(re.search(r"^Pages:\s+(\d+)", out, re.M).group(1))
    return len(re.findall(rb"/Type\s*/Page(?!s)", pdf.read_bytes()))


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs: list[dict] = []
        self.html_lang = None
        self.nav_links: list[str] = []
        self.current: list[str] = []
        self._in_nav = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html":
            self.html_lang = a.get("lang")
        if tag == "nav" and "sidebar" in (a.get("class") or ""):
            self._in_nav = True
        if tag == "a" and self._in_nav:
            self.nav_links.append(a["href"])
            if a.get("aria-current") == "page":
                self.current.append(a["href"])
        if tag == "img":
            self.imgs.append(a)

    def handle_endtag(self, tag):
        if tag == "nav":
            self._in_nav = False


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    return _make_book(tmp_path_factory.mktemp("book"))


@pytest.fixture(scope="module")
def rendered(book):
    return render_book(book, book / "_book", renderer="pandoc-typst")


EXPECTED = [
    ("index.qmd", None, False, ""),
    ("build/study/reasons.ipynb", "Findings", False, "1"),
    ("build/study/support.ipynb", "Findings", False, "2"),
    ("report/limitations.qmd", None, False, "3"),
    ("build/authorities/la-a/authority.ipynb", "Authorities", False, "4"),
    ("report/extra.qmd", None, True, "A"),
]


def test_book_chapters_order_parts_and_labels(book):
    chapters = book_chapters(book)
    got = [(c.path.as_posix(), c.part, c.appendix, c.label) for c in chapters]
    assert got == EXPECTED
    assert [c.number for c in chapters] == [None, 1, 2, 3, 4, 1]
    assert page_names(chapters) == [
        "index.html", "reasons.html", "support.html", "limitations.html", "la-a.html", "extra.html",
    ]


def test_book_chapters_without_profile_file(tmp_path):
    root = _make_book(tmp_path / "b")
    (root / "_quarto-authorities.yml").unlink()
    assert [c.path.name for c in book_chapters(root)] == [
        "index.qmd", "reasons.ipynb", "support.ipynb", "limitations.qmd", "extra.qmd",
    ]


def test_missing_chapter_file_is_named(tmp_path):
    root = _make_book(tmp_path / "b")
    (root / "build/study/support.ipynb").unlink()
    with pytest.raises(RenderError, match="build/study/support.ipynb"):
        book_chapters(root)


def test_renderer_detection_and_description():
    assert detect_renderer() in ("quarto", "pandoc-typst")
    text = renderer_description("pandoc-typst")
    assert re.match(r"Pandoc \d+\.\d+.* and Typst \d+\.\d+", text)


def test_html_pages(rendered, book):
    out = book / "_book"
    assert rendered.html_index == out / "index.html"
    names = ["index.html", "reasons.html", "support.html", "limitations.html", "la-a.html", "extra.html"]
    assert sorted(p.name for p in rendered.pages) == sorted(names)
    css = out / "style.css"
    assert css.is_file() and css.stat().st_size > 0
    for name in names:
        text = (out / name).read_text(encoding="utf-8")
        parser = _Collect()
        parser.feed(text)
        assert parser.html_lang == "en-GB", name
        assert parser.nav_links == names, name
        assert parser.current == [name], name
        assert 'href="style.css"' in text
        assert "display(Markdown(" not in text and "from IPython" not in text, name
        assert "SECRET-STDERR-TEXT" not in text, name
        assert "<IPython.core.display" not in text and "matplotlib.figure.Figure" not in text, name
        assert "Pandoc" in text and "Typst" in text  # footer names the renderer
        assert "http://" not in text.replace('xmlns="http://www.w3.org/1998/Math/MathML"', "")
        assert "https://" not in text
        for img in parser.imgs:
            assert img.get("alt"), (name, img)
            assert (out / unquote(img["src"])).is_file(), (name, img["src"])
    reasons = (out / "reasons.html").read_text(encoding="utf-8")
    assert "<table" in reasons and "LA B" in reasons
    assert 'alt="Bar chart of plans"' in reasons
    assert "Figure 1.1" in reasons  # numbered figure caption
    assert re.search(r'header-section-number">1\.1<', reasons)  # section numbers under chapter 1
    assert "Intro paragraph from a markdown cell." in reasons
    assert 'rel="prev" href="index.html"' in reasons and 'rel="next" href="support.html"' in reasons
    assert "Findings" in reasons and "Appendices" in reasons and "Authorities" in reasons
    # index.qmd is unnumbered; its @fig reference became a link to the other page
    index = (out / "index.html").read_text(encoding="utf-8")
    assert 'href="reasons.html#fig-plans-reasons"' in index and "Figure 1.1" in index
    extra = (out / "extra.html").read_text(encoding="utf-8")
    assert 'header-section-number">A<' in extra and "Table A.1: A wide table" in extra
    assert "Limitations" in (out / "limitations.html").read_text(encoding="utf-8")


def test_pdf(rendered, book):
    pdf = rendered.pdf
    assert pdf == book / "_book" / "cinreport.pdf"
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    assert _pdf_pages(pdf) > 3  # title/contents, part pages, chapters
    assert not (book / "_book" / ".cinreport.typ").exists()
    assert not list(book.glob(".tmp-*")) and not list(book.glob(".old-*"))


def test_failed_render_keeps_previous_book(rendered, book, tmp_path):
    out = book / "_book"
    before = _tree(out)
    assert before
    broken = tmp_path / "broken"
    shutil.copytree(book, broken, ignore=shutil.ignore_patterns("_book"))
    (broken / "build/study/support.ipynb").write_text("{ not json", encoding="utf-8")
    with pytest.raises(RenderError, match="support.ipynb"):
        render_book(broken, out, renderer="pandoc-typst")
    assert _tree(out) == before
    assert not list(book.glob(".tmp-*"))

    # a missing image is an error naming the chapter, not a silently broken page
    broken2 = tmp_path / "broken2"
    shutil.copytree(book, broken2, ignore=shutil.ignore_patterns("_book"))
    (broken2 / "build/authorities/la-a/figures/plans-la-a.png").unlink()
    with pytest.raises(RenderError, match="authority.ipynb"):
        render_book(broken2, out, renderer="pandoc-typst")
    assert _tree(out) == before


def test_typst_failure_names_the_chapter(rendered, book, tmp_path):
    out = book / "_book"
    before = _tree(out)
    broken = tmp_path / "broken"
    shutil.copytree(book, broken, ignore=shutil.ignore_patterns("_book"))
    (broken / "report/limitations.qmd").write_text("# Limits\n\n```{=typst}\n#foo(\n```\n")
    with pytest.raises(RenderError, match=r"Typst.*report/limitations\.qmd"):
        render_book(broken, out, renderer="pandoc-typst")
    assert _tree(out) == before


def test_rerender_replaces_previous_book(book, tmp_path):
    out = tmp_path / "site"
    out.mkdir()
    (out / "stale.html").write_text("old")
    result = render_book(book, out, renderer="pandoc-typst")
    assert not (out / "stale.html").exists()
    assert result.html_index.is_file() and result.pdf.is_file()
    assert not list(tmp_path.glob(".tmp-*")) and not list(tmp_path.glob(".old-*"))


# --- callouts, downloads, accessible tables -------------------------------------------------


def _callout_html(text: str) -> list[tuple[str, str, str]]:
    """(kind, title, body text) of each fallback callout in a page."""
    found = re.findall(
        r'<div class="callout callout-(\w+)"[^>]*>\s*<div class="callout-title">\s*(.*?)\s*</div>\s*'
        r'<div class="callout-body">\s*(.*?)\s*</div>\s*</div>', text, re.S)
    return [(kind, re.sub(r"\s+", " ", title), re.sub(r"<[^>]+>|\s+", " ", body).strip()) for kind, title, body in found]


def test_callouts_in_html(rendered, book):
    text = (book / "_book" / "limitations.html").read_text(encoding="utf-8")
    assert _callout_html(text) == [
        ("important", "Key finding", "Plans lasted longer in AUTHORITY-B-CALLOUT-TEXT."),
        ("tip", "Heading as title", "Tip body text."),
        ("note", "Note", "Note body without a title."),
        ("warning", "Careful", "Warning body."),
    ]
    # the heading that became a title is neither a numbered section nor in the page contents
    assert not re.search(r"<h\d[^>]*>(?:(?!</h\d>).)*Heading as title", text, re.S)
    toc = re.search(r'<nav class="page-toc".*?</nav>', text, re.S).group(0)
    assert " ".join(re.sub(r"<[^>]+>", " ", toc).split()) == "On this page 3.1 Sampling" and "3.2" not in text
    css = (book / "_book" / "style.css").read_text(encoding="utf-8")
    for kind in ("note", "tip", "important", "warning"):
        assert f".callout-{kind}" in css


def test_pdf_source_callouts_and_tables(book, tmp_path, typst_source):
    """The Typst source gives each callout its kind and title (read as it is compiled)."""
    render_book(book, tmp_path / "out", renderer="pandoc-typst")
    source = typst_source["source"]
    assert "#let callout(" in source
    assert '#callout(kind: "important", title: [Key finding])[' in source  # titles: Typst content, escaped by Pandoc
    assert '#callout(kind: "tip", title: [Heading as title])[' in source
    assert '#callout(kind: "note", title: [Note])[' in source
    assert '#callout(kind: "warning", title: [Careful])[' in source
    # short tables are kept on one page; the 14-column appendix table is sized by its content
    assert source.count("#block(breakable: false, width: 100%)[") == 4  # 3 chapter tables + the wide one
    assert "columns: 14," in source  # auto widths, not fractions from the pipe table


def test_every_page_links_the_pdf_and_the_open_data(rendered, book):
    out = book / "_book"
    assert (out / "data" / "index.html").is_file()  # written by the open-data step during the render
    for page in rendered.pages:
        text = page.read_text(encoding="utf-8")
        nav = re.search(r'<nav class="downloads" aria-label="Downloads">(.*?)</nav>', text, re.S)
        assert nav, page.name
        assert re.findall(r'href="([^"]+)"', nav.group(1)) == ["cinreport.pdf", "data/index.html"], page.name


def test_downloads_link_data_only_where_it_exists(tmp_path):
    from cinreport.render.renderer import _downloads

    assert [href for href, _ in _downloads(tmp_path)] == ["cinreport.pdf"]
    (tmp_path / "data").mkdir()
    assert [href for href, _ in _downloads(tmp_path)] == ["cinreport.pdf", "data/"]
    (tmp_path / "data" / "index.html").write_text("<!DOCTYPE html>", encoding="utf-8")
    assert [href for href, _ in _downloads(tmp_path)] == ["cinreport.pdf", "data/index.html"]


def test_tables_sit_in_named_focusable_regions(rendered, book):
    extra = (book / "_book" / "extra.html").read_text(encoding="utf-8")
    assert re.search(r'<div class="table-wrap" role="region" tabindex="0"\s+aria-label="Table A.1: A wide table">\s*<table',
                     extra)
    reasons = (book / "_book" / "reasons.html").read_text(encoding="utf-8")
    labels = re.findall(r'class="table-wrap" role="region" tabindex="0"\s+aria-label="([^"]+)"', reasons)
    assert labels == ["Table in 1.1 Overview"]  # no caption: named after its section
    assert "<thead>" in reasons and "<th" in reasons


def _typst_of(blocks: list, folder: Path) -> str:
    """The Typst that typst.lua and Pandoc write for one chapter of these blocks (run in ``folder``)."""
    import json

    from cinreport.render.renderer import ASSETS, _pandoc

    chapter = {"t": "Div", "c": [["", ["cinreport-chapter"], [["page", "x.html"], ["path", "x.qmd"], ["group", ""]]], blocks]}
    doc = {"pandoc-api-version": [1, 23, 1], "blocks": [chapter],
           "meta": {"cinreport-book": {"t": "MetaString", "c": json.dumps({"targets": {}, "links": {}})}}}
    return _pandoc("test", ["--from=json", "--to=typst", f"--lua-filter={ASSETS / 'typst.lua'}"], json.dumps(doc),
                   cwd=folder)


def test_pdf_figure_width_keeps_tall_figures_off_a_whole_page(tmp_path):
    """A figure is as wide as the text unless that makes it taller than 10.5 cm (A4, 2.2 cm margins)."""
    text_width_cm, max_height_cm = 21.0 - 2 * 2.2, 10.5
    sizes = {"wide": (8, 3), "tall": (5, 8), "square": (6, 6)}
    for name, size in sizes.items():
        fig, ax = plt.subplots(figsize=size)
        ax.plot([0, 1], [0, 1])
        fig.savefig(tmp_path / f"{name}.png", dpi=50)
        plt.close(fig)
    images = [{"t": "Para", "c": [{"t": "Image", "c": [["", [], []], [], [f"{name}.png", ""]]}]}
              for name in [*sizes, "missing"]]
    typst_text = _typst_of(images, tmp_path)
    widths = dict(zip([*sizes, "missing"], map(float, re.findall(r'image\("[^"]+", width: ([\d.]+)%\)', typst_text))))
    assert widths["wide"] == 100 and widths["missing"] == 100
    for name in ("tall", "square"):
        w, h = sizes[name]
        height_cm = widths[name] / 100 * text_width_cm * h / w
        assert height_cm == pytest.approx(max_height_cm, abs=0.2), name


# --- the PDF as a reader sees it (text extracted with pdftotext) ------------------------------


def _pdf_text_pages(pdf: Path) -> list[str]:
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (poppler-utils) is not installed")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return text.split("\f")[:-1] if text.endswith("\f") else text.split("\f")


def _words(text: str) -> str:
    """Letters and digits only: line breaks, hyphenation, quotes and spacing do not matter."""
    return re.sub(r"[\W_]+", "", text).lower()


def _folio(page: str) -> str:
    """The page number printed at the foot of a page ("" on the title page)."""
    lines = [line.strip() for line in page.splitlines() if line.strip()]
    return lines[-1] if lines and re.fullmatch(r"[ivxlc]+|\d+", lines[-1]) else ""


def _check_pdf_contents(pages: list[str], chapters: list[str]) -> None:
    """Title page, then a contents page listing every chapter with the page it starts on, numbered
    pages with a running header naming the chapter."""
    contents = [i for i, page in enumerate(pages) if re.search(r"^\s*Contents\s*$", page, re.M)]
    assert contents and contents[0] == 1, "the contents should follow the title page"
    assert _folio(pages[0]) == "" and _folio(pages[1]) == "i"
    toc = "\n".join(pages[i] for i in range(1, len(pages)) if "Contents" in pages[i].splitlines()[0])
    for title in chapters:
        entry = re.search(rf"^\s*{re.escape(title)}[\s.\u2060]*?(\d+)\s*$", toc, re.M)
        assert entry, f"contents has no entry for {title!r}"
        starts = [i for i, page in enumerate(pages) if i > contents[-1]
                  and re.search(rf"^\s*{re.escape(title)}\s*$", page, re.M)]
        assert starts, f"no page starts chapter {title!r}"
        assert _folio(pages[starts[0]]) == entry.group(1), f"{title!r}: contents says page {entry.group(1)}"
        assert title in pages[starts[0]].splitlines()[0], f"{title!r}: running header on its first page"


def test_pdf_text_has_title_contents_numbers_and_callouts(rendered, book):
    pages = _pdf_text_pages(rendered.pdf)
    assert "Tiny test book" in pages[0] and "A book made by the tests" in pages[0]
    _check_pdf_contents(pages, ["1 Reasons for plans", "2 Support provided", "3 Limitations", "A Extra tables"])
    text = _words("\n".join(pages))
    for phrase in ("Key finding", "Plans lasted longer in AUTHORITY-B-CALLOUT-TEXT.", "Heading as title",
                   "Note body without a title", "Figure 1.1", "Table A.1: A wide table"):
        assert _words(phrase) in text, phrase


@pytest.mark.e2e
def test_built_pdf_has_contents_and_every_key_finding(built_project):
    """The demo book's PDF: contents with correct page numbers, and each key finding's sentence."""
    import json

    pages = _pdf_text_pages(built_project / "_book" / "cinreport.pdf")
    contents = "\n".join(page for page in pages[1:4] if "Contents" in page.splitlines()[0])
    chapters = [re.sub(r"[\s.\u2060]*\d+$", "", line.strip()) for line in contents.splitlines()
                if re.match(r"^\s*(\d+|[A-Z]) [A-Z]", line)]
    assert len(chapters) >= 10 and any(re.fullmatch(r"\d+ Key findings", c) for c in chapters), chapters
    _check_pdf_contents(pages, chapters)
    findings = json.loads((built_project / "build" / "study" / "findings.json").read_text(encoding="utf-8"))
    start = next(i for i, page in enumerate(pages) if re.search(r"^\s*\d+ Key findings\s*$", page, re.M)
                 and i > 2)
    text = _words("\n".join(pages[start:]))
    quoted = [f for f in findings["findings"] if f.get("holds", True)]
    assert quoted
    for finding in quoted:
        assert _words(finding["sentence"]) in text, f"key finding {finding['id']} not in the PDF"


def _cached_book(root: Path, support_figures: int) -> Path:
    """A book whose chapters the cache keeps prepared (no media embedded): the preface cites a
    figure of the support chapter and links to it, so its page depends on that chapter's numbering."""
    if not (root / "_quarto.yml").exists():
        (root / "report").mkdir(parents=True)
        (root / "_quarto.yml").write_text(QUARTO_YML)
        (root / "_quarto-authorities.yml").write_text(PROFILE_YML)
        (root / "report" / "limitations.qmd").write_text("# Limitations\n\nSmall.\n")
        (root / "report" / "extra.qmd").write_text("# Extra\n\nMore.\n")
        (root / "index.qmd").write_text("# Preface {.unnumbered}\n\nSee @fig-target and "
                                        "[the support chapter](build/study/support.ipynb#sec-detail).\n")
        for rel, figure in (("build/study/reasons.ipynb", "r"), ("build/authorities/la-a/authority.ipynb", "a")):
            _write_markdown_notebook(root / rel, f"Chapter {figure}", f"![Chart {figure}](figures/{figure}.png){{#fig-{figure}}}")
    extra = "".join(f"![Extra {i}](figures/extra.png){{#fig-extra-{i}}}\n\n" for i in range(support_figures))
    _write_markdown_notebook(root / "build/study/support.ipynb", "Support provided",
                             extra + "![Target](figures/target.png){#fig-target}\n\n## Detail {#sec-detail}\n\nText.")
    return root


def _write_markdown_notebook(path: Path, title: str, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.parent / "figures").mkdir(exist_ok=True)
    for name in ("r", "a", "target", "extra"):
        fig, ax = plt.subplots(figsize=(2, 1.5))
        ax.plot([1, 2], [len(name), 1])
        fig.savefig(path.parent / "figures" / f"{name}.png", dpi=40)
        plt.close(fig)
    nb = new_notebook()
    nb.cells = [new_code_cell("show()", execution_count=1, outputs=[new_output(
        "display_data", data={"text/markdown": f"# {title}\n\n{body}\n", "text/plain": "<Markdown>"})])]
    nbformat.write(nb, path)


def test_a_cached_render_is_the_same_book_as_a_fresh_one_after_a_chapter_changes(tmp_path):
    """Chapters kept prepared in the cache, and pages whose links point into a changed chapter, are
    rendered again exactly as a render without any cache would."""
    root = _cached_book(tmp_path / "book", support_figures=0)
    cache = tmp_path / "cache"
    render_book(root, tmp_path / "first", renderer="pandoc-typst", cache_dir=cache)
    assert "Figure 2.1" in (tmp_path / "first" / "index.html").read_text()
    prepared = len(list(cache.iterdir()))

    _cached_book(root, support_figures=2)  # the cited figure is now 2.3
    render_book(root, tmp_path / "cached", renderer="pandoc-typst", cache_dir=cache)
    render_book(root, tmp_path / "fresh", renderer="pandoc-typst")
    assert "Figure 2.3" in (tmp_path / "cached" / "index.html").read_text()
    assert _tree(tmp_path / "cached") == _tree(tmp_path / "fresh")
    assert len(list(cache.iterdir())) == prepared  # the old entries were pruned, new ones kept

    render_book(root, tmp_path / "again", renderer="pandoc-typst", cache_dir=cache)  # nothing changed
    assert _tree(tmp_path / "again") == _tree(tmp_path / "fresh")

    (root / "build/authorities/la-a/figures/a.png").unlink()  # an image gone: named, even from the cache
    with pytest.raises(RenderError, match=r"build/authorities/la-a/authority.ipynb: image not found: figures/a.png"):
        render_book(root, tmp_path / "broken", renderer="pandoc-typst", cache_dir=cache)
    assert not (tmp_path / "broken").exists()


def test_a_markdown_chapter_includes_files_as_quarto_does(tmp_path):
    from cinreport.render.renderer import RenderError, expand_includes

    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "part.md").write_text("## Part {.unnumbered}\n\nSee @sec-x.\n", encoding="utf-8")
    (tmp_path / "index.qmd").write_text("# Summary\n\n{{< include build/part.md >}}\n\nAfter.\n", encoding="utf-8")
    assert expand_includes(tmp_path / "index.qmd") == "# Summary\n\n## Part {.unnumbered}\n\nSee @sec-x.\n\nAfter.\n"
    (tmp_path / "other.qmd").write_text("{{< include build/missing.md >}}\n", encoding="utf-8")
    with pytest.raises(RenderError, match="includes build/missing.md, which does not exist"):
        expand_includes(tmp_path / "other.qmd")



def _cell(source: str, count: int, markdown: str):
    return new_code_cell(source, execution_count=count, outputs=[new_output(
        "display_data", data={"text/markdown": markdown, "text/plain": "<Markdown>"})])


def test_cell_options_label_and_caption_a_cells_table_and_figure_as_quarto_does(tmp_path):
    """``#| label: tbl-…`` / ``#| tbl-cap:`` and ``#| label: fig-…`` / ``#| fig-cap:`` / ``#| fig-alt:``
    make the cell's output a numbered, captioned, cross-referenced table or figure, in HTML and PDF;
    an image's own ``fig-alt`` (set by the data) wins over the cell's."""
    root = _make_book(tmp_path / "book")
    nb = new_notebook()
    nb.cells = [
        new_markdown_cell("# Support provided\n\nSee @tbl-cells, @fig-cells and @fig-own."),
        _cell('#| label: tbl-cells\n#| tbl-cap: "Plans by *kind*: from the cell"\nshow(study.t())', 1,
              "| Kind | Plans |\n|:---|---:|\n| A | 12 |\n| B | c |\n\n`c` = suppressed."),
        _cell('#| label: fig-cells\n#| fig-cap: "Plans drawn, from the cell"\n#| fig-alt: "Static description."\n'
              "show(study.f())", 2, "![](figures/plans-support.png)"),
        _cell('#| label: fig-own\n#| fig-cap: "Second figure"\n#| fig-alt: "Static."\nshow(study.g())', 3,
              '![](figures/plans-support.png){fig-alt="Described by the data."}'),
    ]
    nbformat.write(nb, root / "build/study/support.ipynb")
    out = tmp_path / "out"
    render_book(root, out, renderer="pandoc-typst")
    page = " ".join((out / "support.html").read_text(encoding="utf-8").split())
    assert re.search(r'<table[^>]*>\s*<caption>Table 2\.1: Plans by <em>kind</em>: from the cell</caption>', page) \
        or '<caption>Table 2.1: Plans by <em>kind</em>: from the cell</caption>' in page
    assert 'id="tbl-cells"' in page
    assert '<figure id="fig-cells">' in page and "<figcaption>Figure 2.1: Plans drawn, from the cell</figcaption>" in page
    assert 'alt="Static description."' in page and 'alt="Described by the data."' in page
    assert "<figcaption>Figure 2.2: Second figure</figcaption>" in page
    for ref, text in (("tbl-cells", "Table 2.1"), ("fig-cells", "Figure 2.1"), ("fig-own", "Figure 2.2")):
        assert re.search(rf'<a href="(support\.html)?#{ref}"[^>]*>{text}</a>', page), ref
    assert "#|" not in page and "show(study" not in page
    if shutil.which("pdftotext"):
        text = _words(" ".join(_pdf_text_pages(out / "cinreport.pdf")))
        for caption in ("Table 2.1: Plans by kind: from the cell", "Figure 2.1: Plans drawn, from the cell",
                        "Figure 2.2: Second figure", "See Table 2.1, Figure 2.1 and Figure 2.2"):
            assert _words(caption) in text, caption


# --- PDF layout: a chart keeps its caption; table labels are not hyphenated ------------------------


def _image_pages(pdf: Path) -> list[int]:
    out = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
    return [int(line.split()[0]) for line in out.splitlines()[2:] if line.split() and line.split()[2] == "image"]


CHARTS = 16


def test_pdf_keeps_each_chart_with_its_caption_and_does_not_hyphenate_table_labels(tmp_path):
    """Charts after paragraphs of every length (so that some fall at a page foot): each caption is on
    the page of its chart; a narrow table stub keeps words such as 'disability' whole."""
    if not (shutil.which("pdfimages") and shutil.which("pdftotext")):
        pytest.skip("poppler-utils (pdfimages, pdftotext) are not installed")
    root = _cached_book(tmp_path / "book", 0)
    sentence = "This sentence fills the page so that charts land at different heights on it. "
    body = "".join(f"{sentence * (2 + 3 * i)}\n\n![Chart number {i + 1}](figures/extra.png){{#fig-chart-{i}}}\n\n"
                   for i in range(CHARTS))
    stub = ["Parent's disability or illness", "Child's disability or illness", "Socially unacceptable behaviour"]
    table = ("| Need | " + " | ".join(f"Authority {c} (n) | Authority {c} (%)" for c in "ABCD") + " |\n|---|"
             + "---:|" * 8 + "\n" + "".join(f"| {s} | " + " | ".join(["12 | 34%"] * 4) + " |\n" for s in stub))
    _write_markdown_notebook(root / "build/study/support.ipynb", "Support provided",
                             body + table + "\n: Needs by authority {#tbl-needs}\n\n"
                             "![Target](figures/target.png){#fig-target}\n\n## Detail {#sec-detail}\n\nText.")
    render_book(root, tmp_path / "out", renderer="pandoc-typst")
    pdf = tmp_path / "out" / "cinreport.pdf"
    pages = _pdf_text_pages(pdf)
    image_pages = _image_pages(pdf)
    chapter = next(i for i, p in enumerate(pages) if re.search(r"^\s*2 Support provided\s*$", p, re.M)) + 1
    charts = [p for p in image_pages if p >= chapter][:CHARTS]
    assert len(charts) == CHARTS
    for i, page in enumerate(charts, start=1):
        caption = [n for n, text in enumerate(pages, start=1) if re.search(rf"Chart number {i}\b", text)]
        assert caption == [page], f"Figure 2.{i}: chart on page {page}, caption on page(s) {caption}"
    text = "\n".join(pages)
    assert not re.search(r"\b(dis|disabil|behav|unaccept)-\s*$", text, re.M), "a table label is hyphenated"
    table = text[text.index("Needs by authority"):]
    for word in ("disability", "illness", "unacceptable", "behaviour"):   # each word whole in the stub column
        assert len(re.findall(rf"\b{word}\b", table)) >= (2 if word in ("disability", "illness") else 1), word


# --- the Quarto path, with a stand-in `quarto` on PATH -----------------------------------------

STAND_IN = '''#!{python}
"""A stand-in for quarto: records its command line, folder, environment profile, the chapters it
was given (read from _quarto.yml and the active profile files as Quarto merges them: a profile's
arrays are appended) and the files its Markdown chapters include, and writes a minimal book:
index.html for HTML, cinreport.pdf for Typst (every format when there is no --to)."""
import json, os, re, shutil, sys
from pathlib import Path
import yaml

args = sys.argv[1:]
if args == ["--version"]:
    print("1.6.40")
    sys.exit(0)
assert args[0] == "render", args
option = lambda name: args[args.index(name) + 1] if name in args else None
config = yaml.safe_load(Path("_quarto.yml").read_text())
profiles = (option("--profile") or os.environ.get("QUARTO_PROFILE") or config.get("profile", {{}}).get("default") or "")
chapters = list(config["book"].get("chapters", [])) + list(config["book"].get("appendices", []))
for name in [p for p in profiles.split(",") if p]:
    if Path(f"_quarto-{{name}}.yml").is_file():
        book = yaml.safe_load(Path(f"_quarto-{{name}}.yml").read_text()).get("book") or {{}}
        chapters += (book.get("chapters") or []) + (book.get("appendices") or [])
flat = lambda items: [c for i in items for c in (flat(i["chapters"]) if isinstance(i, dict) else [i])]
inputs = flat(chapters)
assert all(Path(c).is_file() for c in inputs), inputs
includes = {{m: Path(m).read_text() for c in inputs if c.endswith(".qmd")
            for m in re.findall(r"[{{][{{]< include (\\S+) >[}}][}}]", Path(c).read_text())}}
with open(os.environ["QUARTO_STAND_IN_LOG"], "a") as log:
    log.write(json.dumps({{"args": args, "cwd": os.getcwd(), "inputs": inputs, "includes": includes}}) + "\\n")
if os.environ.get("QUARTO_STAND_IN_FAIL"):
    print("[ 2/6] build/study/reasons.ipynb\\nERROR: something broke")
    sys.exit(1)
out = Path(option("--output-dir"))
if "--no-clean" not in args:
    shutil.rmtree(out, ignore_errors=True)
out.mkdir(parents=True, exist_ok=True)
if option("--to") in (None, "html"):
    (out / "index.html").write_text("<!DOCTYPE html><title>Tiny test book</title>")
if option("--to") in (None, "typst"):
    (out / "cinreport.pdf").write_bytes(b"%PDF-1.7 stand-in")
'''


@pytest.fixture
def quarto(tmp_path, monkeypatch):
    """A stand-in `quarto` first on PATH; returns a function giving the calls it recorded."""
    folder = tmp_path / "quarto-bin"
    folder.mkdir()
    (folder / "quarto").write_text(STAND_IN.format(python=sys.executable))
    (folder / "quarto").chmod(0o755)
    log = tmp_path / "quarto-calls.jsonl"
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("QUARTO_STAND_IN_LOG", str(log))
    monkeypatch.delenv("QUARTO_PROFILE", raising=False)
    return lambda: [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


ALL_CHAPTERS = [c[0] for c in EXPECTED]
LA_A = "build/authorities/la-a/authority.ipynb"


def test_quarto_renders_the_project_with_the_build_metadata(quarto, tmp_path):
    root = _make_book(tmp_path / "b")
    (root / "params").mkdir()
    (root / "params" / "report.yml").write_text("period_start: 2019-04-01\nperiod_end: 2021-03-31\nsynthetic_data: true\n")
    assert detect_renderer() == "quarto" and renderer_description() == "Quarto 1.6.40"
    result = render_book(root, root / "_book")
    assert result.renderer == "quarto"
    [call] = quarto()
    assert call["args"][:2] == ["render", "--output-dir"]  # into the temporary folder beside _book
    assert call["args"][3:] == ["-M", "synthetic-data:true", "-M", "suppression-weakened:false"]
    assert call["cwd"] == str(root) and (root / call["args"][2]).parent == root
    assert sorted(call["inputs"]) == sorted(ALL_CHAPTERS)  # the default profile's authority chapter too
    book = root / "_book"
    assert (book / "index.html").is_file() and (book / "cinreport.pdf").is_file()
    assert (book / "data" / "index.html").is_file()  # the open data, published beside Quarto's book
    assert not (root / "_quarto-cinreport-pdf.yml").exists()


def test_quarto_leaves_chapters_out_of_the_pdf_only(quarto, tmp_path):
    """pdf_profiles: the HTML book has every chapter; the PDF is rendered with a profile without them."""
    root = _make_book(tmp_path / "b")
    render_book(root, root / "_book", renderer="quarto", pdf_exclude={LA_A})
    html_call, pdf_call = quarto()
    out = html_call["args"][html_call["args"].index("--output-dir") + 1]
    assert html_call["args"] == ["render", "--to", "html", "--output-dir", out,
                                 "-M", "synthetic-data:false", "-M", "suppression-weakened:false"]
    assert pdf_call["args"] == ["render", "--to", "typst", "--profile", "cinreport-pdf", "--no-clean",
                                "--output-dir", out, "-M", "synthetic-data:false", "-M", "suppression-weakened:false"]
    assert sorted(html_call["inputs"]) == sorted(ALL_CHAPTERS)
    assert sorted(pdf_call["inputs"]) == sorted(c for c in ALL_CHAPTERS if c != LA_A)
    profile = yaml.safe_load((root / "_quarto-cinreport-pdf.yml").read_text())
    assert profile == {"book": {"chapters": []}}  # its only part is empty, so it goes
    assert (root / "_book" / "index.html").is_file() and (root / "_book" / "cinreport.pdf").is_file()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from quarto_schema import QuartoSchema, schema_dir

    schemas = schema_dir(Path(__file__).resolve().parents[1])
    if (schemas / "project.yml").is_file():  # a profile Quarto's schema accepts
        assert QuartoSchema(schemas).check_project_config(profile) == []


def test_quarto_failure_names_the_chapter_and_keeps_the_book(quarto, tmp_path, monkeypatch):
    root = _make_book(tmp_path / "b")
    render_book(root, root / "_book", renderer="quarto")
    before = _tree(root / "_book")
    monkeypatch.setenv("QUARTO_STAND_IN_FAIL", "1")
    with pytest.raises(RenderError, match=r"quarto render .*failed \(exit 1\) while rendering chapter build/study/reasons"):
        render_book(root, root / "_book", renderer="quarto")
    assert _tree(root / "_book") == before


def _build_folder(root: Path, build: str, codes: list[str], summary: str) -> None:
    """Stand-ins for a build's outputs in ``root / build``: every chapter the book lists (the stand-in
    Quarto only checks they exist), the summary index.qmd includes, and one open-data table."""
    from cinreport.common import layout

    for name in layout.study_chapters():
        (root / build / "study").mkdir(parents=True, exist_ok=True)
        (root / build / "study" / f"{name}.ipynb").write_text("{}", encoding="utf-8")
    for code in codes:
        (root / build / "authorities" / code).mkdir(parents=True)
        (root / build / "authorities" / code / "authority.ipynb").write_text("{}", encoding="utf-8")
    (root / build / layout.SUMMARY).write_text(summary, encoding="utf-8")
    table = root / build / "study" / "open" / f"table-of-{Path(build).name}"
    table.parent.mkdir()
    table.with_suffix(".csv").write_text("time_period,geographic_level,n\n2020,National,1\n", encoding="utf-8")
    Path(f"{table}.meta.csv").write_text("col_name,col_type,label\nn,Indicator,Number\n", encoding="utf-8")
    Path(f"{table}.about.json").write_text(json.dumps({"name": table.name, "title": "T", "chapter": "methods",
                                                       "rows": 1}), encoding="utf-8")


def test_quarto_renders_the_chapters_summary_and_open_data_of_the_build_folder_given(quarto, tmp_path, monkeypatch):
    """`cinreport --build out/b render`: the profile Quarto reads lists out/b's chapters (every one of
    the layout's, in its order), index.qmd includes out/b's summary, the open data are out/b's; the
    default build folder beside it is neither read nor written."""
    from cinreport.cli import main
    from cinreport.common import layout

    repo = Path(__file__).resolve().parents[1]
    root = tmp_path / "p"
    root.mkdir()
    for item in ("_quarto.yml", "index.qmd", "report", "params"):
        (shutil.copytree if (repo / item).is_dir() else shutil.copyfile)(repo / item, root / item)
    codes = sorted(p.stem for p in (root / "params" / "authorities").glob("*.yml"))
    _build_folder(root, "build", codes, "The default build's summary.\n")
    _build_folder(root, "out/b", codes, "The summary of out/b.\n")
    before = _tree(root / "build")
    monkeypatch.chdir(root)
    assert main(["--build", "out/b", "render", "--out", "_book"]) == 0
    [call] = quarto()
    book = layout.book_chapters(codes, "out/b")
    flat = lambda items: [c for i in items for c in (flat(i["chapters"]) if isinstance(i, dict) else [i])]  # noqa: E731
    assert call["inputs"] == flat(book["chapters"]) + flat(book["appendices"])
    assert all(c.startswith("out/b/") for c in call["inputs"] if c.endswith(".ipynb"))
    assert call["includes"] == {layout.SUMMARY_INCLUDE: "The summary of out/b.\n"}
    assert sorted(p.name for p in (root / "_book" / "data").glob("*.csv") if not p.name.endswith(".meta.csv")) \
        == ["datasets.csv", "table-of-b.csv"]
    assert _tree(root / "build") == before
    # the default build again: its chapters and its summary
    assert main(["render"]) == 0
    assert quarto()[-1]["includes"] == {layout.SUMMARY_INCLUDE: "The default build's summary.\n"}
    assert all(c.startswith("build/") for c in quarto()[-1]["inputs"] if c.endswith(".ipynb"))


def test_quarto_refuses_a_build_folder_outside_the_project(quarto, tmp_path):
    root = _make_book(tmp_path / "b")
    with pytest.raises(RenderError, match="Quarto renders only files inside the project"):
        render_book(root, root / "_book", renderer="quarto", build_dir=tmp_path / "elsewhere")
    assert quarto() == [] and not (root / "_book").exists()
