"""One authority's chapter: published tables, figures and text, all read from the build's store.

The build measures each authority when it validates it (:func:`measure`: ``metrics.json`` and
``cases.csv`` in ``build/authorities/<code>/``, never published), runs one disclosure pass over
every number the whole book publishes (``cinreport findings``, :mod:`cinreport.disclosure.plan`), and only
then executes the authority notebook, which calls :meth:`AuthorityChapter.build` and shows each
heading, sentence, table and figure with one method (the notes that do not depend on the data are its
Markdown cells). Every number here comes from the store (``build/published/authorities/<code>.json``): a count that
is suppressed in any output is suppressed here too, and nothing formats a raw count.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from cinreport.analysis import measures
from cinreport.chapters import figures
from cinreport.chapters.tables import first_upper, store_table
from cinreport.common.atomic import write_csv, write_json
from cinreport.common.inert import markdown_code
from cinreport.common.inert import markdown_text as md
from cinreport.common.layout import BUILD, codebook_path
from cinreport.common.opendata import Indicator, authority_geography, count_table_rows, write_open_table
from cinreport.data.codebook import Codebook, load_codebook
from cinreport.data.config import Authority, ReportParams, load_authority, load_report
from cinreport.disclosure.publication import Published


def measure(authority: Authority, report: ReportParams, codebook: Codebook, tables: dict[str, pd.DataFrame],
            out: Path) -> dict[str, Any]:
    """Measure one authority's validated tables: ``metrics.json`` (with the atoms every published
    number is a sum of) and ``cases.csv`` (per-case values for the tests, no identifiers)."""
    wait = report.findings["mental_health_wait_days"]
    metrics = measures.authority_metrics(tables, codebook, authority.period_end, wait)
    metrics["atoms"] = measures.authority_atoms(tables, codebook, authority.period_end, wait)
    metrics["authority"] = {"code": authority.code, "name": authority.name,
                            "period_start": authority.period_start.isoformat(),
                            "period_end": authority.period_end.isoformat()}
    write_json(out / "metrics.json", metrics)
    write_csv(out / "cases.csv", measures.case_measures(tables["case_files"], pd.Timestamp(authority.period_end)))
    return metrics


#: The chapter's sections (the notebook shows each heading with :meth:`AuthorityChapter.section`).
SECTIONS = {"characteristics": "Characteristics of the children", "reasons": "Reasons for the plans",
            "plans": "Plan length and outcomes", "support": "Services received", "needs": "Support and need"}


def _days(q: dict, unit: str = "days") -> str:
    """'a median of 120 days (IQR 80 to 200)' from a published quantiles object, or why it is not shown."""
    if q["median"] is None:
        return f"(not shown: {q['why_not']})"
    iqr = f" (IQR {q['q1']:.0f} to {q['q3']:.0f})" if q["q1"] is not None else f" ({q['why_not']} for an IQR)"
    return f"a median of {q['median']:.0f} {unit}{iqr}"


@dataclass
class AuthorityChapter:
    """Everything one authority chapter shows."""

    authority: Authority
    report: ReportParams
    codebook: Codebook
    pub: Published
    out_dir: Path

    @classmethod
    def build(cls, code: str, params_dir: str = "params", out_dir: str | None = None,
              root: str = ".") -> "AuthorityChapter":
        report = load_report(params_dir)
        authority = load_authority(Path(params_dir) / "authorities" / f"{code}.yml", report, root=root)
        codebook = load_codebook(codebook_path(root))
        out = Path(out_dir or Path(BUILD) / "authorities" / code)
        pub = Published.load(out.parent.parent / "published" / "authorities" / f"{code}.json")
        return cls(authority, report, codebook, pub, out)

    # -- helpers ---------------------------------------------------------------------------
    @property
    def code(self) -> str:
        return self.authority.code

    def obj(self, name: str) -> dict:
        return self.pub.obj(f"{self.code}/{name}")

    def words(self, name: str, unit: str = "") -> str:
        o = self.obj(name)
        return self.pub.words(o["k"], o["n"], unit)

    def _table(self, name: str, category: str, caption: str, unit: str = "Children") -> str:
        t = store_table(self.pub, f"{self.code}/{name}", category)
        write_csv(self.out_dir / "tables" / f"{name}.csv", t.display({self.code: unit}).reset_index())
        rows = count_table_rows(t.counts, t.percent, "group", "category").drop(columns="group")
        for col in ("number", "percent"):
            rows[col] = rows[col].astype(str).str.replace(",", "", regex=False)
        a = self.authority
        write_open_table(self.out_dir, f"{a.code}-{name}", caption, a.name, rows,
                         authority_geography(a.name, a.new_la_code, a.period_end), {"category": category},
                         {"number": Indicator(unit), "percent": Indicator(f"Per cent of {unit.lower()}", "%")})
        return t.markdown(caption, f"tbl-{self.code}-{name}", {self.code: unit})

    def _figure(self, table: str, name: str, caption: str, alt: str, xlabel: str) -> str:
        """Bars of published percentages only: a suppressed one is a marked gap (`c`), never a bar."""
        t = store_table(self.pub, f"{self.code}/{table}", "")
        shares = t.values.rename(columns={self.code: self.authority.name})
        if shares.isna().all().all():  # nothing to draw: an empty chart of `c` marks tells a reader nothing
            return (f"*{md(caption)}: not drawn, because every share is suppressed "
                    f"({markdown_code(self.pub.symbol)}): the counts behind them are too small to publish.*")
        fig = figures.percent_bars(shares, xlabel=xlabel, symbol=self.pub.symbol)
        saved = figures.save(fig, self.out_dir / "figures" / f"{name}.png", f"fig-{self.code}-{name}", caption,
                             alt + (f" Suppressed values are marked {self.pub.symbol} and not drawn."
                                    if shares.isna().any().any() else ""))
        return saved.markdown(self.out_dir)

    # -- sections ----------------------------------------------------------------------------
    def heading(self) -> str:
        a, h = self.authority, self.obj("heading")
        synthetic = (" The data in this chapter are **synthetic**: made by a seeded generator for a "
                     "fictional authority, not real children." if self.report.synthetic_data else "")
        fg, pi = h["focus_groups"], self.pub.value(h["parent_interviews"])
        return (f"# {md(a.name)} {{#sec-{a.code}}}\n\n"
                f"This chapter profiles {md(a.name)} from {self.pub.md_text(h['case_files'])} reviewed case files"
                + (" (a small number, suppressed)" if self.pub.value(h["case_files"]) is None else "") + ", an "
                f"administrative extract of {self.pub.md_text(h['admin_children'])} children on Child in Need plans "
                f"between {a.period_start:%-d %B %Y} and {a.period_end:%-d %B %Y}, "
                f"{fg} practitioner focus group{'' if fg == 1 else 's'} and {self.pub.md_text(h['parent_interviews'])} "
                f"parent interview{'' if pi == 1 else 's'}.{synthetic}")

    def section(self, name: str) -> str:
        """A section's heading, with this authority's id (``#sec-<code>-<name>``) for cross-references."""
        return f"## {SECTIONS[name]} {{#sec-{self.code}-{name}}}"

    def characteristics_text(self) -> str:
        n = self.pub.md_text(self.obj("heading")["case_files"])
        return (f"Of the {n} children whose files were reviewed, {self.words('boys')} were boys. A disability was "
                f"recorded for {self.words('disability')}, and no disability status was recorded for "
                f"{self.words('disability-not-recorded')}.")

    def age_band_table(self) -> str:
        return self._table("age-band", "Age at plan start",
                           f"Age of children at the start of the plan, reviewed case files, {self.authority.name}")

    def ethnicity_table(self) -> str:
        return self._table("ethnicity", "Ethnic group",
                           f"Ethnic group of children, reviewed case files, {self.authority.name}")

    def profiles_text(self) -> str:
        """How many children the reviewed files and the administrative extract count."""
        return (f"The tables above count the {self.pub.md_text(self.obj('heading')['case_files'])} children whose "
                f"case files were reviewed, a small selection agreed with the authority; the figure below counts "
                f"all {self.pub.md_text(self.obj('heading')['admin_children'])} children on plans in its "
                "administrative extract.")

    def age_band_figure(self) -> str:
        return self._figure("admin-age-band", "age-band",
                            f"Age at plan start, all children on plans (administrative data), {self.authority.name}",
                            f"Bar chart of the percentage of children on Child in Need plans in "
                            f"{self.authority.name} in each age band, from administrative data.",
                            "Per cent of children on plans")

    def reasons_text(self) -> str:
        """The most common primary need and group of factors, where published."""
        sentence = []
        if f"{self.code}/top-need" in self.pub.objects:
            sentence.append(f"The most common primary need was *{md(self.obj('top-need')['label'])}* "
                            f"({self.words('top-need')})")
        if f"{self.code}/top-factor-group" in self.pub.objects:
            sentence.append(f"the most common group of factors identified at assessment was "
                            f"*{md(self.obj('top-factor-group')['label'])}* ({self.words('top-factor-group')})")
        return ", and ".join(sentence) + "." if sentence else ""

    def primary_need_table(self) -> str:
        return self._table("primary-need", "Primary need",
                           f"Primary need at assessment, reviewed case files, {self.authority.name}")

    def factors_figure(self) -> str:
        return self._figure("admin-factor-groups", "factors",
                            f"Children with at least one factor in each group, all children on plans (administrative "
                            f"data), {self.authority.name}",
                            f"Bar chart of the percentage of children on plans in {self.authority.name} with at least "
                            f"one factor identified at assessment in each factor group.",
                            "Per cent of children on plans")

    def plans_text(self) -> str:
        """Median length of ended plans (reviewed files and administrative data) and how many were open."""
        return (f"Plans in the reviewed files that had ended lasted {_days(self.obj('length-days'))}; across all "
                f"children in the administrative data, ended plans lasted {_days(self.obj('admin-length-days'))}. "
                f"{first_upper(self.words('open'), self.pub.symbol)} plans were still open at the end of the period.")

    def outcome_table(self) -> str:
        return self._table("outcome", "Outcome", f"Plan outcomes, reviewed case files, {self.authority.name}")

    def support_text(self) -> str:
        """How many services, of how many kinds, per child, and the share of advice."""
        per_case = self.obj("services-per-case")
        median = (f"a median of {per_case['median']:.0f} per child" if per_case["median"] is not None
                  else f"the median per child is not shown ({per_case['why_not']})")
        kinds = self.obj("service-kinds-count")["value"]
        return (f"The files recorded {self.pub.md_text(self.obj('services')['key'])} services or interventions, "
                f"{kinds} different kind{'' if kinds == 1 else 's'}; {median}. Advice, guidance and co-ordination "
                f"by the social worker made up {self.words('advice')} of them.")

    def service_group_table(self) -> str:
        return self._table("service-group", "Kind of service",
                           f"Services and interventions by kind, reviewed case files, {self.authority.name}",
                           unit="Services")

    def services_figure(self) -> str:
        return self._figure("service", "services",
                            f"Services and interventions recorded, reviewed case files, {self.authority.name} "
                            "(per cent of services)",
                            f"Bar chart of the percentage of all recorded services in {self.authority.name} "
                            f"that were each kind of service.", "Per cent of services")

    def national(self) -> str:
        """This authority against England, its region and statistical neighbours (DfE open data)."""
        from cinreport.chapters.national import authority_context, clear_national_outputs
        from cinreport.national.data import NationalData

        data = NationalData.load(self.out_dir.parent.parent / "national")
        clear_national_outputs(self.out_dir, prefix=f"{self.code}-")  # what a build with other national files wrote
        return authority_context(self.authority, self.pub, data, self.codebook, out_dir=self.out_dir)

    def needs_text(self) -> str:
        """Referrals to mental-health services, their wait, and how many were not met in time."""
        if self.pub.value(self.obj("mh-referrals")["key"]) == 0:
            return "There were no referrals to child or adult mental-health services."
        wait = self.obj("mh-wait")
        wait_text = (f"those that started waited a median of {wait['median']:.0f} days" if wait["median"] is not None
                     else f"their median wait is not shown ({wait['why_not']})")
        days = self.report.findings["mental_health_wait_days"]
        return (f"There were {self.pub.md_text(self.obj('mh-referrals')['key'])} referrals to child or adult "
                f"mental-health services; {wait_text}. Of these referrals, {self.words('mh-not-timely')} were not met "
                f"in time (not available, started after more than {days:.0f} days, or still waiting after more than "
                f"that).")
