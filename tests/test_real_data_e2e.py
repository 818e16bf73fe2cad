"""A user's real-data path, end to end: a CIN census XML return, a case-file workbook and a REFI-QDA
export become an authority of the report with no CSV written by hand (README: Your own data).

The inputs are made here: a seeded synthetic census return (tests/census_support.py), a workbook
holding a demo authority's case files and services (one sheet per file, dates as date cells, whole
numbers as numbers), and a .qdpx project whose codings reproduce that authority's themes. The commands
are the README's; then `make report` builds the book, and no identifier from the inputs (child ids,
UPNs, birth dates, source names) appears anywhere under data/, build/ or _book/.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pandas as pd
import pytest
from openpyxl import Workbook

from census_support import generate_return
from conftest import ROOT, VENV, copy_project, make

XSD = ROOT.parent / "shared" / "data" / "cin-census-xml" / "CIN_schema_2024.xsd"

pytestmark = pytest.mark.e2e

LIKE = "la-d"  # the demo authority whose case files and themes the new authority's inputs carry
CODE = "la-e"
YEAR = 2021    # census year 2020-21: the demo's study period ends on 2021-03-31


def write_workbook(project: Path, path: Path) -> None:
    """The demo authority's case files and services as one workbook, as a reviewer keeps them: dates
    as date cells, numbers as numbers, one sheet per file."""
    book = Workbook()
    book.remove(book.active)
    for name in ("case_files", "support"):
        frame = pd.read_csv(project / "data" / LIKE / f"{name}.csv", dtype=str, keep_default_na=False)
        sheet = book.create_sheet(name)
        sheet.append(list(frame.columns))
        for row in frame.itertuples(index=False):
            cells = []
            for column, value in zip(frame.columns, row):
                if value and column.endswith("_date"):
                    cells.append(dt.date.fromisoformat(value))
                elif value.isdigit() and column not in ("case_id", "support_id"):
                    cells.append(int(value))
                else:
                    cells.append(value)
            sheet.append(cells)
    book.save(path)


def guid(label: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, label)).upper()


def write_qdpx(project: Path, path: Path, mapping: Path) -> dict[str, str]:
    """A REFI-QDA project whose codings give the demo authority's themes.csv back: one source per
    source id (named as a transcript would be), one coded selection per segment. Returns the source
    names (which must not reach any output)."""
    themes = pd.read_csv(project / "data" / LIKE / "themes.csv", dtype={"segments": int})
    names = {sid: f"Transcript {i + 1} ({kind.replace('_', ' ')}, recorded in March)"
             for i, (sid, kind) in enumerate(themes.groupby("source_id")["source_type"].first().items())}
    codes = sorted(themes["theme"].unique())
    code_names = {c: c.replace("_", " ").capitalize() for c in codes}
    sources = []
    for sid, rows in themes.groupby("source_id"):
        parts = [f'<TextSource guid="{guid(sid)}" name={quoteattr(names[sid])}>',
                 "<PlainTextContent>Transcript text.</PlainTextContent>"]
        n = 0
        for theme, segments in zip(rows["theme"], rows["segments"]):
            for _ in range(segments):
                parts.append(f'<PlainTextSelection guid="{guid(f"{sid}-{n}")}" startPosition="{n}" endPosition="{n + 1}">'
                             f'<Coding guid="{guid(f"{sid}-{n}-c")}"><CodeRef targetGUID="{guid(theme)}"/></Coding>'
                             "</PlainTextSelection>")
                n += 1
        parts.append("</TextSource>")
        sources.append("".join(parts))
    code_xml = "".join(f'<Code guid="{guid(c)}" name={quoteattr(code_names[c])} isCodable="true"/>' for c in codes)
    xml = ('<?xml version="1.0" encoding="utf-8"?>\n<Project xmlns="urn:QDA-XML:project:1.0" name="CIN study" '
           f'origin="test"><CodeBook><Codes>{code_xml}</Codes></CodeBook><Sources>{"".join(sources)}</Sources></Project>')
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("project.qde", xml)
    kinds = themes.groupby("source_id")["source_type"].first()
    lines = ["codes:"] + [f"  {code_names[c]}: {c}" for c in codes] + ["sources:"]
    lines += [f'  "{names[sid]}": {{id: {sid}, type: {kinds[sid]}}}' for sid in names]
    mapping.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return names


def identifiers(xml: Path) -> dict[str, set[str]]:
    text = xml.read_text(encoding="utf-8")
    return {kind: set(re.findall(rf"<{tag}>([^<]+)</{tag}>", text))
            for kind, tag in (("child id", "LAchildID"), ("UPN", "UPN"), ("former UPN", "FormerUPN"),
                              ("birth date", "PersonBirthDate"))}


def run(project: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(VENV / "bin" / "cinreport"), *args], cwd=project, capture_output=True, text=True,
                          env=env)
    assert proc.returncode == 0, f"cinreport {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.mark.skipif(not XSD.is_file(), reason=f"the CIN census XSD is not at {XSD}")
def test_census_return_workbook_and_qda_export_build_the_report(tmp_path):
    project = copy_project(tmp_path / "project")
    inbox = tmp_path / "delivered"   # what the authority sends: nothing of it inside the project
    inbox.mkdir()
    xml = generate_return(inbox / "CIN_return_2021.xml", 60, seed=7, year=YEAR, form="GenderCurrent")
    write_workbook(project, inbox / "case-review.xlsx")
    source_names = write_qdpx(project, inbox / "focus-groups.qdpx", inbox / "qda-mapping.yml")
    key = tmp_path / "keys" / "cinreport.key"
    key.parent.mkdir()
    key.write_text("0f" * 32 + "\n", encoding="utf-8")

    data = project / "data" / CODE
    data.mkdir()
    (project / "params" / "authorities" / f"{CODE}.yml").write_text(
        f'name: "Authority E"\ndata_dir: data/{CODE}\nregion: "South West"\n', encoding="utf-8")
    (data / "case-review.xlsx").write_bytes((inbox / "case-review.xlsx").read_bytes())
    census = run(project, "import", "cin-census", str(xml), "--authority", CODE, "--key-file", str(key),
                 "--census-year", str(YEAR), "--schema", str(XSD))
    assert re.search(r"\bwrote\b", census.stdout + census.stderr), census.stdout + census.stderr
    run(project, "import", "qdpx", str(inbox / "focus-groups.qdpx"), "--authority", CODE,
        "--mapping", str(inbox / "qda-mapping.yml"))
    assert sorted(p.name for p in data.iterdir()) == ["admin.csv", "case-review.xlsx", "themes.csv"]
    original = pd.read_csv(project / "data" / LIKE / "themes.csv").sort_values(["source_id", "theme"])
    imported = pd.read_csv(data / "themes.csv").sort_values(["source_id", "theme"])
    assert imported.reset_index(drop=True).equals(original.reset_index(drop=True))

    run(project, "validate", "--authority", CODE)
    make(project, "-j2", "report")
    assert (project / "_book" / f"{CODE}.html").is_file()

    found = identifiers(xml)
    assert found["child id"] and found["birth date"]
    leaks = []
    for top in ("data", "build", "_book"):
        for path in (project / top).rglob("*"):
            if not path.is_file() or path.suffix in (".png", ".pdf", ".xlsx") or path.stat().st_size > 50_000_000:
                continue
            text = path.read_bytes().decode("utf-8", "replace")
            for kind in ("child id", "UPN", "former UPN"):
                leaks += [(path, kind, v) for v in found[kind] if len(v) >= 4 and re.search(rf"\b{re.escape(v)}\b", text)]
            leaks += [(path, "source name", n) for n in source_names.values() if n in text]
    admin = pd.read_csv(data / "admin.csv", dtype=str, keep_default_na=False)
    assert "PersonBirthDate" not in admin.columns and not any("birth" in c for c in admin.columns)
    plan_dates = set(re.findall(r"<CINPlan(?:Start|End)Date>([^<]+)<", xml.read_text(encoding="utf-8")))
    written = set(admin.to_numpy().ravel())  # a birth date may also be some plan's start (an infant's)
    leaks += [(data / "admin.csv", "birth date", d) for d in found["birth date"] - plan_dates if d in written]
    pdf = next((project / "_book").glob("*.pdf"))
    pdf_text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout \
        if sys.platform != "win32" and subprocess.run(["which", "pdftotext"], capture_output=True).returncode == 0 else ""
    leaks += [(pdf, "child id", v) for v in found["child id"] if len(v) >= 4 and re.search(rf"\b{re.escape(v)}\b", pdf_text)]
    assert not leaks, leaks[:10]
