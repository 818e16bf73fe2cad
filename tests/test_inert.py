"""Text from params, codebook and data is inert in every output (issue 17, item 4).

Unit tests of :mod:`cinreport.common.inert`, then one build of the demo project whose authority names and
codebook labels carry every payload (and whose threshold is lowered with allow_low_threshold, so the
same build shows the "suppression weakened" notice): the HTML has no injected element, attribute or
link, the Typst source holds the payloads only as escaped text, the PDF shows them as text, and no
text cell of the open data starts a spreadsheet formula.
"""
from __future__ import annotations

import csv
import json
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pypandoc
import pytest
import yaml

from cinreport.common.inert import csv_cell, markdown_code, markdown_text, one_line, typst_string
from cinreport.common.opendata import Indicator, national_geography, tidy_frame
from conftest import copy_project, make

PAYLOADS = [
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "[x](javascript:alert(1))", "a\n# Heading",
    '#eval("6*7")', '#read("/etc/passwd")', '#include "x.typ"', "$a$", "]", "\\", "*b*", "_c_", "x | y", "`code`",
    '=HYPERLINK("http://x","y")', "=cmd|' /C calc'!A0", "+1", "-1", "@SUM(1)", "\tTab", "\rCR", "1. one",
    "(a) x", ": def", "...", "a--b", "- item", "> quote", "{{< meta title >}}", "&lt;b&gt;", "x^2^", "H~2~O",
    "[@cite]", "::: {.x}", "<!-- c -->", "\\(x\\)", "café ☃", "\x00bell",
]


def _text_of(markdown: str) -> str:
    """What Pandoc reads ``markdown`` as, if it is only text: its Str and Space nodes joined (else a marker)."""
    out: list[str] = []

    def walk(node):
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            kind = node.get("t")
            if kind == "Str":
                out.append(node["c"])
            elif kind == "Space":
                out.append(" ")
            elif kind in ("Para", "Plain"):
                walk(node["c"])
            else:
                out.append(f"<<{kind}>>")
    walk(json.loads(pypandoc.convert_text(markdown, "json", format="markdown"))["blocks"])
    return "".join(out)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_markdown_text_reads_back_as_the_text(payload):
    assert _text_of("Before " + markdown_text(payload) + " after") == "Before " + one_line(payload) + " after"
    assert _text_of(markdown_text(payload)) == one_line(payload)  # at the start of a line too


@pytest.mark.parametrize("payload", ["c", "`", "a``b", "[c]"])
def test_markdown_code_shows_any_backticks(payload):
    ast = json.loads(pypandoc.convert_text(markdown_code(payload), "json", format="markdown"))
    assert ast["blocks"][0]["c"][0] == {"t": "Code", "c": [["", [], []], payload]}


def test_typst_string_is_a_literal(tmp_path):
    import typst

    text = '#eval("6*7") \\ " ]\n\t\x01 $x$'
    (tmp_path / "t.typ").write_text(f"#let s = {typst_string(text)}\n#s.len()\n#s\n", encoding="utf-8")
    typst.compile(str(tmp_path / "t.typ"), output=str(tmp_path / "t.pdf"))  # compiles: a valid literal
    assert typst_string("a\"b\\c") == '"a\\"b\\\\c"'


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(1)", "\tx", "\rx"])
def test_csv_cell_neutralises_formulae(value):
    assert csv_cell(value) == "'" + value
    assert csv_cell(csv_cell(value)) == "'" + value


def test_csv_cell_keeps_other_values():
    assert [csv_cell(v) for v in ["c", "12", "Authority A", "", 1.5, -1.5, None]] == \
        ["c", "12", "Authority A", "", 1.5, -1.5, None]


def test_open_data_neutralises_text_columns_only():
    import pandas as pd

    rows = pd.DataFrame({"category": ["=cmd|' /C calc'!A0", "ok"], "value": ["-1.5", "c"]})
    out = tidy_frame(rows, national_geography("2021") | {"la_name": "+x"}, {"category": "Category"},
                     {"value": Indicator("Value")})
    assert out["category"].tolist() == ["'=cmd|' /C calc'!A0", "ok"]
    assert out["la_name"].tolist() == ["'+x", "'+x"]
    assert out["value"].tolist() == ["-1.5", "c"]  # a number stays a number


# -- one build with every payload ------------------------------------------------------------------

NAMES = {
    "la-a": '=HYPERLINK("http://x","y") <script>alert(1)</script> a | b',
    "la-b": "+1 <img src=x onerror=alert(1)> [x](javascript:alert(1))\n# Heading",
    "la-c": '@SUM(1) #eval("6*7") #read("/etc/passwd") #include "x.typ" $a$ ] \\ * _ `b`',
    "la-d": "-1 =cmd|' /C calc'!A0",
}
LABELS = {  # codebook: code list entry -> payload label (both are shown in tables, text and figures)
    "N1: Abuse or neglect": "=cmd|' /C calc'!A0 <script>alert(2)</script> #eval(\"6*7\")",
    "advice_guidance: Advice and guidance": "\t-1 [y](javascript:alert(2)) $x$ | * #read(\"/etc/passwd\")",
}


def _quoted(text: str) -> str:
    return yaml.safe_dump(text, default_style='"', width=10_000).strip()


# One whole-pipeline build shared by the tests below (e2e): under pytest-xdist they stay in one process.
@pytest.fixture(scope="module")
def payload_build(tmp_path_factory) -> Path:
    project = copy_project(tmp_path_factory.mktemp("inert"))
    for code, name in NAMES.items():
        path = project / "params" / "authorities" / f"{code}.yml"
        path.write_text(re.sub(r"^name: .*$", lambda _, name=name: "name: " + _quoted(name), path.read_text(), flags=re.M))
    codebook = project / "data" / "codebook.yml"
    text = codebook.read_text()
    for old, label in LABELS.items():
        assert old in text
        text = text.replace(old, old.split(":")[0] + ": " + _quoted(label))
    codebook.write_text(text)
    report = project / "params" / "report.yml"
    report.write_text(report.read_text().replace("  threshold: 5", "  threshold: 2\n  allow_low_threshold: true"))
    make(project, "-j2", "report")
    return project


class _Scan(HTMLParser):
    def __init__(self):
        super().__init__()
        self.bad: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key.startswith("on"):
                self.bad.append(f"<{tag} {key}={value}>")
            if key in ("href", "src") and value and value.strip().lower().startswith("javascript:"):
                self.bad.append(f"<{tag} {key}={value}>")
        if tag == "img" and dict(attrs).get("src") == "x":
            self.bad.append("<img src=x>")

    def handle_data(self, data):
        self.text.append(data)


def _scripts(html: str) -> list[str]:
    return re.findall(r"<script\b[^>]*>(.*?)</script>", html, flags=re.S | re.I)


@pytest.mark.e2e
@pytest.mark.xdist_group("inert-payload-build")
def test_html_shows_payloads_as_text(payload_build):
    pages = sorted((payload_build / "_book").glob("*.html"))
    text = ""
    for page in pages:
        html = page.read_text(encoding="utf-8")
        scan = _Scan()
        scan.feed(html)
        assert scan.bad == [], page.name
        assert not any("alert(" in s for s in _scripts(html)), page.name
        text += " ".join(scan.text)
    flat = " ".join(text.split())
    for name in NAMES.values():
        assert " ".join(name.split()) in flat
    for label in LABELS.values():
        assert " ".join(label.split()) in flat
    assert not re.search(r"<h\d[^>]*>\s*Heading", "".join(p.read_text() for p in pages))


@pytest.mark.e2e
@pytest.mark.xdist_group("inert-payload-build")
def test_pdf_gets_payloads_as_text_only(payload_build, typst_source):
    from cinreport.render.renderer import render_book

    render_book(payload_build, payload_build / "_book-again", renderer="pandoc-typst")
    source = typst_source["source"]
    for raw in ('#eval("6*7")', '#read("/etc/passwd")', '#include "x.typ"'):
        assert raw not in source.replace("\\" + raw, "")  # only the escaped form, \#eval(...)
    assert "Suppression weakened" in source
    pdftotext = subprocess.run(["pdftotext", str(payload_build / "_book-again" / "cinreport.pdf"), "-"],
                               capture_output=True, text=True)
    if pdftotext.returncode == 0:
        text = " ".join(pdftotext.stdout.split())
        assert '#eval("6*7")' in text.replace("“", '"').replace("”", '"')
        assert "root:" not in text  # no file was read into the PDF
        assert "Suppression weakened" in text


@pytest.mark.e2e
@pytest.mark.xdist_group("inert-payload-build")
def test_open_data_has_no_formula_in_a_text_cell(payload_build):
    data = payload_build / "_book" / "data"
    files = sorted(data.glob("*.csv"))
    assert files
    seen_names = set()
    for path in files:
        meta = path.with_name(path.stem + ".meta.csv")
        numeric = set()
        if meta.is_file() and not path.name.endswith(".meta.csv"):
            numeric = {r["col_name"] for r in csv.DictReader(open(meta, encoding="utf-8")) if r["col_type"] == "Indicator"}
        for row in csv.DictReader(open(path, encoding="utf-8", newline="")):
            for column, value in row.items():
                if column in numeric or column == "rows":
                    continue
                assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), (path.name, column, value)
            seen_names.add(row.get("la_name"))
    assert "'" + NAMES["la-a"] in seen_names and "'" + NAMES["la-d"] in seen_names


@pytest.mark.e2e
@pytest.mark.xdist_group("inert-payload-build")
def test_every_output_says_suppression_was_weakened(payload_build):
    book = payload_build / "_book"
    assert "Suppression weakened" in (book / "index.html").read_text()
    assert "Suppression weakened" in next(book.glob("*methods*.html")).read_text()
    catalogue = list(csv.DictReader(open(book / "data" / "datasets.csv", encoding="utf-8")))
    assert any(r["suppression"] == "weakened" for r in catalogue)
    assert "Suppression weakened" in (book / "data" / "index.html").read_text()
