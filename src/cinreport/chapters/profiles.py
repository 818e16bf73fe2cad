"""Authority profiles at a glance: every authority in one comparison table.

With many authorities (all 153 in England) the book cannot give each a full chapter in the PDF.
This chapter, executed like the other study notebooks, compares every authority on a few headline
measures and links each row to its full profile. The HTML book has every profile; the PDF has the
profiles chosen by ``pdf_profiles`` in ``params/report.yml`` (see :meth:`ReportParams.pdf_profile_codes`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cinreport.chapters.tables import caption_line, markdown_table
from cinreport.common.atomic import write_csv
from cinreport.common.inert import markdown_code, markdown_text
from cinreport.common.layout import BUILD
from cinreport.data.config import Authority, ReportParams, load_authorities, load_report
from cinreport.disclosure.publication import Published


def profile_row(pub, code: str) -> dict[str, str]:
    """The headline measures of one authority, from the build's published store."""
    h = pub.obj(f"{code}/heading")
    length = pub.obj(f"{code}/admin-length-days")
    advice = pub.obj(f"{code}/advice")
    return {
        "Case files reviewed": pub.text(h["case_files"]),
        "Children on plans": pub.text(h["admin_children"]),
        "Median plan length, administrative data (days)": f"{length['median']:.0f}" if length["median"] is not None else "–",
        "Advice and co-ordination (% of services)": "–" if pub.value(advice["n"]) == 0 else pub.percent(advice["k"], advice["n"]),
    }


OPEN_INDICATORS = {  # open-data column: (column of the table, label, unit)
    "case_files": ("Case files reviewed", "Case files reviewed", ""),
    "children_on_plans": ("Children on plans", "Children on plans (administrative data)", ""),
    "median_plan_length_days": ("Median plan length, administrative data (days)", "Median plan length in days", ""),
    "advice_coordination_percent": ("Advice and co-ordination (% of services)", "Share of services that were advice, guidance "
                                                                "or co-ordination", "%"),
}


def _open_value(text: str) -> str:
    """A display value in the open-data form: no thousands separators or %; '–' (none) is 'z'."""
    return "z" if text == "–" else text.replace(",", "").rstrip("%")


def _open_data(out: Path, authorities, csv_rows: list[dict[str, str]]) -> None:
    """The comparison table as open data (one row per authority), like every published table."""
    from cinreport.common.opendata import Indicator, authority_geography, write_open_table

    geo = pd.DataFrame([authority_geography(a.name, a.new_la_code, a.period_end) for a in authorities])
    rows = pd.DataFrame([{key: _open_value(row[column]) for key, (column, _, _) in OPEN_INDICATORS.items()}
                         for row in csv_rows])
    write_open_table(out, "profiles", "Headline measures by authority", "Authority profiles at a glance", rows,
                     geo, {}, {key: Indicator(label, unit) for key, (_, label, unit) in OPEN_INDICATORS.items()})


#: The comparison table's caption, by label: the notebook cell's ``#| tbl-cap:`` carries the same words
#: (tests/test_notebooks.py checks they agree).
CAPTIONS = {
    "tbl-profiles": ("Headline measures by authority: case files reviewed, children on plans in the administrative "
                     "data, their median plan length (administrative data: every ended plan in the period), and the "
                     "share of services in the reviewed case files that were advice, guidance or co-ordination"),
}


@dataclass
class ProfilesChapter:
    """The chapter's data-driven pieces (``notebooks/study/profiles.ipynb`` holds its heading and notes)."""

    report: ReportParams
    authorities: list[Authority]
    pub: Published
    out_dir: Path

    @classmethod
    def load(cls, params_dir: str = "params", build_dir: str = BUILD, out_dir: str | None = None) -> "ProfilesChapter":
        return cls(load_report(params_dir), load_authorities(params_dir),
                   Published.load(Path(build_dir) / "published" / "store.json"),
                   Path(out_dir or Path(build_dir) / "study"))

    @property
    def in_pdf(self) -> set[str]:
        """The authorities whose full profiles the PDF edition has."""
        return set(self.report.pdf_profile_codes([a.code for a in self.authorities]))

    def coverage(self) -> str:
        """How many authorities, where their full profiles are, and the suppression symbol."""
        n, in_pdf = len(self.authorities), self.in_pdf
        if len(in_pdf) == n:
            where = "Each has a full profile in the chapters that follow."
        elif in_pdf:
            where = (f"The HTML book has a full profile of each; the PDF edition has the full profiles of {len(in_pdf)} "
                     "of them, marked in the last column.")
        else:
            where = "The HTML book has a full profile of each; the PDF edition keeps to this comparison table."
        return (f"The study covers {n} authorities. {where} Shares based on a small count are shown as "
                f"{markdown_code(self.report.disclosure_symbol)}.")

    def table(self, in_cell: bool = True) -> str:
        """The comparison table, one row per authority linked to its chapter; writes it as
        ``tables/profiles.csv`` and as open data. With ``in_cell`` it has no caption line (the notebook
        cell's ``tbl-cap`` gives it)."""
        in_pdf = self.in_pdf
        rows, csv_rows = {}, []
        for a in self.authorities:
            row = profile_row(self.pub, a.code)
            if len(in_pdf) < len(self.authorities):  # the same words in both editions: neither says "this PDF"
                row["Full profile in the PDF"] = "yes" if a.code in in_pdf else "no (HTML book only)"
            csv_rows.append({"code": a.code, "authority": a.name, **row})
            rows[f"[{markdown_text(a.name)}](../authorities/{a.code}/authority.ipynb)"] = row
        frame = pd.DataFrame.from_dict(rows, orient="index")
        write_csv(self.out_dir / "tables" / "profiles.csv", pd.DataFrame(csv_rows))
        _open_data(self.out_dir, self.authorities, csv_rows)
        text = markdown_table(frame, index_label="Authority", markdown_index=True)
        return text if in_cell else text + "\n\n" + caption_line(CAPTIONS["tbl-profiles"], "tbl-profiles")


def comparison(params_dir: str = "params", build_dir: str = BUILD, out_dir: str | None = None) -> list[str]:
    """The chapter's data-driven parts (its heading and notes are the notebook's Markdown cells), the
    table with its caption line; writes the table as ``<out_dir>/tables/profiles.csv``."""
    chapter = ProfilesChapter.load(params_dir, build_dir, out_dir)
    return [chapter.coverage(), chapter.table(in_cell=False)]
