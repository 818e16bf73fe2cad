"""Cross-authority chapters: the four research questions, key findings, implications, appendices.

Study notebooks call :meth:`Study.load` (which reads every authority's ``metrics.json`` and
``cases.csv`` written by the authority notebooks) and show one method's Markdown per section.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cinreport.analysis.stats import p_band
from cinreport.chapters import figures
from cinreport.chapters.findings import (
    GATE_WORDS,
    GROUPS,
    SOURCES,
    THEME_FEEDS,
    Finding,
    analyse,
    evaluate,
    evaluation_key,
    findings_document,
    implications,
    load_analysis,
    load_evaluation,
    metric_at,
    save_analysis,
    save_evaluation,
    tests_reading,
)
from cinreport.chapters.tables import (
    caption_line,
    first_upper,
    markdown_table,
    published_numbers,
    spread_markdown,
    store_table,
)
from cinreport.common.atomic import dumps_compact, write_csv, write_if_changed, write_json, write_text
from cinreport.common.inert import markdown_code, markdown_text
from cinreport.common.layout import BUILD, MANY_AUTHORITIES, codebook_path
from cinreport.common.opendata import Indicator, authority_geography, count_table_rows, snake, write_open_table
from cinreport.data.codebook import Codebook, load_codebook
from cinreport.data.config import Authority, ReportParams, load_authorities, load_report
from cinreport.disclosure.plan import TESTED_TABLES
from cinreport.disclosure.publication import Published

ALL_AUTHORITIES = "All study authorities"   # la_name of open-data rows that sum over the study's authorities
SYNTHETIC_NOTE = ("::: {.callout-warning title=\"Synthetic demonstration data\"}\nThe numbers in this report come "
                  "from synthetic data made by a seeded generator for fictional authorities. They show how "
                  "the report is built; they describe no real child, family or authority.\n:::")


#: The study's three areas for further research (its published summary), after its implications.
FURTHER_RESEARCH = (
    "This study is a snapshot of children and families on Child in Need plans in the participating "
    "authorities; its findings are not generalisable to the wider Child in Need population. Three areas "
    "for further research would help:\n\n"
    "1. Evaluate whether the support provided to children with a Child in Need plan is effective in meeting "
    "the needs of children and families.\n"
    "2. Describe and explain regional variation in the use of Child in Need plans (@sec-national begins this "
    "from national data).\n"
    "3. Capture the views and experiences of children, young people and families who have a Child in Need plan.")

#: Captions of the research-question chapters' tables and figures, by label. The chapter notebooks
#: carry the same words in their cells' options (``#| tbl-cap:``, ``#| fig-cap:``; a test checks
#: they agree); here they title the open data and the figures' files.
CAPTIONS = {
    "tbl-age-band": "Age of children at the start of their plan, by authority (administrative data; counts of children)",
    "fig-age-band": "Age at plan start by authority (administrative data)",
    "tbl-ethnicity": "Ethnic group of children, by authority (administrative data; counts of children)",
    "tbl-shares": ("Share of reviewed children with each characteristic, with 95% Wilson intervals, by authority "
                   "(reviewed case files)"),
    "tbl-completeness": "Share of children with each characteristic recorded, by source and authority",
    "tbl-primary-need-cases": ("Primary need at assessment, by authority (reviewed case files; counts of children, "
                               "one primary need each)"),
    "fig-primary-need": "Primary need at assessment by authority (administrative data)",
    "tbl-concern": "Level of safeguarding concern recorded, by authority (reviewed case files; counts of children)",
    "tbl-factors": ("Children with at least one factor in each group, by authority (administrative data; counts and "
                    "percentages of children, not of factors: a child can have factors in several groups, so the "
                    "percentages add up to more than 100%)"),
    "fig-plan-length": "Length of ended plans by authority: quartiles and median (reviewed case files)",
    "tbl-service-group": ("Services and interventions by kind and authority (reviewed case files; counts of services, "
                          "not children: a child can have several)"),
    "tbl-provider": "Who provided the support, by authority (reviewed case files; counts of services)",
    "tbl-mental-health": ("Referrals to child and adult mental-health services, by authority, and whether the "
                          "support started in time (reviewed case files; counts of referrals)"),
    "tbl-needs-met": ("Children with each need, referred to and receiving a matching service (all authorities, "
                      "reviewed case files; counts of children: each column counts the children of the one before "
                      "it who were referred, then who received the service)"),
    "tbl-themes": ("Coded segments by theme and kind of source (all authorities; focus groups, case discussions and "
                   "parent interviews; counts of coded segments, not of people)"),
    "tbl-sources": ("Qualitative sources by authority: focus groups, the staff who took part in them, case "
                    "discussions and parent interviews (lists of sources)"),
    "tbl-triangulation": ("Which sources support each key finding's claim (the statement in the study's summary): "
                          "case files and administrative data by the finding's rule, practitioners and parents by the "
                          "coded themes that feed it"),
    "tbl-themes-context": "Coded themes, the kinds of source that raised them, and the key finding each feeds",
}

#: The figures' descriptions (the cells' ``#| fig-alt:``), before the data add to them.
ALT = {
    "fig-age-band": "Grouped bar chart comparing the percentage of children in each age band across authorities.",
    "fig-primary-need": ("Grouped bar chart of the percentage of children with each primary need, compared across "
                         "authorities."),
    "fig-plan-length": ("Boxes of plan length in days for each authority, from the lower to the upper quartile with "
                        "the median marked; individual cases are not shown."),
}

METHODS_NOTES = (
    '::: {.content-visible when-meta="synthetic-data"}\n'
    '**The data in this build are synthetic.** In place of each source above, a seeded generator\n'
    "made data for fictional authorities, shaped like the study's coded data so that\n"
    'the whole method runs. No case file was reviewed and no one was interviewed for them: the\n'
    'counts, tests, key findings and implications in this report describe no real child, family,\n'
    "practitioner or authority. Figures from the Department for Education's published statistics, in the\n"
    'national context, are real.\n'
    ':::\n'
    '\n'
    '::: {.content-visible when-meta="suppression-weakened"}\n'
    '::: {.callout-warning title="Suppression weakened"}\n'
    "**Disclosure control in this build is weaker than the project's rules.** Its settings lower the\n"
    'disclosure threshold below 3, which the project allows only when asked to in so many words, so counts\n'
    'that DfE practice would suppress are published here (the notes under each table give the threshold). '
    'Do not publish\n'
    "this report or its open data without an output checker's approval.\n"
    ':::\n'
    ':::'
)


class _Recording(dict):
    """A cache that remembers which entries this build used or made (only those are kept)."""

    def __init__(self, old: dict, used: dict):
        super().__init__(old)
        self.used = used

    def __contains__(self, key) -> bool:
        found = super().__contains__(key)
        if found:
            self.used[key] = self[key]
        return found

    def __setitem__(self, key, value) -> None:
        super().__setitem__(key, value)
        self.used[key] = value


@dataclass
class Study:
    """All authorities' results, ready for comparison."""

    report: ReportParams
    authorities: list[Authority]
    metrics: dict[str, dict[str, Any]]
    cases: dict[str, pd.DataFrame]
    codebook: Codebook
    out_dir: Path
    chapter: str
    build_dir: Path = Path(BUILD)
    _findings: list[Finding] | None = field(default=None, init=False, repr=False, compare=False)
    _pub: Published | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def load(cls, chapter: str, params_dir: str = "params", build_dir: str = BUILD,
             out_dir: str | None = None, root: str = ".") -> "Study":
        report = load_report(params_dir)
        authorities = load_authorities(params_dir, root=root)
        metrics, cases = {}, {}
        for a in authorities:
            folder = Path(build_dir) / "authorities" / a.code
            metrics[a.code] = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
            cases[a.code] = pd.read_csv(folder / "cases.csv")
        return cls(report, authorities, metrics, cases, load_codebook(codebook_path(root)),
                   Path(out_dir or Path(build_dir) / "study"), chapter, Path(build_dir))

    # -- helpers -----------------------------------------------------------------------------
    @property
    def names(self) -> dict[str, str]:
        return {a.code: a.name for a in self.authorities}

    @property
    def threshold(self) -> int:
        return self.report.disclosure_threshold

    def total(self, *path: str) -> int:
        return sum(int(metric_at(m, path)) for m in self.metrics.values())

    # -- the store ---------------------------------------------------------------------------
    @property
    def published_dir(self) -> Path:
        return self.build_dir / "published"

    @property
    def pub(self) -> Published:
        """The build's store of published numbers (``cinreport findings`` writes it)."""
        if self._pub is None:
            self._pub = Published.load(self.published_dir / "store.json")
        return self._pub

    def publish(self) -> Path:
        """The single disclosure pass over everything the build publishes (see :mod:`cinreport.disclosure.plan`):
        writes the store, one slice per authority (only when it changes) and the output-checking log."""
        from cinreport.disclosure.plan import build_publication

        out = self.published_dir
        cache_path = out / "pass-cache.json"  # each group of linked numbers' decisions, by its content
        try:
            cache = json.loads(cache_path.read_text(encoding="utf-8")) if cache_path.is_file() else {}
        except ValueError:
            cache = {}
        used: dict = {}
        store = build_publication({c: m["atoms"] for c, m in self.metrics.items()}, self.metrics, self.codebook,
                                  self.threshold, self.report.disclosure_symbol, cache=_Recording(cache, used),
                                  reading=tests_reading(self.metrics, self.thresholds, self.report.seed),
                                  study_sources=self.study_sources())
        slices = store.slices()
        for code, piece in slices.items():
            write_if_changed(out / "authorities" / f"{code}.json", dumps_compact(piece, sort_keys=True))
        for path in (out / "authorities").glob("*.json"):  # authorities no longer in the study
            if path.stem not in slices:
                path.unlink(missing_ok=True)
        write_csv(out / "output-log.csv", store.log())
        whole = store.to_dict()
        write_text(out / "store.json", dumps_compact(whole))
        write_text(cache_path, dumps_compact(used))
        self._pub = Published.from_dict(whole)
        return out / "store.json"

    def study_sources(self) -> dict:
        """The study-wide sources (``data/sources.csv`` beside the codebook: the roundtables), validated;
        a summary as :func:`cinreport.analysis.measures.source_summary` gives it. Raises
        :class:`cinreport.data.validate.ValidationError` naming file, row, column and value."""
        from cinreport.analysis.measures import source_summary
        from cinreport.data.validate import ValidationError, validate_study_sources

        frame, problems = validate_study_sources(self.codebook.path.parent / "sources.csv",
                                                 (self.report.period_start, self.report.period_end), self.codebook)
        if problems:
            raise ValidationError(problems)
        empty = pd.DataFrame({"source_id": [], "source_type": []})
        return source_summary(frame, empty)

    def table(self, name: str, category: str, caption: str, columns: str | None = None, percent: bool = True,
              unit: str = "n", in_cell: bool = False) -> str:
        """A published table from the store; its columns are authorities unless ``columns`` names what
        they are (then the table is for all study authorities together). ``caption`` titles the open
        data; with ``in_cell`` the table has no caption line (its notebook cell's ``tbl-cap`` gives it)."""
        t = store_table(self.pub, name, category, percent=percent, drop_empty=True)
        names = self.names if columns is None else {}
        write_csv(self.out_dir / "tables" / f"{name}.csv", t.display(names, unit).reset_index())
        group = "authority" if columns is None else "column"
        counts = t.counts.rename(columns=names)
        pct = None if t.percent is None else t.percent.rename(columns=names)
        rows = count_table_rows(counts, pct, group, "category")
        if columns is not None:
            rows.insert(0, "authority", ALL_AUTHORITIES)
            rows = rows.rename(columns={"column": snake(columns)})
        self.open_table(name, caption, rows, {"category": category, **({snake(columns): columns} if columns else {})},
                        {"number": Indicator("Number"), **({"percent": Indicator("Per cent", "%")}
                                                           if pct is not None else {})})
        if columns is None and pct is not None and self.many:
            shares = published_numbers(pct.iloc[:-1])
            return spread_markdown(shares, category, None if in_cell else caption, f"tbl-{name}", name,
                                   self.report.disclosure_symbol)
        return t.markdown(None if in_cell else caption, f"tbl-{name}", names, unit)

    @property
    def many(self) -> bool:
        """More authorities than a table can show a column each for (see ``layout.MANY_AUTHORITIES``)."""
        return len(self.authorities) > MANY_AUTHORITIES

    def open_table(self, name: str, title: str, rows: pd.DataFrame, filters: dict[str, str],
                   indicators: dict[str, Indicator]) -> None:
        """Write a published table as open data, one row per authority and filter value."""
        by_name = {a.name: a for a in self.authorities}
        geo = pd.DataFrame([authority_geography(n, by_name[n].new_la_code, by_name[n].period_end) if n in by_name
                            else authority_geography(n, None, self.report.period_end) for n in rows["authority"]])
        rows = rows.drop(columns="authority")
        for col in indicators:
            rows[col] = rows[col].astype(str).str.replace(",", "", regex=False)
        write_open_table(self.out_dir, name, title, self.chapter, rows, geo, filters, indicators)

    def proportions(self, name: str, rows: dict[str, str], caption: str, in_cell: bool = False) -> str:
        """Per-authority published shares (``rows``: label -> the share's name after ``<code>/``) with
        95% Wilson intervals; suppressed shares as the symbol."""
        data: dict[str, dict[str, str]] = {}
        tidy = []
        sym = self.report.disclosure_symbol
        for label, share in rows.items():
            data[label] = {}
            for code in self.metrics:
                o = self.pub.obj(f"{code}/{share}")
                p, lo, hi = self.pub.proportion(o["k"], o["n"])
                data[label][self.names[code]] = p if p in ("z", sym) else f"{p}% ({lo}% to {hi}%)"
                tidy.append({"authority": self.names[code], "characteristic": label,
                             "reviewed_cases": self.pub.text(o["n"]), "percent": p, "ci_lower": lo, "ci_upper": hi})
        frame = pd.DataFrame(data).T
        write_csv(self.out_dir / "tables" / f"{name}.csv", frame.reset_index(names="measure"))
        self.open_table(name, caption, pd.DataFrame(tidy), {"characteristic": "Characteristic"},
                        {"reviewed_cases": Indicator("Reviewed case files"), "percent": Indicator("Per cent", "%"),
                         "ci_lower": Indicator("95% interval, lower", "%"),
                         "ci_upper": Indicator("95% interval, upper", "%")})
        if self.many:
            return spread_markdown(published_numbers(frame), "Share", None if in_cell else caption, f"tbl-{name}",
                                   name, sym)
        note = (f"\n\n{markdown_code(sym)} = suppressed: fewer than the disclosure threshold have, or do not have, the "
                "characteristic, or the share would give a suppressed count back.") if (frame == sym).any().any() else ""
        line = "" if in_cell else "\n\n" + caption_line(caption, f"tbl-{name}")
        return markdown_table(frame, index_label="Share (95% CI)") + line + note

    def share_figure(self, name: str, table: str, caption: str, alt: str, xlabel: str, in_cell: bool = False) -> str:
        """Bars (or, with many authorities, dots) of the published percentages of a store table;
        suppressed ones are not drawn (marked with the symbol on bars). With ``in_cell`` the image
        has no caption (its notebook cell's ``fig-cap`` gives it) and carries its description only
        when the data change it (suppressed marks, a dot plot): else the cell's ``fig-alt`` is used."""
        static_alt = alt
        t = store_table(self.pub, table, "", drop_empty=True)
        shares = t.values.rename(columns=self.names)
        if shares.shape[1] > MANY_AUTHORITIES:  # many authorities: one dot each per category, not a bar each
            long = shares.reset_index(names="group").melt(id_vars="group", value_name="value").dropna()
            fig = figures.dot_distribution(long[["group", "value"]], xlabel, points_label="Study authorities")
            alt = (f"Dot plot: for each category, one dot per authority ({shares.shape[1]} authorities) showing "
                   f"its percentage; suppressed values are not drawn.")
        else:
            fig = figures.percent_bars(shares, xlabel=xlabel, size=figures.SIZE_TALL,
                                       symbol=self.report.disclosure_symbol)
            if shares.isna().any().any():
                alt += f" Suppressed values are marked {self.report.disclosure_symbol} and not drawn."
        saved = figures.save(fig, self.out_dir / "figures" / f"{name}.png", f"fig-{name}", caption, alt)
        return saved.cell_markdown(self.out_dir, None if alt == static_alt else alt) if in_cell \
            else saved.markdown(self.out_dir)

    def findings(self) -> list[Finding]:
        """Every finding, evaluated once per chapter (seeded permutation tests are costly with many
        authorities, and a chapter quotes several findings)."""
        if self._findings is None:
            key = self.evaluation_key()
            self._findings = load_evaluation(self.evaluation_path, key)  # `cinreport findings` (make)
            if self._findings is None:
                self._findings = evaluate(self.metrics, self.cases, self.thresholds, seed=self.report.seed,
                                          pub=self.pub, names=self.names, analysed=self.analysed())
        return self._findings

    @property
    def analysis_path(self) -> Path:
        return self.build_dir / "study" / "analysis.pickle"

    def analysis_key(self) -> str:
        """What the findings' tests depend on: the measures, the thresholds and the seed (not the store)."""
        return evaluation_key(self.metrics, self.cases, self.thresholds, self.report.seed)

    def analysed(self) -> dict:
        """The findings' tests, robustness and sources (:func:`cinreport.chapters.findings.analyse`): saved by
        ``cinreport analyse`` (make runs it beside the disclosure pass), else computed here."""
        found = load_analysis(self.analysis_path, self.analysis_key())
        return found if found is not None else analyse(self.metrics, self.cases, self.thresholds,
                                                       seed=self.report.seed)

    def save_analysis(self) -> Path:
        """Run the findings' tests once for the build (``cinreport analyse``)."""
        key = self.analysis_key()
        if load_analysis(self.analysis_path, key) is None:
            save_analysis(self.analysis_path, key, analyse(self.metrics, self.cases, self.thresholds,
                                                           seed=self.report.seed))
        else:  # the same inputs: up to date for make, as if written again
            os.utime(self.analysis_path)
        return self.analysis_path

    @property
    def evaluation_path(self) -> Path:
        return self.build_dir / "study" / "evaluated-findings.json"

    @property
    def thresholds(self) -> dict[str, float]:
        return {**self.report.findings, "disclosure_threshold": self.threshold}

    def evaluation_key(self) -> str:
        """What the saved findings depend on: the data, thresholds, seed, and the published store
        their sentences quote."""
        import hashlib

        store = self.published_dir / "store.json"
        published = hashlib.sha256(store.read_bytes()).hexdigest() if store.is_file() else ""
        return evaluation_key(self.metrics, self.cases, {**self.thresholds, "store": published}, self.report.seed)

    def save_findings(self) -> Path:
        """Evaluate the findings once for every study chapter of this build."""
        save_evaluation(self.evaluation_path, self.evaluation_key(), self.findings())
        return self.evaluation_path

    def finding(self, fid: str) -> Finding:
        return next(f for f in self.findings() if f.id == fid)

    # -- methods -------------------------------------------------------------------------------
    @staticmethod
    def methods_notes() -> str:
        """The Methods chapter's notes that depend on the build's metadata (synthetic data, weakened
        suppression), as Quarto conditional content: a notebook's Markdown *output* is read with fenced
        divs by both renderers, its Markdown cells are not (Pandoc's ipynb reader)."""
        return METHODS_NOTES

    def sources_text(self) -> str:
        """Methods, "Sources in numbers": how many focus groups (and staff), case discussions, parent
        interviews and roundtables the study held."""
        return self._sources()[0]

    def sources_table(self) -> str:
        """The qualitative sources by authority and in total (``tables/sources.csv``)."""
        return self._sources()[1]

    def sources_note(self) -> str:
        """How sources are counted, and which authorities gave no list of them."""
        return self._sources()[2]

    def _sources(self) -> tuple[str, str, str]:
        """Methods, "Sources in numbers": focus groups and their staff, case discussions, parent
        interviews (published counts: families) and roundtables, by authority and in total, from the
        lists of sources (``sources.csv``); what an authority without a list lacks is said."""
        o = self.pub.obj("study/sources")
        per, sym = o["authorities"], self.report.disclosure_symbol

        def plural(n: int, one: str, many: str) -> str:
            return f"{n:,} {one if n == 1 else many}"

        missing = [self.names[c] for c in per if not per[c]["listed"]]
        staff = [per[c]["focus_group_staff"] for c in per]
        staff_total = sum(staff) if None not in staff else None
        rows = {}
        for c, v in per.items():
            rows[self.names[c]] = {
                "Focus groups (number)": f"{v['focus_groups']:,}",
                "Staff in focus groups (people)": "–" if v["focus_group_staff"] is None else f"{v['focus_group_staff']:,}",
                "Case discussions (number)": f"{v['case_discussions']:,}",
                "Parent interviews (families)": self.pub.text(v["parent_interviews"])}
        fg_total, cd_total = sum(v["focus_groups"] for v in per.values()), sum(v["case_discussions"] for v in per.values())
        rows["Total"] = {"Focus groups (number)": f"{fg_total:,}",
                         "Staff in focus groups (people)": "–" if staff_total is None else f"{staff_total:,}",
                         "Case discussions (number)": f"{cd_total:,}",
                         "Parent interviews (families)": self.pub.text(o["parent_interviews"])}
        frame = pd.DataFrame(rows).T
        frame.index.name = "Authority"
        write_csv(self.out_dir / "tables" / "sources.csv", frame.reset_index())
        staff_words = ("" if staff_total is None else
                       f" with {plural(staff_total, 'member', 'members')} of staff")
        interviews = self.pub.value(o["parent_interviews"])
        interview_words = (f"{self.pub.md_text(o['parent_interviews'])} parent interviews" if interviews is not None
                           else f"parent interviews (the number is suppressed, {markdown_code(sym)}, because an "
                                "authority's number is small)")
        text = (f"Across the {len(per)} authorities the study held "
                f"{plural(fg_total, 'practitioner focus group', 'practitioner focus groups')}"
                f"{staff_words}, {plural(cd_total, 'case discussion', 'case discussions')} with practitioners about "
                f"reviewed cases, and {interview_words}.")
        rt, rt_people = o["roundtables"], o["roundtable_participants"]
        if rt:
            text += (f" {plural(rt, 'roundtable', 'roundtables').capitalize()} with attendees from a wider range of "
                     f"local authorities, outside the study"
                     + (f" ({plural(rt_people, 'attendee', 'attendees')} in all)" if rt_people else "")
                     + ", informed the study; they belong to no one authority and are listed study-wide.")
        elif not o["study_listed"]:
            text += " No study-wide list of sources was given, so roundtables are not counted."
        note = ("Sources and staff are counted from each authority's list of sources; a parent interview is "
                "one family, so interviews are published like any count of families: a number from 1 to "
                f"{self.threshold - 1} is shown as {markdown_code(sym)}, and so is a total that would give it back.")
        if missing:
            note += (f" {', '.join(markdown_text(m) for m in missing)} gave no list of sources (`sources.csv`): "
                     "its focus groups, case discussions and parent interviews are counted from the coded themes, "
                     "and the number of staff is not known (–).")
        return text, markdown_table(frame, index_label="Authority"), note

    # -- the chapters' cells -------------------------------------------------------------------
    # The four research-question notebooks (notebooks/study/) hold their headings, the research
    # question and the notes on how to read each table in Markdown cells; each table or figure is one
    # cell, labelled with Quarto's cell options (caption and label there, CAPTIONS here titles the
    # open data), that shows one of the methods below. Sentences that depend on the data are
    # methods too (a finding's sentence is ``study.finding(id).sentence``).

    def synthetic_note(self) -> str:
        """The callout that says the data are synthetic (empty for real data); a chapter shows it
        under its introduction."""
        return SYNTHETIC_NOTE if self.report.synthetic_data else ""

    def sentences(self, *ids: str) -> str:
        """The sentences of the findings ``ids``, as one paragraph."""
        return " ".join(self.finding(i).sentence for i in ids)

    def _cell_table(self, name: str, category: str, unit: str, **kwargs) -> str:
        return self.table(name, category, CAPTIONS[f"tbl-{name}"], unit=unit, in_cell=True, **kwargs)

    # -- research question 1 -----------------------------------------------------------------
    def characteristics_sources(self) -> str:
        """What the characteristics chapter draws on (published totals), then the synthetic-data note."""
        n = self.pub.md_text(self.pub.obj("study/case_files")["key"])
        admin = self.pub.md_text(self.pub.obj("study/admin_children")["key"])
        text = (f"This chapter draws on {n} reviewed case files across {len(self.authorities)} authorities and "
                f"administrative data on {admin} children.")
        note = self.synthetic_note()
        return text + (f"\n\n{note}" if note else "")

    def age_band_table(self) -> str:
        """Age at plan start by authority (administrative data)."""
        return self._cell_table("age-band", "Age at plan start", "children")

    def age_band_figure(self) -> str:
        return self.share_figure("age-band", "age-band", CAPTIONS["fig-age-band"], ALT["fig-age-band"],
                                 "Per cent of children", in_cell=True)

    def ethnicity_table(self) -> str:
        return self._cell_table("ethnicity", "Ethnic group", "children")

    def shares_table(self) -> str:
        """Boys, disability recorded and aged 10 or over among the reviewed children, with 95% Wilson intervals."""
        return self.proportions("shares", {"Boys": "boys", "Disability recorded": "disability",
                                           "Aged 10 or over": "aged-10-plus"}, CAPTIONS["tbl-shares"], in_cell=True)

    def completeness_table(self) -> str:
        """How often ethnicity, disability and referral source are recorded, by source and authority."""
        sym = self.report.disclosure_symbol
        fields = {"ethnicity": "Ethnicity", "disability": "Disability", "referral": "Referral source"}
        comp, tidy = {}, []
        for c in self.metrics:
            col = {}
            for source, what in (("case_files", "case files"), ("admin", "administrative data")):
                for key, label in fields.items():
                    o = self.pub.obj(f"{c}/recorded/{source}/{key}")
                    p = self.pub.percent(o["k"], o["n"])
                    col[f"{label} ({what})"] = p
                    tidy.append({"authority": self.names[c], "source": what.capitalize(), "characteristic": label,
                                 "percent_recorded": p.rstrip("%")})
            comp[self.names[c]] = col
        comp = pd.DataFrame(comp)
        caption = CAPTIONS["tbl-completeness"]
        self.open_table("completeness", caption, pd.DataFrame(tidy), {"source": "Source", "characteristic": "Characteristic"},
                        {"percent_recorded": Indicator("Per cent of children with it recorded", "%")})
        if self.many:
            return spread_markdown(published_numbers(comp), "Recorded", None, "tbl-completeness", "completeness", sym)
        text = markdown_table(comp, index_label="Recorded")
        if (comp == sym).any().any():
            text += (f"\n\n{markdown_code(sym)} = suppressed: fewer than {self.threshold} children have, or do not "
                     "have, the characteristic recorded, or the share would give a suppressed count back.")
        return text

    # -- research question 2 -----------------------------------------------------------------
    def primary_need_table(self) -> str:
        """Primary need at assessment by authority (reviewed case files)."""
        return self._cell_table("primary-need-cases", "Primary need", "children")

    def primary_need_figure(self) -> str:
        return self.share_figure("primary-need", "primary-need", CAPTIONS["fig-primary-need"],
                                 ALT["fig-primary-need"], "Per cent of children", in_cell=True)

    def concern_table(self) -> str:
        return self._cell_table("concern", "Concern", "children")

    def factors_table(self) -> str:
        return self._cell_table("factors", "Factor group", "children")

    # -- research question 3 -----------------------------------------------------------------
    def plan_length_figure(self, in_cell: bool = True) -> str:
        """Length of ended plans by authority, drawn from published quartiles only: a box from the lower
        to the upper quartile with the median, or above ``MANY_AUTHORITIES`` authorities a dot per authority
        for each. Authorities whose quartiles are not published (too few ended plans) are left out.
        With ``in_cell`` the notebook cell gives the caption and description (see :meth:`share_figure`);
        who is left out is said under the figure."""
        q = {self.names[c]: self.pub.obj(f"{c}/length-days") for c in self.metrics}
        shown = pd.DataFrame({n: {"q1": o["q1"], "median": o["median"], "q3": o["q3"]} for n, o in q.items()
                              if o["q1"] is not None}).T
        left_out = len(q) - len(shown)
        t2 = 2 * self.threshold
        if shown.empty:
            return (f"No authority has {t2} or more ended plans in the reviewed case files, so plan lengths are not "
                    "drawn.")
        caption = CAPTIONS["fig-plan-length"]
        missing = (f"{left_out} {'authority has' if left_out == 1 else 'authorities have'} fewer than "
                   f"{t2} ended plans and {'is' if left_out == 1 else 'are'} not shown") if left_out else ""
        if missing and not in_cell:
            caption += f"; {missing}"
        n = len(shown)
        if n > MANY_AUTHORITIES:
            long = pd.concat([pd.DataFrame({"group": label, "value": shown[col].astype(float)}) for col, label in
                              (("q1", "Lower quartile"), ("median", "Median"), ("q3", "Upper quartile"))])
            fig = figures.dot_distribution(long, "Plan length (days)", points_label="Study authorities")
            alt = (f"Dot plot: for the lower quartile, median and upper quartile of plan length in days, one dot "
                   f"per authority ({n} authorities); individual cases are not shown.")
        else:
            fig = figures.quartile_boxes(shown.astype(float), "Plan length (days)")
            alt = ALT["fig-plan-length"]
        saved = figures.save(fig, self.out_dir / "figures" / "plan-length.png", "fig-plan-length", caption, alt)
        if not in_cell:
            return saved.markdown(self.out_dir)
        note = f"\n\n{missing[:1].upper()}{missing[1:]}." if missing else ""
        return saved.cell_markdown(self.out_dir, None if n <= MANY_AUTHORITIES else alt) + note

    def service_group_table(self) -> str:
        return self._cell_table("service-group", "Kind of service", "services")

    def provider_table(self) -> str:
        return self._cell_table("provider", "Provider", "services")

    # -- research question 4 -----------------------------------------------------------------
    def mental_health_table(self) -> str:
        return self._cell_table("mental-health", "Mental-health referrals", "referrals")

    def needs_met_table(self) -> str:
        return self._cell_table("needs-met", "Need", "n", columns="Measure", percent=False)

    def themes_table(self) -> str:
        return self._cell_table("themes", "Theme", "n", columns="Source type", percent=False)

    # -- key findings, summary and implications ---------------------------------------------
    def _pct_interval(self, name: str) -> str:
        """'31% (95% interval 25% to 37%) of 230 services' from the store; the symbol when suppressed."""
        o = self.pub.obj(name)
        pct, lo, hi = self.pub.proportion(o["k"], o["n"])
        if pct == self.pub.symbol:
            return f"{markdown_code(self.pub.symbol)} (suppressed)"
        return f"{pct}% (95% interval {lo}% to {hi}%)"

    def _spread(self, name: str) -> str:
        """The lowest and highest published share of ``<code>/<name>`` across authorities, with names."""
        shown: dict[str, tuple[float, str]] = {}
        hidden = 0
        for a in self.authorities:
            o = self.pub.obj(f"{a.code}/{name}")
            share = self.pub.share(o["k"], o["n"])
            if share is None:
                hidden += 1
            else:
                shown[a.code] = (share, self.pub.percent(o["k"], o["n"]))
        if len(shown) < 2:
            return "by authority: too few published shares to compare"
        lo, hi = min(shown, key=lambda c: shown[c][0]), max(shown, key=lambda c: shown[c][0])
        text = (f"by authority from {shown[lo][1]} ({markdown_text(self.names[lo])}) to {shown[hi][1]} "
                f"({markdown_text(self.names[hi])})")
        return text + (f", {hidden} suppressed" if hidden else "")

    def _median_spread(self, name: str, unit: str, digits: int = 0) -> str:
        medians = {a.code: self.pub.obj(f"{a.code}/{name}")["median"] for a in self.authorities}
        shown = {c: v for c, v in medians.items() if v is not None}
        if len(shown) < 2:
            return ""
        lo, hi = min(shown, key=lambda c: shown[c]), max(shown, key=lambda c: shown[c])
        return (f"median from {shown[lo]:.{digits}f} {unit} ({markdown_text(self.names[lo])}) to "
                f"{shown[hi]:.{digits}f} {unit} ({markdown_text(self.names[hi])})")

    def headline(self, f: Finding) -> str:
        """A finding's evidence line for the summary: n, a share with its 95% interval and the spread across
        authorities where the finding has them; every number from the store."""
        n = self.pub.md_text(self.pub.obj("study/case_files")["key"])
        k = len(self.authorities)
        places = f"{n} case files in {k} authorities"
        if f.id in ("variation-reasons", "variation-use", "variation-services"):
            test = f.measures["test"]
            level = self.pub.objects.get(TESTED_TABLES[f.id], {}).get("statistic", "exact")
            if level == "exact" and test.get("effect_size") is not None:
                parts = [places, f"bias-corrected Cramér's V {test['effect_size']:.2f} (threshold "
                         f"{self.thresholds['cramers_v_considerable']:g}"
                         + (f"; chance alone up to {f.measures['null_95']:.2f}" if f.measures.get("null_95") is not None
                            else "") + f"), {p_band(test['p_value'])}"]
            elif level == "banded" and test.get("effect_size") is not None:
                side = "at or above" if test["effect_size"] >= self.thresholds["cramers_v_considerable"] else "below"
                parts = [places, f"bias-corrected Cramér's V {side} {self.thresholds['cramers_v_considerable']:g}, "
                         f"{p_band(test['p_value'])}"]
            else:
                parts = [places, "test figures withheld to protect small counts"]
        elif f.id in ("variation-length", "variation-direct-work"):
            test = f.measures["test"]
            spread = self._median_spread(*(("length-days", "days") if f.id == "variation-length"
                                           else ("direct-work", "sessions a month", 1)))
            parts = [places, *([spread] if spread else [])]
            if test.get("effect_size") is not None:
                parts.append(f"epsilon-squared {test['effect_size']:.2f} (threshold "
                             f"{self.thresholds['epsilon_squared_considerable']:g}), {p_band(test['p_value'])}")
        elif f.id == "involvement-gap":
            parts = [f"case files recording parents as involved: {self._pct_interval('study/involved-records')}",
                     f"interviewed parents who felt involved: {self._pct_interval('study/felt-involved')} of "
                     f"{self.pub.md_text(self.pub.obj('study/felt-involved')['n'])} interviews"]
        elif f.id == "range-and-advice":
            o = self.pub.obj("study/advice")
            parts = [f"{self.pub.md_text(o['n'])} services", f"advice, guidance or co-ordination "
                     f"{self._pct_interval('study/advice')}", self._spread("advice")]
        elif f.id == "mental-health-gap":
            o = self.pub.obj("study/mh-not-timely")
            parts = [f"{self.pub.md_text(o['n'])} mental-health referrals",
                     f"not met in time {self._pct_interval('study/mh-not-timely')}", self._spread("mh-not-timely")]
        elif f.id == "recording-gaps":
            parts = [f"{places} and their administrative extracts", *f.evidence]
        else:
            parts = ["from the practitioner focus groups and case discussions"]
        return first_upper("; ".join(p for p in parts if p), self.pub.symbol)

    def triangulation_table(self) -> str:
        """Rows findings, columns kinds of source; each cell whether that source supports the study's claim."""
        found = self.findings()
        rows = pd.DataFrame([{SOURCES[k]: v for k, v in f.sources.items()} for f in found],
                            index=[f.title for f in found])
        return markdown_table(rows, index_label="Finding")

    def themes_context_table(self) -> str:
        """What each coded theme feeds, and which kinds of source coded it (no counts of children)."""
        themes = self.codebook.codes("theme").labels
        titles = {f.id: f.title for f in self.findings()}
        coded: dict[str, set[str]] = {}
        for m in self.metrics.values():
            for key, v in m["themes"].items():
                theme, _, source_type = key.partition("|")
                if v["sources"]:
                    coded.setdefault(theme, set()).add(source_type)
        kinds = {"focus_group": "Focus groups", "case_discussion": "Case discussions",
                 "parent_interview": "Parent interviews"}
        rows = pd.DataFrame([{**{label: ("coded" if st in coded.get(th, set()) else "not coded")
                                 for st, label in kinds.items()},
                              "Feeds the finding": titles.get(THEME_FEEDS.get(th, ""), "context only")}
                             for th in themes], index=[themes[th] for th in themes])
        return markdown_table(rows, index_label="Theme")

    def _write_findings_json(self, found: list[Finding]) -> None:
        imps = implications(found)
        doc = findings_document(found, imps, {"authorities": [a.code for a in self.authorities],
                                              "case_files": self.pub.value(self.pub.obj("study/case_files")["key"])})
        write_json(self.out_dir / "findings.json", doc)

    def write_findings(self) -> None:
        """``findings.json`` in the chapter folder: the key findings and implications with their evidence."""
        self._write_findings_json(self.findings())

    def key_findings_sources(self) -> str:
        return f"Generated from the data of {len(self.authorities)} authorities."

    def key_findings_by_group(self) -> str:
        """Every key finding under its group's heading: its sentence, evidence, robustness and sources."""
        found = self.findings()
        parts = []
        for group, heading in GROUPS.items():
            parts.append(f"## {heading}")
            for f in (f for f in found if f.group == group):
                evidence = "; ".join(f.evidence) or "the coded themes of the focus groups and case discussions"
                sources = ", ".join(f"{SOURCES[k].lower()} {v}" for k, v in f.sources.items() if v != "not measured")
                parts.append(f"### {f.title} {{#sec-finding-{f.id}}}\n\n::: {{.callout-important title=\"Key finding\"}}\n"
                             f"{f.sentence}\n:::\n\n*Evidence:* {evidence}.\n\n*Robustness:* "
                             f"{f.robustness.get('text', 'not assessed.')}\n\n*Sources:* {sources or 'none'}. "
                             f"*Discussed in* @{f.section}.")
        return "\n\n".join(parts)

    def summary(self) -> list[str]:
        """The book's summary, in the study's shape: key findings in its two groups (one plain sentence
        each, an evidence line, the robustness label), then the implications and the further-research
        areas.  Written to ``summary.md``, which the landing page (index.qmd) includes, so its headings
        are written here too: the summary notebook is not a chapter of the book."""
        return [self.summary_key_findings(), self.summary_implications(), self.summary_further_research()]

    def summary_key_findings(self) -> str:
        """The summary's key findings under their groups' headings, each with its evidence and robustness."""
        found = self.findings()
        parts = ["## Key findings {.unnumbered}"]
        for group, heading in GROUPS.items():
            items = []
            for f in (f for f in found if f.group == group):
                label, _, rest = f.robustness.get("text", "Not assessed: robustness was not computed.").partition(": ")
                items.append(f"- **{f.summary}**\\\n  {self.headline(f)}.\\\n  *{label}:* {rest} "
                             f"(see @sec-finding-{f.id})")
            parts.append(f"### {heading} {{.unnumbered}}\n\n" + "\n".join(items))
        return "\n\n".join(parts)

    def summary_implications(self) -> str:
        """The summary's implications: those whose findings hold."""
        imps = implications(self.findings())
        return "## Implications {.unnumbered}\n\n" + ("\n".join(f"- {i.text}" for i in imps) if imps else
                                                        "None of the findings that implications rest on holds in "
                                                        "these data.")

    @staticmethod
    def summary_further_research() -> str:
        return "## Further research {.unnumbered}\n\n" + FURTHER_RESEARCH

    def write_summary(self) -> Path:
        """``summary.md`` in the chapter folder (atomically, only when it changes)."""
        path = self.out_dir / "summary.md"
        write_if_changed(path, "\n\n".join(self.summary()) + "\n")
        return path

    def implications_list(self) -> str:
        """The implications whose findings hold, each with the findings that support it."""
        found = self.findings()
        imps = implications(found)
        titles = {f.id: f.title for f in found}
        if not imps:
            return "None of the findings that implications rest on holds in these data."
        return "\n\n".join(f"- **{i.text}** *(Supported by: "
                            f"{'; '.join(GATE_WORDS.get(s, titles.get(s, s)) for s in i.supported_by)}.)*"
                            for i in imps)

    # -- appendices --------------------------------------------------------------------------
    def national_chapter(self, build_dir: str = BUILD):
        """The national-context chapter's pieces (:class:`cinreport.chapters.national.NationalChapter`):
        every English LA from DfE open data, and the study's places. Removes the national tables and
        figures an earlier build with other national files wrote."""
        from cinreport.chapters.national import NationalChapter, clear_national_outputs
        from cinreport.national.data import NationalData

        data = NationalData.load(Path(build_dir) / "national")
        clear_national_outputs(self.out_dir)  # what an earlier build with other national files wrote
        return NationalChapter(data, self.authorities, self.pub, self.codebook, self.threshold,
                               self.report.disclosure_symbol, int(self.report.national.get("top_factors", 12)),
                               self.report.period_end, self.out_dir)

    def codebook_note(self) -> str:
        """Which codebook the data dictionary shows."""
        return (f"Generated from {markdown_code(self.codebook.path.as_posix())}, the codebook that validation "
                "also reads.")

    def codebook_files(self) -> str:
        """One section per coded data file the codebook lists: its name, description and variables."""
        parts = []
        for spec in self.codebook.files.values():
            rows = pd.DataFrame([{"Variable": markdown_code(c.name), "Type": c.type + (f" ({c.codes})" if c.codes else ""),
                                  "Required": "yes" if c.required else "no", "Meaning": c.description}
                                 for c in spec.columns]).set_index("Variable")
            parts += [f"### {markdown_text(spec.filename)}", markdown_text(spec.description),
                      markdown_table(rows, index_label="Variable", markdown_index=True)]
        return "\n\n".join(parts)

    def code_lists(self) -> str:
        """Every code list of the codebook: its source and each code with its label."""
        parts = []
        for cl in self.codebook.code_lists.values():
            codes = ", ".join(f"{markdown_code(k)} {markdown_text(v)}" for k, v in cl.labels.items())
            parts.append(f"**{markdown_text(cl.name)}** ({markdown_text(cl.source)}): {codes}.")
        return "\n\n".join(parts)
