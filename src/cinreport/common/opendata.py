"""Open data: every published table as a tidy CSV in the Department for Education's open-data layout.

Chapters call :func:`write_open_table` next to each table they show, after disclosure control, into
``<out_dir>/open/``: ``<name>.csv`` (columns ``time_period, time_identifier, geographic_level,
country_code, country_name, la_name, new_la_code``, then filters, then indicators), ``<name>.meta.csv``
(DfE's metadata layout: one row per filter and indicator, with label, unit and decimal places) and
``<name>.about.json`` (title and chapter, for the catalogue). :func:`publish` gathers them into the
book's ``data/`` folder with a catalogue (``datasets.csv``) and an ``index.html`` page.

Suppressed cells keep the report's symbol (``c``); ``z`` marks a percentage of nothing (not
applicable), as in DfE's own files.

Synthetic data (``synthetic_data: true`` in ``params/report.yml``) are flagged when the tables are
published, not when the chapters write them: :func:`publish` with ``synthetic=True`` gives the
``.meta.csv`` of each table holding study figures the flag in DfE's own metadata fields (every
indicator's ``label`` ends in " (synthetic data)", every filter gets a ``filter_hint``), adds a
``data_status`` column to the catalogue (``synthetic``, or ``dfe-published`` for a table of DfE's
published national figures only: every row ``geographic_level`` "National", not study data, not
flagged) and a notice at the top of ``index.html``. With ``synthetic=False`` none of this is
written: the files are as the chapters wrote them.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cinreport.common.atomic import write_csv, write_json, write_text
from cinreport.common.inert import csv_cell

# The order, plus old_la_code, which DfE's standard requires for local-authority rows.
GEOGRAPHY = ["time_period", "time_identifier", "geographic_level", "country_code", "country_name", "la_name",
             "new_la_code", "old_la_code"]
META_COLUMNS = ["col_name", "col_type", "label", "indicator_grouping", "indicator_unit", "indicator_dp",
                "filter_hint", "filter_grouping_column"]
ENGLAND = ("E92000001", "England")

# How published tables say that their figures are synthetic (see the module docstring).
SYNTHETIC = "synthetic"          # data_status of a table holding study figures, in a synthetic build
DFE_PUBLISHED = "dfe-published"  # data_status of a table of DfE's published national figures only
SYNTHETIC_LABEL = " (synthetic data)"
SYNTHETIC_HINT = "Synthetic data for fictional authorities: no real child, family or authority"


@dataclass(frozen=True)
class Indicator:
    label: str
    unit: str = ""      # "" for a number, "%" for a percentage
    dp: int = 0


def reporting_year(period_end: dt.date) -> str:
    """DfE 'Reporting year' (to 31 March) containing ``period_end``."""
    return str(period_end.year if period_end.month <= 3 else period_end.year + 1)


def authority_geography(name: str, new_la_code: str | None, period_end: dt.date) -> dict[str, str]:
    """The standard columns for a study authority (fictional ones have no LA code)."""
    return {"time_period": reporting_year(period_end), "time_identifier": "Reporting year",
            "geographic_level": "Local authority", "country_code": ENGLAND[0], "country_name": ENGLAND[1],
            "la_name": name, "new_la_code": new_la_code or "", "old_la_code": ""}


def national_geography(time_period: str) -> dict[str, str]:
    return {"time_period": str(time_period), "time_identifier": "Reporting year", "geographic_level": "National",
            "country_code": ENGLAND[0], "country_name": ENGLAND[1], "la_name": "", "new_la_code": "",
            "old_la_code": ""}


def snake(text: str) -> str:
    out = "".join(ch.lower() if ch.isalnum() else "_" for ch in str(text)).strip("_")
    while "__" in out:
        out = out.replace("__", "_")
    return out


def tidy_frame(rows: pd.DataFrame, geography: pd.DataFrame | dict[str, str], filters: dict[str, str],
               indicators: dict[str, Indicator]) -> pd.DataFrame:
    """Columns in DfE order: the geography (one dict for all rows, or a frame aligned with ``rows``),
    the filters, the indicators. Raises ValueError when a named column is missing."""
    missing = [c for c in [*filters, *indicators] if c not in rows.columns]
    if missing:
        raise ValueError(f"open-data table lacks columns {missing}; it has {list(rows.columns)}")
    geo = (pd.DataFrame([geography] * len(rows)) if isinstance(geography, dict)
           else geography.reset_index(drop=True))
    body = rows[[*filters, *indicators]].reset_index(drop=True).astype(str)
    out = pd.concat([geo[GEOGRAPHY].reset_index(drop=True), body], axis=1).fillna("")
    return text_cells(out, [*GEOGRAPHY, *filters])


def text_cells(frame: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """``frame`` with its text columns (``columns``, default all) neutralised for spreadsheets
    (:func:`cinreport.common.inert.csv_cell`: a leading ``= + - @``, tab or CR gets a ``'``). Indicator
    columns are not passed: their numbers, ``-1.5`` included, stay numbers."""
    out = frame.copy()
    for column in columns if columns is not None else list(out.columns):
        out[column] = out[column].map(csv_cell)
    return out


def meta_frame(filters: dict[str, str], indicators: dict[str, Indicator]) -> pd.DataFrame:
    rows = [{"col_name": c, "col_type": "Filter", "label": label} for c, label in filters.items()]
    rows += [{"col_name": c, "col_type": "Indicator", "label": i.label, "indicator_unit": i.unit,
              "indicator_dp": str(i.dp)} for c, i in indicators.items()]
    return text_cells(pd.DataFrame(rows, columns=META_COLUMNS).astype(object).fillna(""))


def write_open_table(out_dir: Path | str, name: str, title: str, chapter: str, rows: pd.DataFrame,
                     geography: pd.DataFrame | dict[str, str], filters: dict[str, str],
                     indicators: dict[str, Indicator]) -> Path:
    """Write ``<out_dir>/open/<name>.csv`` with its ``.meta.csv`` and ``.about.json``; return the CSV."""
    folder = Path(out_dir) / "open"
    data = tidy_frame(rows, geography, filters, indicators)
    path = write_csv(folder / f"{name}.csv", data)
    write_csv(folder / f"{name}.meta.csv", meta_frame(filters, indicators))
    write_json(folder / f"{name}.about.json", {"name": name, "title": title, "chapter": chapter,
                                               "rows": int(len(data))})
    return path


def count_table_rows(display: pd.DataFrame, percent: pd.DataFrame | None, group_label: str,
                     category: str) -> pd.DataFrame:
    """Long rows (group, category, number, percent) from a published count table's display frames
    (categories × groups, symbols already applied)."""
    rows = []
    for group in display.columns:
        for cat in display.index:
            row = {group_label: group, category: cat, "number": display.loc[cat, group]}
            if percent is not None:  # open data carry the number alone: 45, not 45%
                row["percent"] = str(percent.loc[cat, group]).rstrip("%")
            rows.append(row)
    return pd.DataFrame(rows)


def wide_rows(frame: pd.DataFrame, row_name: str, column_name: str, value_name: str) -> pd.DataFrame:
    """Long rows (row_name, column_name, value_name) from a display table (rows × columns)."""
    long = frame.rename_axis(row_name).reset_index().melt(id_vars=row_name, var_name=column_name,
                                                           value_name=value_name)
    long[value_name] = long[value_name].astype(str).str.rstrip("%").str.replace(",", "", regex=False)
    return long


# -- gathering into the book -------------------------------------------------------------------------
def open_tables(build_dir: Path | str) -> list[Path]:
    """Every open-data CSV the chapters wrote, study chapters first, then authorities, by name."""
    build = Path(build_dir)
    found = sorted((build / "study" / "open").glob("*.csv")) + sorted((build / "authorities").glob("*/open/*.csv"))
    return [p for p in found if not p.name.endswith(".meta.csv")]


WEAKENED = "weakened"  # suppression column of the catalogue when the threshold is below 3 (allowed in params)
WEAKENED_LABEL = " (suppression weakened)"


def publish(build_dir: Path | str, dest: Path | str, synthetic: bool = False, weakened: bool = False) -> list[Path]:
    """Copy every open-data table with its metadata into ``dest`` and write the catalogue
    (``datasets.csv``) and ``index.html``. ``dest`` is inside the book being built, so the book and
    its data are swapped into place together (its files are written plainly: the book is built in a
    folder of its own and renamed into place whole).

    ``synthetic`` (``synthetic_data`` in ``params/report.yml``): flag the study tables as synthetic
    in their metadata, the catalogue and the index page (see the module docstring)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    catalogue = []
    for path in open_tables(build_dir):
        about = json.loads(path.with_suffix(".about.json").read_text(encoding="utf-8"))
        meta = path.with_name(path.stem + ".meta.csv")
        shutil.copyfile(path, dest / path.name)
        entry = {"file_name": path.name, "metadata_file": meta.name, "title": about["title"],
                 "chapter": about["chapter"], "rows": about["rows"]}
        study = is_study_table(path) if (synthetic or weakened) else False
        if synthetic:
            entry["data_status"] = SYNTHETIC if study else DFE_PUBLISHED
        if weakened:
            entry["suppression"] = WEAKENED if study else ""
        if study:
            header, rows = _read_rows(meta)
            if synthetic:
                header, rows = synthetic_meta(header, rows)
            if weakened:
                header, rows = weakened_meta(header, rows)
            _write_rows(dest / meta.name, header, rows)
        else:
            shutil.copyfile(meta, dest / meta.name)
        catalogue.append(entry)
    columns = (["file_name", "metadata_file", "title", "chapter", "rows"] + (["data_status"] if synthetic else [])
               + (["suppression"] if weakened else []))
    frame = pd.DataFrame(catalogue, columns=columns)
    write_csv(dest / "datasets.csv", text_cells(frame, [c for c in columns if c != "rows"]))
    write_text(dest / "index.html", index_html(frame, synthetic, weakened))
    return [dest / name for name in frame["file_name"]]


Rows = list[dict[str, str]]


def _read_rows(path: Path) -> tuple[list[str], Rows]:
    """A CSV's header and rows, every value as text (blank lines skipped)."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh, restval="")
        return list(reader.fieldnames or []), list(reader)


def _write_rows(path: Path, header: list[str], rows: Rows) -> None:
    """Write rows as :func:`cinreport.common.atomic.write_csv` writes a frame of text (minimal quoting,
    LF line ends), plainly: ``path`` is in a folder being built."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows([row.get(c, "") for c in header] for row in rows)


def is_study_table(path: Path | str) -> bool:
    """Whether an open-data table holds the study's own figures: any row not at national level.
    The study's data are per authority (rows summed over authorities are "All study authorities",
    still at local-authority level), so a table whose rows are all national is DfE's published
    figures for England (the National context chapter's spread across all LAs)."""
    header, rows = _read_rows(Path(path))
    return "geographic_level" not in header or any(r["geographic_level"].strip() != "National" for r in rows)


def _with_columns(header: list[str], rows: Rows, columns: tuple[str, ...]) -> tuple[list[str], Rows]:
    """The header with ``columns`` added at the end where missing, and copies of the rows."""
    return header + [c for c in columns if c not in header], [{**{c: "" for c in columns}, **r} for r in rows]


def weakened_meta(header: list[str], rows: Rows) -> tuple[list[str], Rows]:
    """``.meta.csv`` rows whose indicator labels say that suppression was weakened."""
    header, rows = _with_columns(header, rows, ("label",))
    for r in rows:
        if r.get("col_type", "").strip().lower() == "indicator" and WEAKENED_LABEL not in r["label"]:
            r["label"] += WEAKENED_LABEL
    return header, rows


WEAKENED_NOTICE = """<div class="callout callout-warning suppression-notice" role="note">
<div class="callout-title">Suppression weakened</div>
<div class="callout-body"><p>Disclosure control in this build is weaker than the project's rules: the
threshold in <code>params/report.yml</code> is below 3 (<code>disclosure.allow_low_threshold</code>), so
small counts are published. Tables holding study figures say so in their metadata (indicator labels end
in &ldquo;(suppression weakened)&rdquo;) and as <code>weakened</code> in the <code>suppression</code>
column of <a href="datasets.csv">datasets.csv</a>. Not for publication without an output checker's
approval.</p></div>
</div>
"""


def synthetic_meta(header: list[str], rows: Rows) -> tuple[list[str], Rows]:
    """``.meta.csv`` rows with the synthetic flag in DfE's own metadata fields, which DfE's tools (and
    :func:`cinreport.national.dfe.read_dfe_csv`, which keeps labels) carry with the data: each
    indicator's label ends in " (synthetic data)", each filter without a hint gets one."""
    header, rows = _with_columns(header, rows, ("label", "filter_hint"))
    for r in rows:
        kind = r.get("col_type", "").strip().lower()
        if kind == "indicator" and not r["label"].endswith(SYNTHETIC_LABEL):
            r["label"] += SYNTHETIC_LABEL
        if kind == "filter" and not r["filter_hint"].strip():
            r["filter_hint"] = SYNTHETIC_HINT
    return header, rows


STATUS_TEXT = {SYNTHETIC: "Synthetic", DFE_PUBLISHED: "DfE published figures"}


def synthetic_notice(catalogue: pd.DataFrame) -> str:
    """The notice at the top of the open-data page of a synthetic build."""
    published = [r.file_name for r in catalogue.itertuples() if getattr(r, "data_status", "") == DFE_PUBLISHED]
    only = ""
    if published:
        names = ", ".join(f"<code>{html.escape(n)}</code>" for n in published)
        one = len(published) == 1
        only = f" {names} {'holds' if one else 'hold'} only such figures and {'is' if one else 'are'} not marked."
    return f"""<div class="callout callout-warning synthetic-notice" role="note">
<div class="callout-title">Synthetic data</div>
<div class="callout-body"><p>The study's figures in these tables come from <strong>synthetic</strong> data
made by <code>cinreport synth</code> for fictional authorities: they describe no real child, family or
authority. Every table holding them is marked in its metadata (indicator labels end in
&ldquo;{html.escape(SYNTHETIC_LABEL.strip())}&rdquo;, filters carry a hint) and as
<code>{SYNTHETIC}</code> in the <code>data_status</code> column of <a href="datasets.csv">datasets.csv</a>.
Figures published by the Department for Education that a table sets the study against (England,
regions, statistical neighbours) are real.{only}</p></div>
</div>
"""


def index_html(catalogue: pd.DataFrame, synthetic: bool = False, weakened: bool = False) -> str:
    """The open-data page; with ``synthetic``, a notice at the top and a Status column."""
    def status(r) -> str:
        return f"<td>{html.escape(STATUS_TEXT.get(r.data_status, r.data_status))}</td>" if synthetic else ""

    rows = "\n".join(
        f'<tr><td><a href="{html.escape(r.file_name)}">{html.escape(r.file_name)}</a></td>'
        f'<td><a href="{html.escape(r.metadata_file)}">{html.escape(r.metadata_file)}</a></td>'
        f"<td>{html.escape(r.title)}</td><td>{html.escape(r.chapter)}</td><td>{r.rows}</td>{status(r)}</tr>"
        for r in catalogue.itertuples())
    notice = (WEAKENED_NOTICE if weakened else "") + (synthetic_notice(catalogue) if synthetic else "")
    status_head = '<th scope="col">Status</th>' if synthetic else ""
    return f"""<!DOCTYPE html>
<html lang="en-GB">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Open data: the report's tables as CSV</title>
<link rel="stylesheet" href="../style.css">
</head>
<body>
<main id="main">
<h1>Open data: the report's tables as CSV</h1>
{notice}<p><a href="../index.html">Back to the report</a></p>
<p>Every table published in the report, after disclosure control, as a tidy CSV in the Department for
Education's open-data layout (<code>time_period</code>, <code>time_identifier</code>,
<code>geographic_level</code>, <code>country_code</code>, <code>country_name</code>, <code>la_name</code>,
<code>new_la_code</code>, <code>old_la_code</code>, then filters and indicators). Each has a metadata file describing its columns.
<code>c</code> marks a suppressed value (a count from 1 to the disclosure threshold minus one, or one that
would reveal it), <code>z</code> not applicable. The catalogue is <a href="datasets.csv">datasets.csv</a>.</p>
<div class="table-wrap" role="region" tabindex="0" aria-label="Data files" style="overflow-x: auto; max-width: 100%">
<table>
<caption>Data files ({len(catalogue)})</caption>
<thead><tr><th scope="col">Data</th><th scope="col">Metadata</th><th scope="col">Table</th>
<th scope="col">Chapter</th><th scope="col">Rows</th>{status_head}</tr></thead>
<tbody>
{rows}
</tbody>
</table>
</div>
</main>
</body>
</html>
"""
