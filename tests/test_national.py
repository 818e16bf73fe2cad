"""National context: measures built from the real DfE files, checked against the files' own text,
and the chapters' behaviour with and without the files."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from html import unescape
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cinreport.chapters.national import (
    NationalChapter,
    _cell,
    authority_context,
    comparison_year,
    factor_variation,
    percentile_rank,
    place,
    plural,
    spread,
    study_share,
    symbol_note,
    trend_word,
    within_share,
)
from cinreport.data.codebook import load_codebook
from cinreport.data.config import Authority, load_report
from cinreport.national import data as national
from conftest import ROOT, national_dir

DFE = national_dir()
needs_dfe = pytest.mark.skipif(DFE is None, reason="the DfE national files (params national.dir, "
                               "../shared/data/dfe beside the checkout) are not on this machine")


def rows(name: str) -> list[dict[str, str]]:
    with open(DFE / name, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def built(tmp_path_factory, monkeypatch_module=None):
    if DFE is None:
        pytest.skip("DfE national files not present")
    out = tmp_path_factory.mktemp("national")
    params = load_report(ROOT / "params").national | {"dir": str(DFE)}
    status = national.build(params, out)
    return status, national.NationalData.load(out)


# -- small functions --------------------------------------------------------------------------------
def test_spread_and_percentile_rank():
    s = spread(pd.Series([1.0, 2.0, 3.0, 4.0, np.nan]))
    assert (s["n"], s["min"], s["median"], s["max"]) == (4, 1.0, 2.5, 4.0)
    assert s["iqr"] == pytest.approx(s["q3"] - s["q1"])
    assert spread(pd.Series([np.nan])) == {"n": 0}
    v = pd.Series([10.0, 20.0, 30.0, 40.0])
    assert percentile_rank(v, 25.0) == 50.0
    assert percentile_rank(v, 10.0) == 12.5      # ties count half
    assert percentile_rank(v, 5.0) == 0.0
    assert np.isnan(percentile_rank(pd.Series([], dtype=float), 1.0))


def test_comparison_year_is_the_reporting_year_containing_the_date():
    assert comparison_year(dt.date(2021, 3, 31), ["2018", "2021", "2025"]) == "2021"
    assert comparison_year(dt.date(2021, 4, 1), ["2018", "2021", "2022"]) == "2022"
    assert comparison_year(dt.date(2012, 3, 31), ["2018", "2019"]) == "2018"   # nearest available
    assert comparison_year(dt.date(2030, 1, 1), ["2018", "2025"]) == "2025"


def test_study_share_suppresses_small_counts_and_small_complements():
    pub = _metrics(100, **{"3B": 40, "1A": 3, "4B": 97, "2A": 0})
    assert study_share(pub, "la-x", "3B") == (0.4, "value")
    assert study_share(pub, "la-x", "1A") == (None, "c")
    assert study_share(pub, "la-x", "4B") == (None, "c")      # 3 children without it: recoverable
    assert study_share(pub, "la-x", "2A") == (0.0, "value")
    assert study_share(_metrics(0), "la-x", "3B") == (None, "z")
    assert study_share(pub, "la-x", "99Z") == (None, "x")     # not a factor of the codebook


def test_trend_word():
    assert trend_word(332, 330) == "was broadly unchanged"
    assert trend_word(300, 330) == "rose"
    assert trend_word(330, 300) == "fell"


# -- measures from the real files --------------------------------------------------------------------
@needs_dfe
def test_rate_equals_count_over_previous_mid_year_population(built):
    status, data = built
    assert status["available"] and {f["key"] for f in status["files"]} == set(national.FILE_KEYS)
    cin = {(r["time_period"], r["geographic_level"], r["new_la_code"] or r["region_code"] or r["country_code"]):
           r["At31_episodes"] for r in rows("b1_children_in_need_2013_to_2025.csv")}
    pop = {(r["time_period"], r["geographic_level"], r["new_la_code"] or r["region_code"] or r["country_code"]):
           r["population_estimate"] for r in rows("ons_mid-year_population_estimates_2012_to_2024.csv")}
    checked = 0
    for r in data.select("cin_rate").itertuples():
        key = (r.time_period, r.geographic_level, r.area_code)
        prev = (str(int(r.time_period) - 1), r.geographic_level, r.area_code)
        c, p = cin[key], pop.get(prev, "")
        if c.replace(",", "").isdigit() and p.replace(",", "").isdigit() and float(p) > 0:
            assert r.status == "value"
            assert r.value == pytest.approx(round(10_000 * float(c) / float(p), 1))
            checked += 1
        else:
            assert r.status != "value" and np.isnan(r.value)
    assert checked > 1500


@needs_dfe
def test_factor_symbols_are_kept_not_zeroed(built):
    _, data = built
    raw = rows("c3_factors_identified_at_end_of_assessment_2018_to_2025.csv")
    total = "Episodes_with_assessment_factor"
    # a share is suppressed when its count is, or when its denominator is (and the count is a number)
    raw_c = sum(1 for r in raw if r["Neglect"] == "c" or (r["Neglect"].isdigit() and r[total] == "c"))
    raw_zero = sum(1 for r in raw if r["Neglect"] == "0" and r[total].isdigit() and int(r[total]) > 0)
    got = data.select("factor:16A")
    assert (got["status"] == "c").sum() == raw_c > 0
    assert ((got["status"] == "value") & (got["value"] == 0)).sum() == raw_zero
    eng = next(r for r in raw if r["geographic_level"] == "National" and r["time_period"] == "2025")
    v, st = data.area_value("factor:16A", "2025", "E92000001")
    assert st == "value" and v == pytest.approx(float(eng["Neglect"]) / float(eng["Episodes_with_assessment_factor"]))


@needs_dfe
def test_every_latest_year_la_and_region_is_present(built):
    _, data = built
    year = data.latest("cin_at31")
    las = data.select("cin_at31", year, national.LA_LEVEL)
    raw = [r for r in rows("b1_children_in_need_2013_to_2025.csv")
           if r["time_period"] == year and r["geographic_level"] == "Local authority"]
    assert sorted(las["area_code"]) == sorted(r["new_la_code"] for r in raw)
    assert len(data.regions()) == 9 and data.regions()["London"] == "E12000007"
    # London boroughs are placed in London (DfE splits Inner and Outer London).
    camden = data.la("E09000007")
    assert camden["region_name"] == "London"


@needs_dfe
def test_neighbours_are_current_codes_of_existing_authorities(built):
    _, data = built
    sn = rows("New_Statistical_Neighbour_Groupings_April_2021.csv")
    year = data.latest("cin_at31")
    current = set(data.select("cin_at31", year, national.LA_LEVEL)["area_code"])
    assert set(data.neighbours["area_code"]) <= current
    assert set(data.neighbours["neighbour_code"]) <= current
    # Manchester (352) has ten neighbours in the file; all exist today, in order.
    man = next(r for r in sn if r["LA number"] == "352")
    old_to_new = {r.old_la_code: r.area_code for r in data.select("cin_at31", year, national.LA_LEVEL).itertuples()}
    first = [v for k, v in man.items() if k and k.startswith("SN")][0]
    assert data.neighbours_of("E08000003")[0] == old_to_new[first]
    assert len(data.neighbours_of("E08000003")) == 10


@needs_dfe
def test_factor_variation_orders_by_spread(built):
    _, data = built
    year = data.latest("factor_episodes")
    codes = data.factor_codes(year, 12)
    assert len(codes) == 12 and "3B" in codes
    var = factor_variation(data, year, codes)
    assert list(var["iqr"]) == sorted(var["iqr"], reverse=True)
    top = var.iloc[0]
    la = data.la_values(f"factor:{top['code']}", year)
    assert top["iqr"] == pytest.approx(la.quantile(0.75) - la.quantile(0.25))


@needs_dfe
@pytest.mark.slow
def test_build_outputs_are_byte_identical(tmp_path):
    params = load_report(ROOT / "params").national | {"dir": str(DFE)}
    national.build(params, tmp_path / "a")
    national.build(params, tmp_path / "b")
    for name in ("measures.csv", "neighbours.csv", "status.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


# -- chapters ---------------------------------------------------------------------------------------
def _authority(code="la-x", new_la_code=None, region=None) -> Authority:
    return Authority(code, "Authority X", ROOT / "data" / "la-a", dt.date(2019, 4, 1), dt.date(2021, 3, 31),
                     ROOT / "params" / "authorities" / "la-a.yml", new_la_code, region)


def _metrics(with_factors=200, **codes):
    """The published store of a fictional authority 'la-x' whose administrative data have
    ``with_factors`` children with any factor and ``codes`` children with each factor code (as the
    plan declares the national-context shares, then after the disclosure pass)."""
    from cinreport.disclosure import plan
    from cinreport.disclosure.publication import Publication, Published, ref

    cb = load_codebook(ROOT / "data" / "codebook.yml")
    atoms = {"admin_factor:_any": {k: v for k, v in {"yes": with_factors, "no factors": 10}.items() if v}}
    for code, k in codes.items():
        atoms[f"admin_factor:{code}"] = {a: v for a, v in {"yes": k, "no": with_factors - k, "no factors": 10}.items()
                                         if v}
    pub = Publication({"la-x": atoms}, 5, "c")
    for code in (c for c in cb.codes("assessment_factor").labels if c != "21"):
        plan._share(pub, f"la-x/factor-code/{code}", "la-x chapter", code, ref(f"admin_factor:{code}", "la-x", has="yes"),
                    ref("admin_factor:_any", "la-x", has="yes"), "la-x")
    return Published.from_dict(pub.suppress().to_dict())


def test_missing_folder_says_plainly_that_national_context_is_not_included(tmp_path):
    params = load_report(ROOT / "params").national | {"dir": str(tmp_path / "nowhere")}
    status = national.build(params, tmp_path / "out")
    assert status == json.loads((tmp_path / "out" / "status.json").read_text())
    assert not status["available"] and "nowhere" in status["reason"] and "not found" in status["reason"]
    data = national.NationalData.load(tmp_path / "out")
    text = authority_context(_authority(), _metrics(), data, load_codebook(ROOT / "data" / "codebook.yml"))
    assert "National context was not included in this edition" in text and "nowhere" in text
    ch = NationalChapter(data, [_authority()], _metrics(), load_codebook(ROOT / "data" / "codebook.yml"),
                         5, "c", 12, dt.date(2021, 3, 31), tmp_path / "ch")
    parts = ch.sections("# National context")
    assert len(parts) == 2 and "not included" in parts[1]


def test_authority_chapter_without_national_files_removes_its_earlier_national_outputs(tmp_path):
    """An authority chapter names its national open-data table after itself (``la-x-national.csv``):
    built again once the national files are gone, it removes that table (and its .meta.csv), so the
    book built incrementally has none, as a clean build has none."""
    from cinreport.chapters.authority import AuthorityChapter

    build = tmp_path / "build"
    params = load_report(ROOT / "params").national | {"dir": str(tmp_path / "switched-off")}
    national.build(params, build / "national")
    out = build / "authorities" / "la-x"
    stale = [out / "open" / f"la-x-national{ext}" for ext in (".csv", ".meta.csv", ".about.json")]
    stale += [out / "tables" / "national.csv", out / "figures" / "la-x-national.png"]
    kept = [out / "open" / "la-x-age-band.csv", out / "tables" / "age-band.csv"]
    for path in stale + kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("earlier build\n", encoding="utf-8")
    chapter = AuthorityChapter(_authority(), load_report(ROOT / "params"), load_codebook(ROOT / "data" / "codebook.yml"),
                               _metrics(), out)
    assert "National context was not included" in chapter.national()
    assert [p for p in stale if p.exists()] == []
    assert all(p.exists() for p in kept)


def test_one_missing_file_is_named(tmp_path):
    (tmp_path / "dfe").mkdir()
    params = load_report(ROOT / "params").national | {"dir": str(tmp_path / "dfe")}
    status = national.build(params, tmp_path / "out")
    assert not status["available"] and "b1_children_in_need_2013_to_2025.csv" in status["reason"]


@needs_dfe
def test_real_authority_is_set_against_region_and_neighbours(built, tmp_path):
    _, data = built
    cb = load_codebook(ROOT / "data" / "codebook.yml")
    text = authority_context(_authority(new_la_code="E08000003"), _metrics(), data, cb)
    assert "Manchester (E08000003) in North West" in text
    assert "Statistical neighbours (median)" in text and "| North West |" in text.replace(" North West |", "| North West |")
    year = comparison_year(dt.date(2021, 3, 31), list(data.select("cin_rate")["time_period"].unique()))
    v, _ = data.area_value("cin_rate", year, "E08000003")
    assert f"| Children in need per 10,000 ({year}) | {v:.0f} |" in text


@needs_dfe
def test_fictional_authority_uses_its_own_data_and_params_region(built):
    _, data = built
    cb = load_codebook(ROOT / "data" / "codebook.yml")
    a = _authority(region="South West")
    assert place(a, data).region_code == "E12000009"
    year = "2021"
    codes = data.factor_codes(year, 6)
    counts = {c: 50 for c in codes} | {codes[0]: 3}
    text = authority_context(a, _metrics(200, **counts), data, cb)
    assert "Authority X (study data)" in text and "South West" in text
    assert "| 25% |" in text                       # 50 of 200
    assert "`c` = suppressed" in text              # 3 of 200 is suppressed
    unknown = authority_context(_authority(region="Atlantis"), _metrics(), data, cb)
    assert "England alone (no English region is given for it)" in unknown


# -- in the built book -------------------------------------------------------------------------------
@needs_dfe
@pytest.mark.e2e
def test_book_has_the_national_chapter_and_each_authority_in_context(built_project):
    html = (built_project / "_book" / "national.html").read_text(encoding="utf-8")
    status = json.loads((built_project / "build" / "national" / "status.json").read_text())
    assert status["available"]
    year = max(json.loads((built_project / "build" / "national" / "status.json").read_text())["latest"].values())
    assert f"At 31 March {year}, 153 English local authorities" in html
    for name in ("national-plans", "national-needs", "national-duration", "national-rate", "national-trend",
                 "national-factors", "national-study-factors"):
        assert f"{name}.png" in html
    # the chapter leads with the use of Child in Need plans, and places each demo authority by its region
    text = " ".join(unescape(html).replace("’", "'").split())
    headings = [" ".join(h.split()) for h in re.findall(r"<h2[^>]*>.*?</span>\s*([^<]+)</h2>", html, re.S)]
    assert headings[0] == "Use of Child in Need plans across England", headings
    for name, region in (("A", "North West"), ("B", "South East"), ("C", "West Midlands"), ("D", "Yorkshire and The Humber")):
        assert f"Authority {name}'s region ({region})" in text
    provenance = (built_project / "_book" / "provenance.html").read_text(encoding="utf-8")
    for f in status["files"]:                     # the appendix names every national file read, with its hash
        assert f["name"] in provenance and f["sha256"][:16] in provenance
    for code in ("la-a", "la-b", "la-c", "la-d"):
        page = (built_project / "_book" / f"{code}.html").read_text(encoding="utf-8")
        assert "In national context" in page and "England" in page and "(study data)" in page


@pytest.mark.e2e
def test_without_national_files_the_build_succeeds_and_says_so(built_project, tmp_path):
    # from the built demo (with national context) the national folder goes away: the harder path,
    # where the earlier national outputs must not survive (a clean build without national files is
    # test_bench's: its projects have none)
    import subprocess

    from conftest import make

    project = tmp_path / "p"
    subprocess.run(["cp", "-a", str(built_project), str(project)], check=True)
    make(project, "-j2", "report", env={"CINREPORT_NATIONAL_DIR": str(tmp_path / "no-such-folder")})
    html = (project / "_book" / "national.html").read_text(encoding="utf-8")
    assert "National context was not included in this edition" in html and "no-such-folder" in html
    assert "National context was not included" in (project / "_book" / "la-a.html").read_text(encoding="utf-8")
    assert "Not included: the national data folder" in (project / "_book" / "provenance.html").read_text(encoding="utf-8")
    assert (project / "_book" / "cinreport.pdf").stat().st_size > 10_000


# -- synthetic data drawn from a real LA ---------------------------------------------------------------
@needs_dfe
def test_profile_like_reproduces_the_las_factor_mix(built):
    from cinreport.analysis.measures import factor_code_counts
    from cinreport.data import synth

    _, data = built
    year = data.latest("factor_episodes")
    profile = synth.profile_like(data, "E08000003")
    tables = synth.generate_authority("la-e", profile, 1, (dt.date(2019, 4, 1), dt.date(2021, 3, 31)))
    counts = factor_code_counts(tables["admin"])
    cin, _ = data.area_value("cin_at31", data.latest("cin_at31"), "E08000003")
    assert len(tables["admin"]) == round(0.1 * cin)
    for code in data.factor_codes(year, 5):
        published, _ = data.area_value(f"factor:{code}", year, "E08000003")
        got = counts.get(code, 0) / counts["_with_factors"]
        assert abs(got - published) < 0.07, (code, got, published)
    # a different LA gives a different mix
    other = synth.profile_like(data, "E10000014")
    assert other.factor_shares != profile.factor_shares
    with pytest.raises(ValueError, match="'E99999999' is not a local authority"):
        synth.profile_like(data, "E99999999")


@needs_dfe
@pytest.mark.e2e
def test_new_authority_like_a_real_la_is_compared_with_its_neighbours(tmp_path):
    import subprocess
    import sys

    from conftest import VENV, copy_project, make

    project = copy_project(tmp_path / "p")
    env = {"CINREPORT_NATIONAL_DIR": str(DFE)}
    subprocess.run([str(VENV / "bin" / "cinreport"), "synth-like", "la-e", "--like", "E08000003"], cwd=project,
                   check=True, env={**__import__("os").environ, **env}, capture_output=True)
    assert "new_la_code: E08000003" in (project / "params" / "authorities" / "la-e.yml").read_text()
    again = subprocess.run([str(VENV / "bin" / "cinreport"), "synth-like", "la-e", "--like", "E08000003"],
                           cwd=project, env={**__import__("os").environ, **env}, capture_output=True, text=True)
    assert again.returncode == 1 and "already exists" in again.stderr
    make(project, "authority", "CODE=la-e")
    nb = json.loads((project / "build" / "authorities" / "la-e" / "authority.ipynb").read_text())
    text = "".join("".join(o.get("data", {}).get("text/markdown", "")) for c in nb["cells"] for o in c.get("outputs", []))
    assert "Manchester (E08000003) in North West" in text
    assert "Statistical neighbours (median)" in text and "(study data)" not in text
    assert sys.executable  # the environment that ran the build is this test run's


@pytest.mark.slow
def test_neighbours_file_is_optional(tmp_path):
    if DFE is None:
        pytest.skip("DfE national files not present")
    folder = tmp_path / "dfe"
    folder.mkdir()
    params = load_report(ROOT / "params").national | {"dir": str(folder)}
    for key in national.DFE_KEYS:
        (folder / params[key]).symlink_to(DFE / params[key])
    status = national.build(params, tmp_path / "out")
    assert status["available"] and {f["key"] for f in status["files"]} == set(national.DFE_KEYS)
    data = national.NationalData.load(tmp_path / "out")
    text = authority_context(_authority(new_la_code="E08000003"), _metrics(), data,
                             load_codebook(ROOT / "data" / "codebook.yml"))
    assert "statistical neighbours are not shown" in text and "Statistical neighbours (median)" not in text


def test_fetch_without_addresses_names_the_missing_params(tmp_path):
    params = load_report(ROOT / "params").national | {"dir": str(tmp_path)}
    with pytest.raises(ValueError, match="national.url_children_in_need"):
        national.fetch_national(params | {f"url_{k}": "" for k in national.DFE_KEYS})


def test_fetch_writes_every_file_or_none(tmp_path):
    import http.server
    import threading

    served = tmp_path / "served"
    served.mkdir()
    ok = ("time_period,time_identifier,geographic_level,country_code,country_name,x\n"
          "2024,Reporting year,National,E92000001,England,1\n")
    (served / "good.csv").write_text(ok)
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(served), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    dest = tmp_path / "dfe"
    params = load_report(ROOT / "params").national | {"dir": str(dest)}
    try:
        urls = {f"url_{k}": f"{base}/good.csv" for k in national.DFE_KEYS}
        written = national.fetch_national(params | urls)
        assert sorted(p.name for p in written) == sorted(params[k] for k in national.DFE_KEYS)
        before = {p.name: p.read_bytes() for p in dest.iterdir()}
        (served / "good.csv").write_text(ok.replace("1\n", "2\n"))
        with pytest.raises(OSError, match="missing.csv"):
            national.fetch_national(params | urls | {"url_population": f"{base}/missing.csv"})
        assert {p.name: p.read_bytes() for p in dest.iterdir()} == before   # nothing half-updated
    finally:
        server.shutdown()


# -- the use of Child in Need plans (b7), primary need (b3), open-episode durations (b4) ------------------
def test_symbol_note_counts_dfe_symbols_and_calls_blanks_not_available():
    assert symbol_note(pd.Series(["value", "value"])) == ""
    assert symbol_note(pd.Series(["value", "c", "x", "c", "missing", "u"])) == "not published: 2 c, 1 u, 2 x"


def test_cell_shows_the_figure_or_dfe_symbol_never_a_zero():
    assert _cell(12.34, "value", lambda v: f"{v:.1f}") == "12.3"
    assert _cell(None, "c", str) == "c" and _cell(None, "u", str) == "u" and _cell(None, "missing", str) == "x"


def test_within_share_is_the_variance_inside_groups():
    values = pd.Series([1.0, 3.0, 11.0, 13.0])
    assert within_share(values, pd.Series(["a", "a", "b", "b"])) == pytest.approx(4 / 104)
    assert within_share(values, pd.Series(["a", "b", "a", "b"])) == pytest.approx(100 / 104)
    assert np.isnan(within_share(pd.Series([2.0, 2.0]), pd.Series(["a", "b"])))


def test_plural():
    assert plural(1, "focus group") == "1 focus group" and plural(2, "focus group") == "2 focus groups"
    assert plural(3, "authority", "authorities") == "3 authorities"


@needs_dfe
def test_plan_measures_are_dfe_figures_with_their_symbols(built):
    status, data = built
    assert status["not_included"] == {}
    year = data.latest("cin_plan_rate")
    file_rows = [r for r in rows("b7_child_in_need_plans_2022_to_2024.csv")
                 if r["time_period"] == year and r["geographic_level"] == "Local authority"]
    checked = symbols = 0
    for r in file_rows:
        v, st = data.area_value("cin_plan_rate", year, r["new_la_code"])
        cell = r["CINPlan_At31_rate"].strip()
        if cell in ("c", "x", "z", "u", ".."):
            assert v is None and st == cell, r["la_name"]
            symbols += 1
        else:
            assert v == pytest.approx(float(cell)) and st == "value", r["la_name"]
        checked += 1
    assert checked >= 150 and symbols >= 1
    # plans at 31 March as a share of children in need (b1) and per child protection plan (d5)
    eng = data.england_code()
    plans, _ = data.area_value("cin_plan_at31", year, eng)
    cin, _ = data.area_value("cin_at31", year, eng)
    cpp, _ = data.area_value("cpp_at31", year, eng)
    assert data.area_value("cin_plan_share", year, eng)[0] == pytest.approx(plans / cin, rel=1e-5)
    assert data.area_value("cin_plan_per_cpp", year, eng)[0] == pytest.approx(plans / cpp, rel=1e-5)
    # a suppressed plan count gives a suppressed share, never a number
    suppressed = [r["new_la_code"] for r in file_rows if r["CINPlan_At31"].strip() == "c"]
    assert suppressed and all(data.area_value("cin_plan_share", year, c) == (None, "c") for c in suppressed)


@needs_dfe
def test_primary_need_and_duration_shares_match_the_files(built):
    _, data = built
    r = next(r for r in rows("b3_cin_primary_need_2013_to_2024.csv")
             if r["time_period"] == "2024" and r["new_la_code"] == "E08000003")
    v, _ = data.area_value("need:N1", "2024", "E08000003")
    assert v == pytest.approx(float(r["N1_Abuse_or_neglect"]) / float(r["At31_episodes"]))
    r = next(r for r in rows("b4_children_in_need_duration_of_open_episode_2013_to_2024.csv")
             if r["time_period"] == "2024" and r["new_la_code"] == "E08000003")
    v, _ = data.area_value("cin_duration:2 years or more", "2024", "E08000003")
    assert 100 * v == pytest.approx(float(r["2years+_percent"]), abs=0.05)


def _chapter(data, authorities, out):
    return NationalChapter(data, authorities, _metrics(), load_codebook(ROOT / "data" / "codebook.yml"), 5, "c", 6,
                           dt.date(2021, 3, 31), out)


@needs_dfe
def test_chapter_leads_with_plans_and_places_real_and_fictional_authorities(built, tmp_path):
    _, data = built
    real = Authority("la-h", "Authority H", ROOT / "data" / "la-a", dt.date(2019, 4, 1), dt.date(2021, 3, 31),
                     ROOT / "params" / "authorities" / "la-a.yml", "E10000014", None)   # Hampshire: `u` in 2024
    parts = _chapter(data, [real, _authority(region="North East")], tmp_path).plans()
    assert parts[0].startswith("## Use of Child in Need plans across England")
    text = "\n\n".join(parts)
    assert "Authority X is in North East, where the rate was" in text
    table = next(p for p in parts if "tbl-national-plans-study" in p)
    row = next(line for line in table.splitlines() if line.startswith("| Child in Need plans open at 31 March"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "u"                                  # Hampshire's own figure: DfE's symbol, as published
    eng, _ = data.area_value("cin_plan_rate", data.latest("cin_plan_rate"), data.england_code())
    assert cells[-1].replace("\\", "") == f"{eng:.1f}"
    variation_table = next(p for p in parts if "{#tbl-national-plans}" in p)
    assert "| 2 c, 1 u, 2 x |" in variation_table           # authorities without a figure, by DfE symbol


@needs_dfe
@pytest.mark.slow
def test_optional_files_left_out_are_named_and_their_sections_dropped(tmp_path):
    params = load_report(ROOT / "params").national | {"dir": str(DFE), "cin_plans": "", "primary_need": "gone.csv"}
    status = national.build(params, tmp_path / "out")
    assert status["available"] and set(status["not_included"]) == {"cin_plans", "primary_need"}
    assert "gone.csv" in status["not_included"]["primary_need"]
    data = national.NationalData.load(tmp_path / "out")
    assert not data.has("cin_plans") and data.has("episode_duration")
    parts = _chapter(data, [_authority(region="North East")], tmp_path / "ch").sections("# National context")
    text = "\n\n".join(parts)
    assert "Use of Child in Need plans" not in text and "primary need" not in text.split("## Not included")[0].lower()
    assert "## How long children stay in need" in text
    assert "Child in Need plans by local authority was not supplied" in text and "gone.csv" in text


@pytest.mark.parametrize("size", ["SIZE_WIDE", "SIZE_TALL"])
def test_dot_plot_legend_clear_of_axis_label_and_rows_name_their_symbols(size):
    from cinreport.chapters import figures

    values = pd.DataFrame({"group": ["3 months or less"] * 50 + ["2 years or more"] * 50,
                           "value": np.r_[np.linspace(10, 45, 50), np.linspace(0, 12, 50)]})
    highlights = pd.DataFrame({"group": ["3 months or less"], "label": ["Authority A's region (North West)"],
                               "value": [30.0]})
    fig = figures.dot_distribution(values, "Per cent of plans open at 31 March", {"3 months or less": 30.0,
                                   "2 years or more": 2.0}, highlights, size=getattr(figures, size),
                                   notes={"2 years or more": "not published: 3 c"})
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent(renderer)
    assert not legend.overlaps(ax.xaxis.label.get_window_extent(renderer))
    assert not any(legend.overlaps(t.get_window_extent(renderer)) for t in ax.get_xticklabels() + ax.get_yticklabels())
    assert [t.get_text() for t in ax.get_yticklabels()] == ["3 months or less", "2 years or more\n(not published: 3 c)"]
    import matplotlib.pyplot as plt
    plt.close(fig)


# -- the reader is strict where the chapter depends on it ------------------------------------------------
NATIONAL_PARAMS = load_report(ROOT / "params").national
STANDARD = ["time_period", "time_identifier", "geographic_level", "country_code", "country_name", "region_code",
            "region_name", "old_la_code", "new_la_code", "la_name"]
SMALL_AREAS = ("E92000001", "E12000001", "E06000005")   # England, the North East, Darlington


def _small_rows(key: str) -> tuple[list[str], list[list[str]]]:
    """Header and a few rows (England, a region, an LA; the last two years) of the real file of ``key``;
    without the real files on this machine, made up from what the key declares it needs."""
    if DFE is not None:
        with open(DFE / NATIONAL_PARAMS[key], encoding="utf-8-sig", newline="") as f:
            header, *rest = list(csv.reader(f))
        at = {c: header.index(c) for c in ("time_period", "country_code", "region_code", "new_la_code",
                                            "geographic_level")}
        years = sorted({r[at["time_period"]] for r in rest})[-2:]

        def area(r):
            level = r[at["geographic_level"]]
            return r[at["country_code"] if level == "National" else
                     at["region_code"] if level == "Regional" else at["new_la_code"]]
        return header, [r for r in rest if r[at["time_period"]] in years and area(r) in SMALL_AREAS]
    spec = national.NATIONAL_KEYS[key]
    header = STANDARD + ["category", *(names[0] for names in spec.indicators), *spec.identifying]
    places = [["National", "E92000001", "England", "", "", "", "", ""],
              ["Regional", "E92000001", "England", "E12000001", "North East", "", "", ""],
              ["Local authority", "E92000001", "England", "E12000001", "North East", "841", "E06000005",
               "Darlington"]]
    n = len(header) - len(STANDARD) - 1
    return header, [[year, "Reporting year", *p, "Total", *(["100"] + ["10"] * (n - 1))]
                    for year in ("2023", "2024") for p in places]


def small_national(folder: Path, edit=None) -> dict:
    """Small national files under ``folder`` with the names params give them; ``edit(key, header, rows)``
    may change them first. Returns the ``national:`` params pointing there (no neighbour file)."""
    folder.mkdir(parents=True, exist_ok=True)
    for key in national.DFE_KEYS:
        header, body = _small_rows(key)
        if edit:
            edit(key, header, body)
        with open(folder / NATIONAL_PARAMS[key], "w", encoding="utf-8", newline="") as f:
            csv.writer(f, lineterminator="\n").writerows([header, *body])
    return {k: v for k, v in NATIONAL_PARAMS.items() if k != "neighbours"} | {"dir": str(folder)}


def set_cell(key: str, column: str, value: str, level: str = "National"):
    """An ``edit`` that writes ``value`` into ``column`` of the latest ``level`` row of ``key``'s file;
    ``set_cell.line`` is then that row's line in the file (header = 1)."""
    def edit(k, header, body):
        if k == key:
            at, year = header.index("geographic_level"), header.index("time_period")
            i = max((r[year], i) for i, r in enumerate(body) if r[at] == level)[1]
            body[i][header.index(column)] = value
            set_cell.line = i + 2
    return edit


def test_small_national_files_build(tmp_path):
    status = national.build(small_national(tmp_path / "dfe"), tmp_path / "out")
    assert status["available"]
    data = national.NationalData.load(tmp_path / "out")
    assert data.area_value("factor:3B", data.latest("factor_episodes"), "E92000001")[1] == "value"


@pytest.mark.parametrize("cell", ["C", "N/A", "-", "24.7%", "x1", "none"])
@pytest.mark.parametrize("key, column", [("factors", "Domestic_Abuse_parent"), ("cpp_duration", "2_years_or_more"),
                                         ("children_in_need", "At31_episodes"),
                                         ("population", "population_estimate")])
def test_a_stray_cell_in_an_indicator_is_an_error_naming_file_line_column_value(tmp_path, key, column, cell):
    folder = tmp_path / "dfe"
    params = small_national(folder, set_cell(key, column, cell))
    with pytest.raises(national.NationalDataError) as err:
        national.build(params, tmp_path / "out")
    path = folder / NATIONAL_PARAMS[key]
    assert str(err.value).startswith(f"national.{key}: {path}, line {set_cell.line}, column '{column}', "
                                     f"value '{cell}': not a number or a DfE symbol")
    assert not (tmp_path / "out" / "measures.csv").exists()


@pytest.mark.parametrize("symbol", ["c", "x", "z", "u", "k", "low", ":", "~", ".."])
def test_dfe_symbols_are_missing_values_kept_as_their_status(tmp_path, symbol):
    params = small_national(tmp_path / "dfe", set_cell("factors", "Domestic_Abuse_parent", symbol))
    national.build(params, tmp_path / "out")
    data = national.NationalData.load(tmp_path / "out")
    year = data.latest("factor_episodes")
    assert data.area_value("factor:3B", year, "E92000001") == (None, symbol)
    assert data.area_value("factor:3B", year, "E12000001")[1] == "value"


def test_percent_sign_says_how_to_fix_it(tmp_path):
    params = small_national(tmp_path / "dfe", set_cell("factors", "Neglect", "24.7%"))
    with pytest.raises(national.NationalDataError, match=r"value '24\.7%'.*plain number.*remove the '%'"):
        national.build(params, tmp_path / "out")


def drop_column(key: str, column: str):
    def edit(k, header, body):
        if k == key:
            i = header.index(column)
            for r in (header, *body):
                del r[i]
    return edit


@pytest.mark.parametrize("key, column", [("factors", "Domestic_Abuse_parent"), ("factors", "Neglect"),
                                         ("cpp_duration", "2_years_or_more"),
                                         ("cpp_duration", "more_than_3_months_6_months"),
                                         ("children_in_need", "At31_episodes")])
def test_every_factor_and_band_the_chapter_shows_must_be_there(tmp_path, key, column):
    folder = tmp_path / "dfe"
    params = small_national(folder, drop_column(key, column))
    with pytest.raises(national.NationalDataError) as err:
        national.build(params, tmp_path / "out")
    text = str(err.value)
    assert text.startswith(f"national.{key}: {folder / NATIONAL_PARAMS[key]} is not the file this key needs")
    assert column in text and national.NATIONAL_KEYS[key].expected in text


def test_swapped_files_name_the_key_the_file_and_what_was_expected(tmp_path):
    folder = tmp_path / "dfe"
    params = small_national(folder)
    params["cpp_duration"], params["children_in_need"] = params["children_in_need"], params["cpp_duration"]
    with pytest.raises(national.NationalDataError) as err:
        national.build(params, tmp_path / "out")
    text = str(err.value)
    assert text.startswith(f"national.children_in_need: {folder / params['children_in_need']} is not the file")
    assert "At31_episodes" in text and "Children in need' file b1" in text
    assert "looks like the file for national.cpp_duration" in text


def test_cin_duration_file_given_as_cpp_duration_fails_before_the_chapter(tmp_path):
    """b4 (open CIN episodes by duration) has the same bands as d5 but counts CIN episodes."""
    def as_b4(k, header, body):
        if k == "cpp_duration":
            header[header.index("CPP_At31")] = "At31_episodes"
            header[header.index("2_years_or_more")] = "2years+"
    folder = tmp_path / "dfe"
    with pytest.raises(national.NationalDataError) as err:
        national.build(small_national(folder, as_b4), tmp_path / "out")
    assert str(err.value).startswith(f"national.cpp_duration: {folder / NATIONAL_PARAMS['cpp_duration']} is not "
                                     "the file this key needs: it lacks the column(s) CPP_At31. Expected DfE file d5")


@pytest.mark.parametrize("column, level", [("time_period", "National"), ("geographic_level", "Regional"),
                                           ("new_la_code", "Local authority"), ("la_name", "Local authority"),
                                           ("region_code", "Regional"), ("country_code", "National")])
def test_na_in_a_key_column_is_a_bad_value_at_its_line(tmp_path, column, level):
    folder = tmp_path / "dfe"
    params = small_national(folder, set_cell("children_in_need", column, "N/A", level))
    with pytest.raises(national.NationalDataError) as err:
        national.build(params, tmp_path / "out")
    text = str(err.value)
    assert f"{folder / NATIONAL_PARAMS['children_in_need']}, line {set_cell.line}, column '{column}', " \
           f"value 'N/A': " in text
    assert "not there" not in text and "lacks" not in text


def test_cli_national_stops_with_the_message(tmp_path, monkeypatch, capsys):
    from cinreport.cli import main

    folder = tmp_path / "dfe"
    small_national(folder, set_cell("factors", "Domestic_Abuse_parent", "C"))
    monkeypatch.setenv(national.ENV_DIR, str(folder))
    code = main(["--params", str(ROOT / "params"), "--build", str(tmp_path / "build"), "national"])
    err = capsys.readouterr().err
    assert code == 1
    assert (f"cinreport national: national.factors: {folder / NATIONAL_PARAMS['factors']}, line {set_cell.line}, "
            "column 'Domestic_Abuse_parent', value 'C': not a number or a DfE symbol") in err
    assert "DfE symbols are lower case ('c')" in err


@pytest.mark.parametrize("key, column", [("cin_plans", "CINPlan_At31_rate"), ("primary_need", "N4_Family_in_acute_stress"),
                                         ("episode_duration", "2years+")])
def test_optional_files_are_read_strictly_too(tmp_path, key, column):
    folder = tmp_path / "dfe"
    params = small_national(folder)
    header, body = _small_rows(key) if DFE is not None else (None, None)
    if header is None:
        pytest.skip("needs the real optional DfE files for their layout")
    body[0][header.index(column)] = "N/A"
    with open(folder / NATIONAL_PARAMS[key], "w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows([header, *body])
    with pytest.raises(national.NationalDataError) as err:
        national.build(params, tmp_path / "out")
    assert str(err.value).startswith(f"national.{key}: {folder / NATIONAL_PARAMS[key]}, line 2, column '{column}', "
                                     "value 'N/A': not a number or a DfE symbol")
