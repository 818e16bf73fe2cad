"""The national-context chapter and each authority's national comparison.

Everything here reads :class:`~cinreport.national.data.NationalData` (DfE published figures for every
English local authority) and the study authorities' metrics. Study authorities with a real LA code
(``new_la_code`` in their params) are placed by their published figures; fictional ones (the demo)
by the study's own administrative data, compared with England and the region named in params.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cinreport.chapters import figures
from cinreport.chapters.tables import caption_line, markdown_table
from cinreport.common.atomic import write_csv
from cinreport.common.inert import markdown_code, markdown_text
from cinreport.common.opendata import (
    Indicator,
    authority_geography,
    national_geography,
    wide_rows,
    write_open_table,
)
from cinreport.data.codebook import Codebook
from cinreport.data.config import Authority
from cinreport.national.data import CPP_BANDS, LA_LEVEL, NationalData

SOURCE = ("Source: Department for Education, *Children in need* and *Characteristics of children in need* "
          "statistics (Explore Education Statistics), and ONS mid-year population estimates. Contains public "
          "sector information licensed under the Open Government Licence v3.0.")
SYMBOL_WORDS = "c: suppressed; x: not available; u: low reliability"
SYMBOLS_NOTE = ("DfE symbols are kept as published: `c` suppressed, `x` not available, `z` not applicable, "
                "`u` low reliability.")


def spread(values: pd.Series) -> dict[str, float]:
    """n, minimum, quartiles and maximum of published values (NaN dropped)."""
    v = values.dropna().astype(float)
    if v.empty:
        return {"n": 0}
    q = v.quantile([0.0, 0.25, 0.5, 0.75, 1.0]).to_numpy()
    return {"n": int(v.size), "min": q[0], "q1": q[1], "median": q[2], "q3": q[3], "max": q[4],
            "iqr": q[3] - q[1]}


def percentile_rank(values: pd.Series, x: float | None) -> float:
    """Share of ``values`` strictly below ``x`` plus half those equal (0 to 100)."""
    v = values.dropna().astype(float).to_numpy()
    if not v.size or x is None or np.isnan(x):
        return float("nan")
    return float(100 * ((v < x).sum() + 0.5 * (v == x).sum()) / v.size)


def comparison_year(period_end: dt.date, available: list[str]) -> str:
    """The DfE reporting year (to 31 March) that contains ``period_end``, or the nearest available."""
    year = period_end.year if period_end.month <= 3 else period_end.year + 1
    years = sorted(int(y) for y in available)
    return str(min(years, key=lambda y: (abs(y - year), -y))) if years else str(year)


def study_share(pub, authority: str, code: str) -> tuple[float | None, str]:
    """Share of a study authority's administrative-data children with factor ``code`` among those with
    any factor, from the build's store: ``(None, 'c')`` when the disclosure pass suppressed it (the
    count or its complement is small, or it would give a suppressed count back), ``(None, 'z')``
    when no child has any factor, ``(None, 'x')`` for a factor the codebook does not list."""
    name = f"{authority}/factor-code/{code}"
    if name not in pub.objects:
        return None, "x"
    o = pub.obj(name)
    if pub.value(o["n"]) == 0:
        return None, "z"
    s = pub.share(o["k"], o["n"])
    return (None, "c") if s is None else (s, "value")


def factor_variation(data: NationalData, period: str, codes: list[str]) -> pd.DataFrame:
    """Per factor: England's share and the spread across LAs, largest middle-half spread first."""
    rows = []
    for code in codes:
        s = spread(data.la_values(f"factor:{code}", period))
        eng, _ = data.area_value(f"factor:{code}", period, data.england_code())
        if s["n"]:
            rows.append({"code": code, "england": eng, **s})
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame["ratio"] = frame["q3"] / frame["q1"].where(frame["q1"] > 0)
    return frame.sort_values(["iqr", "code"], ascending=[False, True], ignore_index=True)


def trend_word(first: float, last: float, steady: float = 0.02) -> str:
    """'rose', 'fell' or 'was broadly unchanged' (a change of less than ``steady`` as a share)."""
    if first and abs(last - first) / abs(first) < steady:
        return "was broadly unchanged"
    return "rose" if last > first else "fell"


def _pct(x: float | None, decimals: int = 0) -> str:
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{100 * x:.{decimals}f}%"


def _cell(value: float | None, status: str, fmt) -> str:
    """A published figure, or DfE's own symbol where there is none (a blank cell is ``x``)."""
    if status == "value" and value is not None:
        return fmt(value)
    return "x" if status == "missing" else status


def _open(value: float | None, status: str, measure: str) -> str:
    """An open-data cell: the number (a share as a per cent, 1 decimal; rates as published), or the symbol."""
    if status != "value" or value is None:
        return "x" if status == "missing" else status
    return f"{100 * value:.1f}" if measure.endswith("share") or ":" in measure else f"{value:.2f}".rstrip("0").rstrip(".")


def _ordinal(p: float) -> str:
    n = int(round(p))
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def symbol_note(statuses: pd.Series) -> str:
    """DfE's symbols among areas with no published figure, as readers see them: 'not published: 2 c,
    1 x' ('' when every area has a figure). Blank cells count as ``x`` (not available)."""
    shown = statuses[statuses != "value"].replace({"missing": "x"})
    if shown.empty:
        return ""
    counts = shown.value_counts()
    return "not published: " + ", ".join(f"{counts[k]} {k}" for k in sorted(counts.index))


def variation(data: NationalData, measure: str, period: str) -> dict[str, Any]:
    """England's value, the spread across local authorities (see :func:`spread`) and the DfE symbols
    of the authorities with no published figure, for one measure and year."""
    rows = data.select(measure, period, LA_LEVEL)
    eng, eng_status = data.area_value(measure, period, data.england_code())
    return {"england": eng, "england_status": eng_status, **spread(rows.loc[rows["status"] == "value", "value"]),
            "symbols": symbol_note(rows["status"])}


def within_share(values: pd.Series, groups: pd.Series) -> float:
    """Share of the total variance of ``values`` that lies within ``groups`` (1 minus the between-group
    sum of squares over the total); NaN when the values do not vary."""
    v = values.astype(float)
    total = ((v - v.mean()) ** 2).sum()
    if not total:
        return float("nan")
    means = v.groupby(groups.to_numpy()).transform("mean")
    return float(1 - ((means - v.mean()) ** 2).sum() / total)


def plural(n: int, one: str, many: str | None = None) -> str:
    """'1 focus group', '2 focus groups' (``many`` for irregular plurals)."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


# The measures of the use of Child in Need plans: measure -> (label, formatter of a value).
def _rate(v: float) -> str:
    return f"{v:.1f}"


def _ratio(v: float) -> str:
    return f"{v:.2f}"


PLAN_MEASURES: dict[str, tuple[str, Any]] = {
    "cin_plan_rate": ("Child in Need plans open at 31 March, per 10,000 children", _rate),
    "cin_plan_start_rate": ("Child in Need plans started in the year, per 10,000 children", _rate),
    "cin_plan_share": ("Children in need at 31 March who had a Child in Need plan", lambda v: _pct(v)),
    "cin_plan_per_cpp": ("Child in Need plans per child protection plan, at 31 March", _ratio),
}


@dataclass
class Place:
    """How a study authority is compared: by its published figures or by the study's own data."""

    authority: Authority
    la: dict[str, str] | None          # the real LA, when new_la_code is found in the national data
    region_code: str | None
    region_name: str | None

    @property
    def real(self) -> bool:
        return self.la is not None


def place(authority: Authority, data: NationalData) -> Place:
    la = data.la(authority.new_la_code) if authority.new_la_code else None
    if la:
        return Place(authority, la, la["region_code"], la["region_name"])
    regions = data.regions()
    if authority.region and authority.region in regions:
        return Place(authority, None, regions[authority.region], authority.region)
    return Place(authority, None, None, None)


def unavailable_text(data: NationalData) -> str:
    """For readers: national context is missing from this edition, and why (the README tells the
    person building the report how to supply the files)."""
    return (f"**National context was not included in this edition of the report**: {markdown_text(data.reason)}. "
            f"The Department for Education's published figures were not available when it was produced.")


@dataclass
class NationalChapter:
    """The national-context chapter for a study (see ``Study.national``)."""

    data: NationalData
    authorities: list[Authority]
    pub: Any  # the build's published store (cinreport.disclosure.publication.Published)
    codebook: Codebook
    threshold: int
    symbol: str
    top_factors: int
    period_end: dt.date
    out_dir: Path

    # -- helpers -----------------------------------------------------------------------------
    def label(self, code: str) -> str:
        return self.codebook.codes("assessment_factor").labels.get(code, code)

    def figure(self, name: str, fig, caption: str, alt: str) -> str:
        saved = figures.save(fig, self.out_dir / "figures" / f"{name}.png", f"fig-{name}", caption, alt)
        return saved.markdown(self.out_dir)

    def table(self, name: str, frame: pd.DataFrame, index_label: str, caption: str) -> str:
        write_csv(self.out_dir / "tables" / f"{name}.csv", frame.reset_index(names=index_label))
        return markdown_table(frame, index_label=index_label) + "\n\n" + caption_line(caption, f"tbl-{name}")

    def open_national_factors(self, year: str, var: pd.DataFrame) -> None:
        cols = {"england": "england_percent", "median": "la_median_percent", "q1": "la_lower_quartile_percent",
                "q3": "la_upper_quartile_percent", "min": "la_minimum_percent", "max": "la_maximum_percent"}
        rows = pd.DataFrame({"factor_code": var["code"], "factor": [self.label(c) for c in var["code"]],
                             **{new: (100 * var[old].astype(float)).round(1) for old, new in cols.items()},
                             "local_authorities": var["n"]})
        labels = {"england_percent": "England", "la_median_percent": "Median local authority",
                  "la_lower_quartile_percent": "Lower quartile of local authorities",
                  "la_upper_quartile_percent": "Upper quartile of local authorities",
                  "la_minimum_percent": "Lowest local authority", "la_maximum_percent": "Highest local authority"}
        write_open_table(self.out_dir, "national-factors",
                         f"Share of episodes with factors identified at assessment, England and the spread across "
                         f"local authorities, {year}", "national", rows, national_geography(year),
                         {"factor_code": "Assessment factor code", "factor": "Assessment factor"},
                         {**{c: Indicator(f"{label}: per cent of episodes with factors", "%", 1)
                             for c, label in labels.items()},
                          "local_authorities": Indicator("Local authorities publishing the figure")})

    @property
    def places(self) -> list[Place]:
        return [place(a, self.data) for a in self.authorities]

    # -- sections ----------------------------------------------------------------------------
    def sections(self, intro: str) -> list[str]:
        """The whole chapter after ``intro`` (its heading and introduction), as Markdown parts."""
        if not self.data.available:
            return [intro, unavailable_text(self.data)]
        return [intro, *self.plans(), *self.needs(), *self.durations(), *self.rates(), *self.trend(),
                *self.factors(), *self.study_places(), *self.not_included(), self.source_note()]

    # The notebook's cells (notebooks/study/national.ipynb): one section each, as Markdown, empty when
    # the DfE files it needs were not read (so its heading, figures and tables, whose captions name the
    # year, are outputs: they depend on which files there are).
    def _section(self, parts) -> str:
        return "\n\n".join(parts()) if self.data.available else ""

    def unavailable_note(self) -> str:
        """That national context is not in this edition, and why; empty when the DfE files were read."""
        return "" if self.data.available else unavailable_text(self.data)

    def plans_section(self) -> str:
        return self._section(self.plans)

    def needs_section(self) -> str:
        return self._section(self.needs)

    def durations_section(self) -> str:
        return self._section(self.durations)

    def rates_section(self) -> str:
        return self._section(self.rates)

    def trend_section(self) -> str:
        return self._section(self.trend)

    def factors_section(self) -> str:
        return self._section(self.factors)

    def study_places_section(self) -> str:
        return self._section(self.study_places)

    def not_included_section(self) -> str:
        return self._section(self.not_included)

    def source_note(self) -> str:
        """The sources of the national figures and DfE's symbols; empty when none were read."""
        return f"{SOURCE} {SYMBOLS_NOTE}" if self.data.available else ""

    # -- the use of Child in Need plans (further-research area 2) ---------------------------------
    def not_included(self) -> list[str]:
        missing = self.data.not_included()
        if not missing:
            return []
        return ["## Not included in this build {#sec-national-not-included}",
                "Some of the national figures this chapter can show were not available to this build, so the "
                "sections that use them are left out: " + "; ".join(markdown_text(v) for v in missing.values()) + "."]

    def region_of(self, p: Place) -> str:
        return f"{p.authority.name}'s region ({p.region_name})"

    def placed(self, measure: str, period: str) -> list[dict[str, Any]]:
        """Each study authority in one measure: a real LA by its own published figure, a fictional one
        by its region's (label says which). Columns: authority, group (region), label, value, status."""
        out, seen = [], set()
        for p in self.places:
            if p.la is not None:
                v, st = self.data.area_value(measure, period, p.la["code"])
                label = p.authority.name
            elif p.region_code:
                v, st = self.data.area_value(measure, period, p.region_code)
                label = self.region_of(p)
            else:
                continue
            if label in seen:
                continue
            seen.add(label)
            out.append({"authority": p.authority.name, "group": p.region_name, "label": label, "value": v,
                        "status": st, "real": p.real})
        return out

    def plan_year(self) -> str:
        return self.data.latest("cin_plan_rate")

    def plans(self) -> list[str]:
        """Lead section: how much English authorities differ in their use of Child in Need plans."""
        d = self.data
        if not d.has("cin_plans"):
            return []
        year = self.plan_year()
        rate = variation(d, "cin_plan_rate", year)
        share = variation(d, "cin_plan_share", year)
        start = variation(d, "cin_plan_start_rate", year)
        balance = variation(d, "cin_plan_per_cpp", year)
        las = d.select("cin_plan_rate", year, LA_LEVEL)
        regions = d.select("cin_plan_rate", year, "Regional")
        regions = regions[regions["area_code"].str.startswith("E12") & (regions["status"] == "value")]
        hi, lo = regions.loc[regions["value"].idxmax()], regions.loc[regions["value"].idxmin()]
        published = las[las["status"] == "value"]
        within = within_share(published["value"], published["region_name"])
        placed = self.placed("cin_plan_rate", year)
        study = []
        for r in placed:
            if r["status"] != "value":
                study.append(f"{markdown_text(r['label'])}: {markdown_code(r['status'])}")
            elif r["real"]:
                study.append(f"{markdown_text(r['label'])} had {r['value']:.0f} (the "
                             f"{_ordinal(percentile_rank(las.loc[las['status'] == 'value', 'value'], r['value']))} "
                             f"percentile)")
            else:
                own = las[(las["region_name"] == r["group"]) & (las["status"] == "value")]["value"]
                study.append(f"{markdown_text(r['authority'])} is in {markdown_text(r['group'])}, where the rate was "
                             f"{r['value']:.0f} and its authorities ranged from {own.min():.0f} to {own.max():.0f}")
        fictional = [r for r in placed if not r["real"]]
        study_text = (" Where the study authorities sit: " + "; ".join(study) + "." if study else "")
        if fictional:
            study_text += (" The demonstration authorities are fictional, so they have no published figures of "
                           "their own and are shown by their regions.")
        unpublished = int((las["status"] != "value").sum())
        symbols = (f" {plural(unpublished, 'authority', 'authorities')} had no published figure "
                   f"({rate['symbols'].removeprefix('not published: ')}; {SYMBOL_WORDS})." if unpublished else "")
        text = (
            f"At 31 March {year}, English local authorities had between {rate['min']:.0f} and {rate['max']:.0f} "
            f"Child in Need plans open per 10,000 children aged 0 to 17 (median {rate['median']:.0f}; the middle "
            f"half between {rate['q1']:.0f} and {rate['q3']:.0f}), against {rate['england']:.0f} for England: the "
            f"highest authority used Child in Need plans {rate['max'] / rate['min']:.0f} times as often as the lowest. "
            f"By region the rate ran from {lo['value']:.0f} in {markdown_text(lo['area_name'])} to "
            f"{hi['value']:.0f} in {markdown_text(hi['area_name'])}"
            + (f", but {_pct(within)} of the variation lies between authorities in the same region, not between "
               f"regions." if within >= 0.5 else f"; {_pct(1 - within)} of the variation is between regions.")
            + symbols
        )
        text2 = (
            f"The share of children in need who had a Child in Need plan varied as much: from {_pct(share['min'])} to "
            f"{_pct(share['max'])} of the children in need at 31 March (England {_pct(share['england'])}; middle half "
            f"{_pct(share['q1'])} to {_pct(share['q3'])}). Authorities started between {start['min']:.0f} and "
            f"{start['max']:.0f} plans per 10,000 children during the year (England {start['england']:.0f})."
            + (f" For every child protection plan, England had {balance['england']:.1f} Child in Need plans; across "
               f"authorities the balance ran from {balance['min']:.1f} to {balance['max']:.1f} (middle half "
               f"{balance['q1']:.1f} to {balance['q3']:.1f}), so authorities differ in which kind of plan they use, "
               f"not only in how many children they support." if balance.get("n") else "")
            + study_text
        )
        values = las[las["status"] == "value"].assign(group=lambda f: f["region_name"])[["group", "value"]]
        values = values.sort_values("group", kind="stable")
        notes = {g: symbol_note(rows["status"]) for g, rows in las.groupby("region_name")}
        highlights = pd.DataFrame([{"group": r["group"], "label": r["label"], "value": r["value"]}
                                   for r in placed if r["status"] == "value"])
        fig = figures.dot_distribution(values, "Child in Need plans open at 31 March per 10,000 children aged 0 to 17",
                                       {g: rate["england"] for g in values["group"].unique()},
                                       highlights if len(highlights) else None, notes=notes)
        return [
            "## Use of Child in Need plans across England {#sec-national-plans}",
            text,
            self.figure("national-plans", fig,
                        f"Child in Need plans open at 31 March {year} per 10,000 children, each English local "
                        f"authority by region"
                        + (", with the study authorities' regions marked" if fictional else ", with the study "
                           "authorities marked" if placed else ""),
                        f"Dot plot: one grey dot per local authority showing its Child in Need plans per 10,000 "
                        f"children at 31 March {year}, in rows by region, with England's rate of "
                        f"{rate['england']:.0f} as a black bar in every row and a coloured marker for each study "
                        f"authority (or its region). Authorities range from {rate['min']:.0f} to {rate['max']:.0f}; "
                        f"a row's label says how many authorities' figures were not published, with DfE's symbol."),
            text2,
            self.plans_table(year),
            self.plans_study_table(year),
        ]

    def plans_table(self, year: str) -> str:
        rows, tidy = {}, []
        for measure, (label, fmt) in PLAN_MEASURES.items():
            v = variation(self.data, measure, year)
            if not v.get("n"):
                continue
            rows[label] = {"England": _cell(v["england"], v["england_status"], fmt),
                           "Median authority": fmt(v["median"]),
                           "Middle half of authorities": f"{fmt(v['q1'])} to {fmt(v['q3'])}",
                           "Lowest to highest": f"{fmt(v['min'])} to {fmt(v['max'])}",
                           "Not published": v["symbols"].removeprefix("not published: ") or "none"}
            tidy.append({"measure": label, "england": _open(v["england"], v["england_status"], measure),
                         "la_median": _open(v["median"], "value", measure), "la_lower_quartile": _open(v["q1"], "value", measure),
                         "la_upper_quartile": _open(v["q3"], "value", measure), "la_minimum": _open(v["min"], "value", measure),
                         "la_maximum": _open(v["max"], "value", measure), "local_authorities": str(v["n"])})
        frame = pd.DataFrame(rows).T
        write_open_table(self.out_dir, "national-plans", f"Use of Child in Need plans: England and the spread across "
                         f"local authorities, {year}", "national", pd.DataFrame(tidy), national_geography(year),
                         {"measure": "Measure"},
                         {**{c: Indicator(f"{c.replace('_', ' ').capitalize()} (per 10,000 children, per cent or ratio, "
                                          f"as the measure says)") for c in ("england", "la_median", "la_lower_quartile",
                                                                             "la_upper_quartile", "la_minimum", "la_maximum")},
                          "local_authorities": Indicator("Local authorities publishing the figure")})
        return self.table("national-plans", frame, "Measure",
                          f"Use of Child in Need plans, {year}: England and the spread across English local "
                          f"authorities (Not published: authorities without a figure, by DfE symbol)")

    def plans_study_table(self, year: str) -> str:
        """The study authorities (or, for fictional ones, their regions) against England."""
        measures = {**{m: v for m, v in PLAN_MEASURES.items()},
                    "cin_duration:2 years or more": ("Open episodes at 31 March that had lasted 2 years or more",
                                                     lambda v: _pct(v)),
                    "need:N1": ("Children in need at 31 March whose primary need was abuse or neglect",
                                lambda v: _pct(v))}
        columns: dict[str, dict[str, str]] = {}
        for measure, (label, fmt) in measures.items():
            for r in self.placed(measure, year):
                columns.setdefault(r["label"], {})[label] = _cell(r["value"], r["status"], fmt)
            v, st = self.data.area_value(measure, year, self.data.england_code())
            columns.setdefault("England", {})[label] = _cell(v, st, fmt)
        if len(columns) < 2:
            return ""
        frame = pd.DataFrame(columns)
        frame = frame[[c for c in frame.columns if c != "England"] + ["England"]]
        return self.table("national-plans-study", frame, "Measure",
                          f"Use of Child in Need plans, {year}: the study authorities (or, where fictional, their "
                          f"regions) against England. DfE symbols as published")

    def needs(self) -> list[str]:
        d = self.data
        if not d.has("primary_need"):
            return []
        year = d.latest("need:N1")
        codes = [c for c in ("N1", "N2", "N3", "N4", "N5", "N6", "N7", "N8", "N9", "N0")
                 if len(d.select(f"need:{c}", year, LA_LEVEL))]
        labels = self.codebook.codes("primary_need").labels
        values, ref, notes, highlights, vars_ = [], {}, {}, [], {}
        for c in codes:
            label = labels.get(c, c)
            rows = d.select(f"need:{c}", year, LA_LEVEL)
            values.append(pd.DataFrame({"group": label, "value": 100 * rows.loc[rows["status"] == "value", "value"].to_numpy()}))
            vars_[c] = variation(d, f"need:{c}", year)
            ref[label] = None if vars_[c]["england"] is None else 100 * vars_[c]["england"]
            notes[label] = vars_[c]["symbols"]
            highlights += [{"group": label, "label": r["label"], "value": 100 * r["value"]}
                           for r in self.placed(f"need:{c}", year) if r["status"] == "value"]
        fig = figures.dot_distribution(pd.concat(values, ignore_index=True),
                                       "Per cent of children in need at 31 March, by primary need", ref,
                                       pd.DataFrame(highlights) if highlights else None, notes=notes)
        widest = sorted(codes, key=lambda c: -vars_[c].get("iqr", 0))[:2]
        n1 = vars_.get("N1", {})
        lead = (f"Abuse or neglect was the primary need of {_pct(n1['england'])} of England's children in need at "
                f"31 March {year}, but of anywhere from {_pct(n1['min'])} to {_pct(n1['max'])} in individual "
                f"authorities. " if n1.get("n") else "")
        spreadest = "; ".join(f"*{markdown_text(labels.get(c, c))}* (middle half of authorities {_pct(vars_[c]['q1'])} to "
                              f"{_pct(vars_[c]['q3'])})" for c in widest)
        return [
            "## Why children need help: primary need {#sec-national-needs}",
            f"{lead}The primary needs whose share varies most between authorities are {spreadest}. These "
            f"figures cannot say how much of the difference lies in the children authorities serve and how much "
            f"in how they record need.",
            self.figure("national-needs", fig,
                        f"Children in need at 31 March {year} by primary need: each English local authority against "
                        f"England",
                        "Dot plot: for each primary need, one grey dot per local authority showing the percentage "
                        "of its children in need with that need, a black bar for England and coloured markers for "
                        "the study authorities (or their regions); row labels say how many authorities' figures "
                        "were not published, with DfE's symbol."),
        ]

    def durations(self) -> list[str]:
        d = self.data
        if not d.has("episode_duration"):
            return []
        year = d.latest("cin_duration:2 years or more")
        bands = [b for b in dict.fromkeys(CPP_BANDS.values()) if len(d.select(f"cin_duration:{b}", year, LA_LEVEL))]
        values, ref, notes, highlights = [], {}, {}, []
        for b in bands:
            m = f"cin_duration:{b}"
            rows = d.select(m, year, LA_LEVEL)
            values.append(pd.DataFrame({"group": b, "value": 100 * rows.loc[rows["status"] == "value", "value"].to_numpy()}))
            v = variation(d, m, year)
            ref[b] = None if v["england"] is None else 100 * v["england"]
            notes[b] = v["symbols"]
            highlights += [{"group": b, "label": r["label"], "value": 100 * r["value"]}
                           for r in self.placed(m, year) if r["status"] == "value"]
        long = variation(d, "cin_duration:2 years or more", year)
        short = variation(d, "cin_duration:3 months or less", year)
        fig = figures.dot_distribution(pd.concat(values, ignore_index=True),
                                       "Per cent of open Child in Need episodes at 31 March", ref,
                                       pd.DataFrame(highlights) if highlights else None, size=figures.SIZE_WIDE,
                                       notes=notes)
        return [
            "## How long children stay in need {#sec-national-duration}",
            f"Of the Child in Need episodes open at 31 March {year}, {_pct(long['england'])} in England had lasted "
            f"two years or more; across authorities the share ran from {_pct(long['min'])} to {_pct(long['max'])} "
            f"(middle half {_pct(long['q1'])} to {_pct(long['q3'])}). Episodes of three months or less were "
            f"{_pct(short['england'])} in England and from {_pct(short['min'])} to {_pct(short['max'])} by authority. "
            f"An episode covers all of a child's time in need, of which a Child in Need plan is one part, so these "
            f"are the nearest published measure of how long authorities keep children's cases open.",
            self.figure("national-duration", fig,
                        f"Open Child in Need episodes at 31 March {year} by how long they had lasted: each English "
                        f"local authority against England",
                        "Dot plot: for each length-of-episode band, one grey dot per local authority showing the "
                        "percentage of its open episodes in that band, a black bar for England and coloured markers "
                        "for the study authorities (or their regions)."),
        ]

    def rates(self) -> list[str]:
        d = self.data
        year = d.latest("cin_rate")
        las = d.select("cin_rate", year, LA_LEVEL)
        las = las[las["status"] == "value"]
        s = spread(las["value"])
        eng, _ = d.area_value("cin_rate", year, d.england_code())
        regions = d.select("cin_rate", year, "Regional")
        regions = regions[regions["area_code"].str.startswith("E12") & (regions["status"] == "value")]
        hi, lo = regions.loc[regions["value"].idxmax()], regions.loc[regions["value"].idxmin()]
        real = [(p, p.la) for p in self.places if p.la is not None]
        placed = []
        for p, la in real:
            v, st = d.area_value("cin_rate", year, la["code"])
            if st == "value" and v is not None:
                placed.append(f"{markdown_text(p.authority.name)} ({markdown_text(la['name'])}) had {v:.0f}, the "
                              f"{_ordinal(percentile_rank(las['value'], v))} percentile")
        study = (" Among the study authorities, " + "; ".join(placed) + "." if placed else
                 " The study authorities are fictional, so they have no published rate; they are compared by "
                 "their factor mix below.")
        values = las.assign(group=las["region_name"])[["group", "value"]].sort_values("group", kind="stable")
        highlights = pd.DataFrame([{"group": la["region_name"], "label": p.authority.name,
                                    "value": d.area_value("cin_rate", year, la["code"])[0]} for p, la in real])
        ref = {g: eng for g in values["group"].unique()}
        fig = figures.dot_distribution(values, "Children in need per 10,000 children aged 0 to 17", ref,
                                       highlights if len(highlights) else None)
        return [
            "## Children in need per 10,000 children {#sec-national-rates}",
            f"At 31 March {year}, {s['n']} English local authorities had between {s['min']:.0f} and {s['max']:.0f} "
            f"children in need per 10,000 children aged 0 to 17 (median {s['median']:.0f}; the middle half between "
            f"{s['q1']:.0f} and {s['q3']:.0f}), against {eng:.0f} for England. By region, the rate was highest in "
            f"{markdown_text(hi['area_name'])} ({hi['value']:.0f}) and lowest in "
            f"{markdown_text(lo['area_name'])} ({lo['value']:.0f}): most of the "
            f"variation is between authorities within each region.{study}",
            self.figure("national-rate", fig,
                        f"Children in need per 10,000 children at 31 March {year}, each English local authority "
                        f"by region",
                        f"Dot plot: one grey dot per local authority showing its rate of children in need per "
                        f"10,000 children in {year}, grouped in rows by region, with England's rate of {eng:.0f} "
                        f"marked as a black bar in every row. Authorities range from {s['min']:.0f} to "
                        f"{s['max']:.0f}."),
        ]

    def trend(self) -> list[str]:
        d = self.data
        rates = d.select("cin_rate")
        rates = rates[rates["status"] == "value"].assign(year=lambda f: f["time_period"].astype(int))
        eng = rates[rates["geographic_level"] == "National"].sort_values("year")
        regions = rates[(rates["geographic_level"] == "Regional") & rates["area_code"].str.startswith("E12")]
        las = rates[rates["geographic_level"] == LA_LEVEL]
        first, last = eng.iloc[0], eng.iloc[-1]
        by_year = las.groupby("year")["value"]
        iqr = (by_year.quantile(0.75) - by_year.quantile(0.25))
        fig = figures.trend_small_multiples(
            las.rename(columns={"region_name": "panel", "area_code": "area"})[["panel", "area", "year", "value"]],
            regions.rename(columns={"area_name": "panel"}).sort_values(["panel", "year"])[["panel", "year", "value"]],
            eng[["year", "value"]], "Children in need per 10,000")
        change = trend_word(first["value"], last["value"])
        return [
            "## Trend {#sec-national-trend}",
            f"England's rate {change}, from {first['value']:.0f} per 10,000 in {first['year']} to "
            f"{last['value']:.0f} in {last['year']}. The middle half of local authorities spanned "
            f"{iqr.iloc[0]:.0f} points in {iqr.index[0]} and {iqr.iloc[-1]:.0f} points in {iqr.index[-1]}.",
            self.figure("national-trend", fig,
                        f"Children in need per 10,000 children, {first['year']} to {last['year']}, by region",
                        f"Small multiples, one panel per English region: thin grey lines for each local authority's "
                        f"rate of children in need per 10,000 children from {first['year']} to {last['year']}, a "
                        f"blue line for the region and a dashed black line for England."),
        ]

    def measure_trend(self, measures: dict[str, str], name: str, ylabel: str, caption: str, alt: str) -> tuple[str, pd.DataFrame]:
        """Small multiples over time, one panel per measure: every LA (grey) and England (blue).
        Returns the figure's Markdown and England's values by year (columns: panel, year, value)."""
        d = self.data
        m = d.measures[d.measures["measure"].isin(measures) & (d.measures["status"] == "value")]
        m = m.assign(year=m["time_period"].astype(int), panel=m["measure"].map(measures), value=100 * m["value"])
        las = m[m["geographic_level"] == LA_LEVEL].rename(columns={"area_code": "area"})
        eng = m[m["geographic_level"] == "National"].sort_values(["panel", "year"])
        order = list(measures.values())
        eng = eng.assign(panel=pd.Categorical(eng["panel"], order, ordered=True)).sort_values(["panel", "year"])
        eng["panel"] = eng["panel"].astype(str)
        fig = figures.trend_small_multiples(las[["panel", "area", "year", "value"]], eng[["panel", "year", "value"]],
                                            None, ylabel, panel_label="England", sharey=False, band=True)
        return self.figure(name, fig, caption, alt), eng[["panel", "year", "value"]]

    def factor_year(self) -> str:
        return self.data.latest("factor_episodes")

    def factors(self) -> list[str]:
        d = self.data
        year = self.factor_year()
        codes = d.factor_codes(year, self.top_factors)
        var = factor_variation(d, year, codes)
        values = []
        for code in codes:
            v = d.la_values(f"factor:{code}", year)
            values.append(pd.DataFrame({"group": self.label(code), "value": 100 * v.to_numpy()}))
        values = pd.concat(values, ignore_index=True)
        ref = {self.label(r["code"]): 100 * r["england"] for _, r in var.iterrows() if r["england"] is not None}
        fig = figures.dot_distribution(values, "Per cent of episodes with factors identified at assessment", ref)
        top3 = var.head(3)
        most = "; ".join(f"*{markdown_text(self.label(r['code']))}* (middle half of authorities "
                         f"{_pct(r['q1'])} to {_pct(r['q3'])})" for _, r in top3.iterrows())
        table = pd.DataFrame({
            "England": [_pct(r["england"], 1) for _, r in var.iterrows()],
            "Median LA": [_pct(r["median"], 1) for _, r in var.iterrows()],
            "Middle half of LAs": [f"{_pct(r['q1'], 1)} to {_pct(r['q3'], 1)}" for _, r in var.iterrows()],
            "Range": [f"{_pct(r['min'], 1)} to {_pct(r['max'], 1)}" for _, r in var.iterrows()],
        }, index=[self.label(c) for c in var["code"]])
        self.open_national_factors(year, var)
        lead = ", ".join(f"*{markdown_text(self.label(c))}* ({_pct(var.set_index('code').loc[c, 'england'])})" for c in codes[:3])
        return [
            "## Factors identified at assessment {#sec-national-factors}",
            f"In {year}, the factors most often identified at the end of assessment in England were {lead} of "
            f"episodes with factors. The factor mix differs between authorities; the factors whose share varies "
            f"most are {most}.",
            self.figure("national-factors", fig,
                        f"Factors identified at the end of assessment, {year}: each English local authority against "
                        f"England",
                        f"Dot plot: for each of the {len(codes)} most common factors, one grey dot per local "
                        f"authority showing the percentage of its assessment episodes with that factor, and a black "
                        f"bar for England."),
            self.table("national-factors", table, "Factor",
                       f"Share of episodes with factors identified at assessment, England and the spread across "
                       f"local authorities, {year}, largest spread first"),
            *self.factor_trend(codes[:6]),
        ]

    def factor_trend(self, codes: list[str]) -> list[str]:
        measures = {f"factor:{c}": self.label(c) for c in codes}
        md, eng = self.measure_trend(measures, "national-factor-trend", "Per cent of episodes with factors",
                                     "Factors identified at assessment over time: every English local authority and "
                                     "England",
                                     f"Small multiples, one panel for each of England's {len(codes)} most common "
                                     f"factors: a grey band for the middle half of local authorities' percentage of "
                                     f"assessment episodes with the factor by year, and a blue line for England.")
        first, last = eng["year"].min(), eng["year"].max()
        moves = []
        for panel, g in eng.groupby("panel", sort=False):
            a, b = g.iloc[0]["value"], g.iloc[-1]["value"]
            moves.append((b - a, panel, a, b))
        up = max(moves)
        down = min(moves)
        text = (f"From {first} to {last}, the largest rise in England among these factors was in *{markdown_text(up[1])}* "
                f"({up[2]:.0f}% to {up[3]:.0f}%)" + (f" and the largest fall in *{markdown_text(down[1])}* ({down[2]:.0f}% to "
                                                     f"{down[3]:.0f}%)." if down[0] < 0 else "; none fell."))
        return [text, md]

    def study_places(self) -> list[str]:
        d = self.data
        year = comparison_year(self.period_end, list(d.select("factor_episodes")["time_period"].unique()))
        codes = d.factor_codes(year, self.top_factors)
        rows, notes = {}, []
        for p in self.places:
            col = {}
            for code in codes:
                if p.la is not None:
                    v, st = d.area_value(f"factor:{code}", year, p.la["code"])
                else:
                    v, st = study_share(self.pub, p.authority.code, code)
                if st == "value":
                    rank = percentile_rank(d.la_values(f"factor:{code}", year), v)
                    col[self.label(code)] = f"{_pct(v)} ({_ordinal(rank)})"
                else:
                    col[self.label(code)] = self.symbol if st == "c" else st
            rows[p.authority.name] = col
            source = (f"published figures for {markdown_text(p.la['name'])}" if p.la is not None else
                      "the study's administrative data (children on plans with any factor recorded)")
            notes.append(f"{markdown_text(p.authority.name)}: {source}")
        eng = {self.label(c): _pct(d.area_value(f"factor:{c}", year, d.england_code())[0]) for c in codes}
        frame = pd.DataFrame(rows)
        self.open_study_factors(year, codes)
        figure = self.places_figure(year, codes)
        frame.insert(0, "England", pd.Series(eng))
        fictional = not any(p.real for p in self.places)
        caveat = (" The study's administrative data cover children on Child in Need plans, whereas DfE's figures "
                  "cover every assessment episode with factors, so differences are indicative."
                  if any(not p.real for p in self.places) else "")
        demo = (" The demo authorities are fictional and their data synthetic, so their places illustrate the "
                "method only." if fictional else "")
        return [
            "## Where the study authorities sit {#sec-national-study}",
            f"Each study authority's share of children with each factor, with its percentile among the English "
            f"local authorities in {year} (the reporting year containing the end of the study period) in "
            f"brackets. Sources: {'; '.join(notes)}.{caveat}{demo}",
            figure,
            self.table("national-study-factors", frame, "Factor",
                       f"Factors identified at assessment: study authorities against England, {year} "
                       f"(percentile among local authorities in brackets)")
            + (f"\n\n{markdown_code(self.symbol)} = suppressed: fewer than {self.threshold} children have, or do not have, the "
               f"factor, or the share would give a suppressed count back." if (frame == self.symbol).any().any() else ""),
        ]

    def open_study_factors(self, year: str, codes: list[str]) -> None:
        rows, geo = [], []
        for p in self.places:
            for code in codes:
                v, st = (self.data.area_value(f"factor:{code}", year, p.la["code"]) if p.la is not None
                         else study_share(self.pub, p.authority.code, code))
                ok = st == "value" and v is not None
                rank = percentile_rank(self.data.la_values(f"factor:{code}", year), v) if ok else None
                shown = self.symbol if st == "c" else st
                rows.append({"source": "Published (DfE)" if p.real else "Study administrative data",
                             "factor_code": code, "factor": self.label(code),
                             "percent": f"{100 * v:.1f}" if ok and v is not None else shown,
                             "percentile_among_las": f"{rank:.0f}" if ok else shown})
                geo.append(authority_geography(p.authority.name, p.authority.new_la_code, self.period_end))
        write_open_table(self.out_dir, "national-study-factors",
                         f"Factors identified at assessment: study authorities against England, {year}", "national",
                         pd.DataFrame(rows), pd.DataFrame(geo),
                         {"source": "Source of the figure", "factor_code": "Assessment factor code",
                          "factor": "Assessment factor"},
                         {"percent": Indicator("Per cent with the factor", "%", 1),
                          "percentile_among_las": Indicator(f"Percentile among English local authorities, {year}")})

    def places_figure(self, year: str, codes: list[str]) -> str:
        d = self.data
        values, highlights, ref = [], [], {}
        for code in codes:
            label = self.label(code)
            values.append(pd.DataFrame({"group": label, "value": 100 * d.la_values(f"factor:{code}", year).to_numpy()}))
            e, _ = d.area_value(f"factor:{code}", year, d.england_code())
            ref[label] = None if e is None else 100 * e
            for p in self.places:
                if p.la is not None:
                    v, st = d.area_value(f"factor:{code}", year, p.la["code"])
                else:
                    v, st = study_share(self.pub, p.authority.code, code)
                if st == "value" and v is not None:
                    highlights.append({"group": label, "label": p.authority.name, "value": 100 * v})
        fig = figures.dot_distribution(pd.concat(values, ignore_index=True),
                                       "Per cent with each factor identified at assessment", ref,
                                       pd.DataFrame(highlights) if highlights else None)
        names = ", ".join(p.authority.name for p in self.places)
        return self.figure("national-study-factors", fig,
                           f"Factors identified at assessment: the study authorities within the spread of English "
                           f"local authorities, {year}",
                           f"Dot plot: for each of the {len(codes)} most common factors, grey dots for every local "
                           f"authority in {year}, a black bar for England and a coloured marker for each study "
                           f"authority ({names}); suppressed values are not drawn.")


def authority_context(authority: Authority, pub, data: NationalData, codebook: Codebook, top: int = 6,
                      out_dir: Path | None = None) -> str:
    """An authority chapter's section: the authority against England, its region and its statistical
    neighbours on children in need per 10,000 and the most common factors at assessment."""
    code = authority.code
    threshold, symbol = pub.threshold, pub.symbol
    head = f"## In national context {{#sec-{code}-national}}"
    if not data.available:
        return f"{head}\n\n{unavailable_text(data)}"
    p = place(authority, data)
    labels = codebook.codes("assessment_factor").labels
    fyear = comparison_year(authority.period_end, list(data.select("factor_episodes")["time_period"].unique()))
    ryear = comparison_year(authority.period_end, list(data.select("cin_rate")["time_period"].unique()))
    eng = data.england_code()
    neighbours = data.neighbours_of(p.la["code"]) if p.la is not None else []
    columns = {}

    def published(area: str | None) -> dict[str, str]:
        out = {}
        v, st = data.area_value("cin_rate", ryear, area) if area else (None, "–")
        out[f"Children in need per 10,000 ({ryear})"] = f"{v:.0f}" if st == "value" else st
        for c in codes:
            v, st = data.area_value(f"factor:{c}", fyear, area) if area else (None, "–")
            out[f"{labels.get(c, c)} ({fyear})"] = _pct(v) if st == "value" else st
        return out

    def neighbour_median() -> dict[str, str]:
        out = {}
        rate = data.la_values("cin_rate", ryear).reindex(neighbours).dropna()
        out[f"Children in need per 10,000 ({ryear})"] = f"{rate.median():.0f}" if len(rate) else "x"
        for c in codes:
            v = data.la_values(f"factor:{c}", fyear).reindex(neighbours).dropna()
            out[f"{labels.get(c, c)} ({fyear})"] = _pct(v.median()) if len(v) else "x"
        return out

    codes = data.factor_codes(fyear, top)
    if p.la is not None:
        columns[authority.name] = published(p.la["code"])
        if neighbours:
            columns["Statistical neighbours (median)"] = neighbour_median()
    else:
        own = {f"Children in need per 10,000 ({ryear})": "z"}
        for c in codes:
            v, st = study_share(pub, code, c)
            own[f"{labels.get(c, c)} ({fyear})"] = _pct(v) if st == "value" else (symbol if st == "c" else st)
        columns[f"{authority.name} (study data)"] = own
    if p.region_code and p.region_name:
        columns[p.region_name] = published(p.region_code)
    columns["England"] = published(eng)
    frame = pd.DataFrame(columns)
    if p.la is not None:
        compared = (f"the median of its {len(neighbours)} statistical neighbours (DfE groupings, 2021), "
                    if neighbours else "")
        missing = ("" if neighbours else " Its statistical neighbours are not shown: the neighbour-groupings file "
                   "was not available, or lists none that exist today.")
        text = (f"{markdown_text(authority.name)} is {markdown_text(p.la['name'])} ({markdown_text(p.la['code'])}) "
                f"in {markdown_text(p.region_name)}. The table compares its "
                f"published figures with {compared}its region and England.{missing}")
    else:
        region = (f"its region, {markdown_text(p.region_name)}," if p.region_code else
                  "England alone (no English region is given for it)")
        text = (f"{markdown_text(authority.name)} has no published Department for Education figures of its own (it is "
                f"not matched to a real local authority), so its own administrative data are set against {region} "
                f"and England. Its share is of children on plans with any factor recorded; DfE's is of assessment "
                f"episodes with factors, so differences are indicative. It has no statistical neighbours and no "
                f"rate per 10,000 children (`z`: not applicable).")
    note = (f"\n\n{markdown_code(symbol)} = suppressed: fewer than {threshold} children have, or do not have, the factor, or "
            "the share would give a suppressed count back."
            if (frame == symbol).any().any() else "")
    if out_dir is not None:
        write_open_table(out_dir, f"{code}-national", f"{authority.name} against England and comparators",
                         authority.name, wide_rows(frame, "measure", "comparator", "value"),
                         authority_geography(authority.name, authority.new_la_code, authority.period_end),
                         {"measure": "Measure (year)", "comparator": "Area or group compared"},
                         {"value": Indicator("Value (per 10,000 children, or per cent of episodes with factors)")})
    return "\n\n".join([head, text,
                        markdown_table(frame, index_label="Measure")
                        + "\n\n" + caption_line(f"{authority.name} against England"
                                                + (f", {p.region_name}" if p.region_code else "")
                                                + (" and statistical neighbours" if neighbours else ""),
                                                f"tbl-{code}-national") + note,
                        f"{SOURCE} {SYMBOLS_NOTE}"])


def clear_national_outputs(out_dir: Path, prefix: str = "") -> None:
    """Remove the national tables and figures a chapter wrote in an earlier build: with other national
    files (or none) it writes other ones, and a stale file would still be published. ``prefix`` is the
    start of the chapter's own names for them: an authority chapter names its tables ``<code>-national``
    (``la-a-national.csv`` in its ``open/``), the study chapter ``national...``."""
    import shutil

    out_dir = Path(out_dir)
    patterns = sorted({"national*", f"{prefix}national*"})
    for sub in ("tables", "open", "figures"):  # display tables, their open-data versions, figures
        folder = out_dir / sub
        found = sorted({p for pattern in patterns for p in folder.glob(pattern)}) if folder.is_dir() else []
        for path in found:
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
