"""Golden backtests: the report's headline cross-authority tables, as published (after the disclosure
pass), for the demo data, compared with the expected tables committed in ``tests/golden/``.

The tables are built in-process from ``data/`` and ``params/`` through the package, as the build
makes them (validate and measure each authority, one disclosure pass over everything published, then
each table from the store, as ``Study.table`` writes ``build/study/tables/<name>.csv``), without
executing a notebook. A change to the data, the measures, the disclosure rules or the table layout
that moves a published number fails here, naming the table and cell.

The golden files change only through ``make golden`` (which sets ``CINREPORT_WRITE_GOLDEN=1``), so a
change to them is a reviewed diff of published numbers, never a side effect of running the tests.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pandas as pd
import pytest

from cinreport.chapters.authority import measure
from cinreport.chapters.study import Study
from cinreport.chapters.tables import store_table
from cinreport.common.atomic import write_csv
from cinreport.data.codebook import load_codebook
from cinreport.data.config import load_authorities, load_report
from cinreport.data.validate import load_validated

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"
WRITE = os.environ.get("CINREPORT_WRITE_GOLDEN") == "1"

# name in the store -> (first column's label, unit of the counts, what the columns are: None for one per authority,
# else a label for the columns of a table of all authorities together; percentages shown), as the chapters ask
TABLES = {
    "age-band": ("Age at plan start", "children", None, True),
    "ethnicity": ("Ethnic group", "children", None, True),
    "primary-need-cases": ("Primary need", "children", None, True),
    "concern": ("Concern", "children", None, True),
    "factors": ("Factor group", "children", None, True),
    "service-group": ("Kind of service", "services", None, True),
    "provider": ("Provider", "services", None, True),
    "mental-health": ("Mental-health referrals", "referrals", None, True),
    "needs-met": ("Need", "n", "Measure", False),
    "themes": ("Theme", "n", "Source type", False),
}


@pytest.fixture(scope="module")
def demo_study(tmp_path_factory) -> Study:
    """The demo project measured and passed through the disclosure control, into a temporary build folder."""
    build = tmp_path_factory.mktemp("golden-build")
    report = load_report(ROOT / "params")
    codebook = load_codebook(ROOT / "data" / "codebook.yml")
    authorities = load_authorities(ROOT / "params", root=ROOT)
    metrics, cases = {}, {}
    for a in authorities:
        out = build / "authorities" / a.code
        metrics[a.code] = measure(a, report, codebook, load_validated(a, codebook), out)
        cases[a.code] = pd.read_csv(out / "cases.csv")
    study = Study(report, authorities, metrics, cases, codebook, build / "study", "golden", build)
    study.publish()
    return study


def published_table(study: Study, name: str) -> pd.DataFrame:
    """The table as the build writes it (``build/study/tables/<name>.csv``)."""
    category, unit, columns, percent = TABLES[name]
    t = store_table(study.pub, name, category, percent=percent, drop_empty=True)
    return t.display(study.names if columns is None else {}, unit).reset_index()


def _as_read(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_headline_table_equals_its_golden_file(demo_study, name):
    table = published_table(demo_study, name)
    golden = GOLDEN / f"{name}.csv"
    if WRITE:
        write_csv(golden, table)
    assert golden.is_file(), f"{golden} is missing: run `make golden` and review the new file"
    # both as the CSV text a reader downloads: cells compared as text ("c", "45%", "1,234")
    actual = _as_read(table.to_csv(index=False, lineterminator="\n", float_format="%.6g"))
    expected = _as_read(golden.read_text(encoding="utf-8"))
    pd.testing.assert_frame_equal(actual, expected, obj=f"published table {name} (tests/golden/{name}.csv)")


def test_every_golden_file_is_a_table_checked_here():
    if WRITE:
        for stale in set(GOLDEN.glob("*.csv")) - {GOLDEN / f"{name}.csv" for name in TABLES}:
            stale.unlink()
    assert {p.stem for p in GOLDEN.glob("*.csv")} == set(TABLES)


def test_golden_tables_are_the_published_ones(demo_study):
    """The goldens hold what readers see: no count below the threshold is shown in them."""
    threshold = demo_study.threshold
    for name, (_, _, _, percent) in TABLES.items():
        frame = _as_read((GOLDEN / f"{name}.csv").read_text(encoding="utf-8"))
        counts = frame.iloc[:, 1:] if not percent else frame[[c for c in frame.columns[1:] if not c.endswith("(%)")]]
        for value in counts.to_numpy().ravel():
            if value.replace(",", "").isdigit():
                n = int(value.replace(",", ""))
                assert n == 0 or n >= threshold, f"{name}: {value} is below the threshold {threshold}"
