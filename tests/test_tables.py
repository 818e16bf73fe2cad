"""Cross-authority tables for many authorities: the spread of published figures, not a column each."""

import datetime as dt
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from cinreport.chapters.tables import markdown_table, published_numbers, spread_markdown, spread_table
from cinreport.common.layout import MANY_AUTHORITIES

ROOT = Path(__file__).resolve().parents[1]


def test_published_numbers_reads_cells_and_leaves_symbols_out():
    frame = pd.DataFrame({"A": ["12", "c", "45% (26% to 66%)"], "B": ["z", "7%", "0"]})
    got = published_numbers(frame)
    assert got["A"].tolist()[0] == 12 and np.isnan(got["A"].tolist()[1]) and got["A"].tolist()[2] == 45
    assert np.isnan(got["B"].tolist()[0]) and got["B"].tolist()[1:] == [7, 0]


def test_spread_is_quartiles_of_published_figures_only():
    values = pd.DataFrame({"A": [10.0, np.nan], "B": [20.0, np.nan], "C": [30.0, np.nan], "D": [40.0, 5.0],
                           "E": [50.0, np.nan]}, index=["p", "q"])
    spread = spread_table(values, "Category")
    assert spread.index.name == "Category"
    assert spread.loc["p"].tolist() == ["5", "10%", "20%", "30%", "40%", "50%"]
    assert spread.loc["q"].tolist() == ["1", "5%", "5%", "5%", "5%", "5%"]
    none = spread_table(pd.DataFrame({"A": [np.nan], "B": [np.nan]}, index=["r"]), "Category", symbol="c")
    assert none.loc["r"].tolist() == ["0", "c", "c", "c", "c", "c"]


def test_spread_markdown_names_the_open_data_and_the_suppression():
    values = pd.DataFrame({f"LA {i}": [float(i), np.nan if i == 3 else 50.0] for i in range(20)}, index=["p", "q"])
    text = spread_markdown(values, "Need", "Primary need by authority", "tbl-need", "need")
    lines = text.splitlines()
    assert lines[0] == "| Need | Authorities with a figure | Lowest | Lower quartile | Median | Upper quartile | Highest |"
    assert lines[2] == "| p | 20 | 0% | 5% | 10% | 15% | 19% |"   # midpoint quartiles of 0..19, half up
    assert lines[3] == "| q | 19 | 50% | 50% | 50% | 50% | 50% |"
    assert ": Primary need by authority: spread across the 20 authorities" in text and "`need.csv`" in text
    assert text.count("{#tbl-need}") == 1 and "left out of the spread" in text
    clean = spread_markdown(values.fillna(1.0), "Need", "C", "tbl-x", "x")
    assert "left out" not in clean


def _study(tmp_path, n):
    from cinreport.chapters.study import Study
    from cinreport.data.config import load_report

    authorities = [SimpleNamespace(code=f"la-{i:03d}", name=f"Authority {i:03d}", new_la_code=None,
                                   period_end=dt.date(2022, 3, 31)) for i in range(n)]
    return Study(load_report(ROOT / "params"), authorities, {}, {}, None, tmp_path, "x")


def test_a_study_table_has_a_column_per_authority_up_to_the_limit_then_a_spread(tmp_path):
    from store_support import store_for_counts

    rng = np.random.default_rng(1)
    for n, wide in ((MANY_AUTHORITIES, True), (MANY_AUTHORITIES + 1, False)):
        study = _study(tmp_path / str(n), n)
        counts = pd.DataFrame({a.code: rng.integers(0, 40, 4) for a in study.authorities},
                              index=["w", "x", "y", "z"])
        counts.iloc[0, 0] = 2  # a small count: suppressed, and left out of the spread
        study._pub = store_for_counts(counts, "demo")
        text = study.table("demo", "Category", "Demo by authority")
        header = text.splitlines()[0]
        assert ("Authority 000 (n)" in header) is wide and ("Median" in header) is not wide
        published = pd.read_csv(tmp_path / str(n) / "tables" / "demo.csv", dtype=str)
        assert published.shape[1] == 1 + 2 * n  # the tables/ CSV keeps every authority either way
        assert published.iloc[0, 1] == "c"
        if not wide:
            shares = pd.DataFrame({c: [float(p.rstrip("%")) if p != "c" else np.nan
                                       for p in published[f"{a} (%)"].iloc[:-1]]
                                   for c, a in ((a.code, a.name) for a in study.authorities)}, index=counts.index)
            row = next(line for line in text.splitlines() if line.startswith("| w |"))
            assert row.split(" | ")[1] == str(int(shares.loc["w"].notna().sum()))
            assert row.split(" | ")[4] == f"{math.floor(shares.loc['w'].median() + 0.5)}%"
            assert "Total" not in text.split(":")[0]


def test_key_findings_evidence_gives_the_range_of_a_per_authority_count_when_there_are_many():
    from cinreport.chapters.findings import by_authority_text

    few = by_authority_text({"la-a": "20", "la-b": "c"}, {"la-a": "Authority A", "la-b": "Authority B"})
    assert few == "Authority A 20, Authority B c"
    many = {f"la-{i:03d}": str(18 + i % 7) for i in range(MANY_AUTHORITIES + 1)} | {"la-999": "c"}
    assert by_authority_text(many) == (f"from 18 to 24 across the {MANY_AUTHORITIES + 1} authorities with a published "
                                       f"figure (of {MANY_AUTHORITIES + 2})")


def test_plan_length_figure_leaves_out_small_authorities_and_uses_dots_when_many(tmp_path):
    from store_support import store_for_plan_lengths

    rng = np.random.default_rng(2)
    for n, kind in ((4, "Boxes"), (MANY_AUTHORITIES + 2, "Dot plot")):
        study = _study(tmp_path / str(n), n)
        study.metrics = {a.code: {} for a in study.authorities}
        study._pub = store_for_plan_lengths({a.code: list(rng.integers(30, 400, 3 if i == 0 else 12).astype(float))
                                             for i, a in enumerate(study.authorities)})
        text = study.plan_length_figure()  # the notebook cell's options caption and describe it
        assert text.startswith("![](figures/plan-length.png)")
        assert (tmp_path / str(n) / "figures" / "plan-length.png").is_file()
        assert "1 authority has fewer than 10 ended plans and is not shown" in text
        assert (kind in text) is (kind == "Dot plot")  # boxes: the cell's fig-alt; dots: the image's own
        assert kind in study.plan_length_figure(in_cell=False)  # caption and description in the output
        if kind == "Dot plot":
            assert f"one dot per authority ({n - 1} authorities)" in text


def test_plan_length_figure_is_not_drawn_when_no_authority_has_enough_ended_plans(tmp_path):
    from store_support import store_for_plan_lengths

    study = _study(tmp_path, 3)
    study.metrics = {a.code: {} for a in study.authorities}
    study._pub = store_for_plan_lengths({a.code: [40.0, 90.0] * 4 for a in study.authorities})
    assert study.plan_length_figure().startswith("No authority has 10 or more ended plans")
    assert not (tmp_path / "figures" / "plan-length.png").exists()


def test_markdown_table_right_aligns_only_number_columns():
    frame = pd.DataFrame({"n": ["1,234", "c"], "share": ["45% (26% to 66%)", "z"], "range": ["1.0% to 2.5%", "x"],
                          "meaning": ["text", "more text 2"]}, index=["a", "b"])
    rule = markdown_table(frame).splitlines()[1]
    assert rule == "|:---|---:|---:|---:|:---|"


@pytest.mark.parametrize("symbol", ["c", "x", "[c]", "*"])
def test_a_sentence_starting_with_a_suppressed_count_keeps_its_symbol(symbol):
    from cinreport.chapters.tables import first_upper
    from cinreport.common.inert import markdown_text

    assert first_upper(f"{symbol} case files in 4 authorities", symbol) == f"{symbol} case files in 4 authorities"
    escaped = markdown_text(symbol)
    assert first_upper(f"{escaped} plans were open", symbol) == f"{escaped} plans were open"
    assert first_upper("case files in 4 authorities", symbol) == "Case files in 4 authorities"
    assert first_upper("12 case files", symbol) == "12 case files"
