"""What the build publishes: every number of every output, declared in one place.

:func:`build_publication` declares, output by output, each count the book and its open data show
(as refs over the measured atoms, see :mod:`cinreport.disclosure.publication`), runs the single disclosure
pass over all of them, and names the published objects (tables, shares, numbers, statistics) that
the chapters then read. A chapter that asks for a number not declared here fails, so nothing
reaches the book without passing through the pass.

Statistics that are not counts (medians and quartiles of plan lengths, waits and services per
child) are published only for groups large enough that they cannot give single values back: a
median needs at least ``threshold`` values, quartiles at least ``2 * threshold`` (with fewer, the
lower and upper quartiles of a handful of values are those values themselves).
"""

from __future__ import annotations

from typing import Any

from cinreport.analysis.measures import AGE_BANDS, MH_TIMELY, NEED_FACTORS, NEED_STATUS
from cinreport.disclosure.publication import ALL, Publication, Ref, ref, size


def mh_referrals(authority: str) -> Ref:
    """Referrals to child or adult mental-health services: services of those kinds."""
    return ref("service", authority, timely=MH_TIMELY)


def _table(pub: Publication, name: str, output: str, rows: list[str], columns: list[str], cell, total,
           authority: str | None = None, total_label: str = "Total", **meta: Any) -> None:
    """Declare a table: ``cell(row, column)`` and ``total(column)`` give the refs (total may be None)."""
    cells = {r: {c: pub.declare(cell(r, c), output, f"{r} | {c}") for c in columns} for r in rows}
    totals = {c: pub.declare(total(c), output, f"{total_label} | {c}") for c in columns} if total else None
    pub.objects[name] = {"kind": "table", "authority": authority, "rows": list(rows), "columns": list(columns),
                         "cells": cells, "totals": totals, "total_label": total_label, **meta}


def _share(pub: Publication, name: str, output: str, what: str, k: Ref, n: Ref, authority: str | None) -> None:
    kk, nk = pub.declare_share(k, n, output, what)
    pub.objects[name] = {"kind": "share", "authority": authority, "k": kk, "n": nk}


def _number(pub: Publication, name: str, output: str, what: str, r: Ref, authority: str | None) -> None:
    pub.objects[name] = {"kind": "number", "authority": authority, "key": pub.declare(r, output, what)}


def _quantiles(pub: Publication, name: str, q: dict, authority: str | None, unit: str) -> None:
    """A published median (n >= threshold) and quartiles (n >= 2 threshold), whole numbers; else why not."""
    n, t = int(q.get("n") or 0), pub.threshold
    median = q.get("median") if n >= t else None
    quartiles = (q.get("q1"), q.get("q3")) if n >= 2 * t else (None, None)
    reason = ("" if n >= 2 * t else f"quartiles need at least {2 * t} {unit}" if n >= t
              else f"fewer than {t} {unit}" if n else f"no {unit}")
    pub.objects[name] = {"kind": "quantiles", "authority": authority, "median": median, "q1": quartiles[0],
                         "q3": quartiles[1], "why_not": reason, "unit": unit}


def _rows(counts: dict[str, int]) -> list[str]:
    return list(counts)


def authority_plan(pub: Publication, a: str, m: dict, factor_groups: list[str], factor_codes: list[str]) -> None:
    """Everything one authority's chapter (and its open data) publishes."""
    ch, r, p, s = m["characteristics"], m["reasons"], m["plans"], m["support"]
    out = f"{a} chapter"
    cases, admin = size("case_files", a), size("admin_children", a)
    pub.objects[f"{a}/heading"] = {
        "kind": "numbers", "authority": a,
        "case_files": pub.declare(cases, out, "case files reviewed"),
        "admin_children": pub.declare(admin, out, "children in the administrative extract"),
        "parent_interviews": pub.declare(size("parent_interviews", a), out, "parent interviews"),
        "focus_groups": int(m["counts"]["focus_groups"]), "case_discussions": int(m["counts"]["case_discussions"])}
    _share(pub, f"{a}/boys", out, "boys", ref("gender", a, label="Male"), cases, a)
    _share(pub, f"{a}/disability", out, "disability recorded",
           ref("disability", a, status="One or more disabilities"), cases, a)
    _share(pub, f"{a}/disability-not-recorded", out, "no disability status recorded",
           ref("disability", a, status="Not recorded"), cases, a)
    _table(pub, f"{a}/age-band", f"{out}, table {a}-age-band", [b[0] for b in AGE_BANDS], [a],
           lambda row, c: ref("age", c, band=row), lambda c: size("case_files", c), a)
    _table(pub, f"{a}/ethnicity", f"{out}, table {a}-ethnicity", _rows(ch["ethnicity_group"]), [a],
           lambda row, c: ref("ethnicity", c, group=row), lambda c: size("case_files", c), a)
    _table(pub, f"{a}/admin-age-band", f"{out}, figure {a}-age-band", [b[0] for b in AGE_BANDS], [a],
           lambda row, c: ref("admin_age", c, band=row), lambda c: size("admin_children", c), a)
    need = r["primary_need"]
    top_need = max(need, key=need.get) if need else None
    if top_need is not None:
        _share(pub, f"{a}/top-need", out, f"most common primary need ({top_need})",
               ref("primary_need", a, label=top_need), cases, a)
        pub.objects[f"{a}/top-need"]["label"] = top_need
    fg = r["factor_groups"]
    top_group = max(fg, key=fg.get) if fg else None
    if top_group is not None:
        _share(pub, f"{a}/top-factor-group", out, f"most common factor group ({top_group})",
               ref(f"factor_group:{top_group}", a, has="yes"), cases, a)
        pub.objects[f"{a}/top-factor-group"]["label"] = top_group
    _table(pub, f"{a}/primary-need", f"{out}, table {a}-primary-need", _rows(need), [a],
           lambda row, c: ref("primary_need", c, label=row), lambda c: size("case_files", c), a)
    _table(pub, f"{a}/admin-factor-groups", f"{out}, figure {a}-factors", factor_groups, [a],
           lambda row, c: ref(f"admin_factor_group:{row}", c, has="yes"), lambda c: size("admin_children", c), a)
    _quantiles(pub, f"{a}/length-days", p["length_days"], a, "ended plans")
    _quantiles(pub, f"{a}/admin-length-days", p["admin_length_days"], a, "ended plans")
    _quantiles(pub, f"{a}/direct-work", p["direct_work_per_month"], a, "case files")
    _share(pub, f"{a}/open", out, "plans still open", ref("outcome", a, ended="no"), cases, a)
    _number(pub, f"{a}/ended", out, "ended plans", ref("outcome", a, ended="yes"), a)
    _table(pub, f"{a}/outcome", f"{out}, table {a}-outcome", _rows(p["outcome"]), [a],
           lambda row, c: ref("outcome", c, label=row), lambda c: size("case_files", c), a)
    services = size("services", a)
    _number(pub, f"{a}/services", out, "services recorded", services, a)
    pub.objects[f"{a}/service-kinds-count"] = {"kind": "value", "authority": a, "value": int(s["distinct_services"])}
    _quantiles(pub, f"{a}/services-per-case", s["services_per_case"], a, "case files")
    _share(pub, f"{a}/advice", out, "advice, guidance and co-ordination", ref("service", a, advice="yes"),
           services, a)
    _table(pub, f"{a}/service-group", f"{out}, table {a}-service-group", _rows(s["service_group"]), [a],
           lambda row, c: ref("service", c, group=row), lambda c: size("services", c), a)
    _table(pub, f"{a}/service", f"{out}, figure {a}-services", _rows(s["service"]), [a],
           lambda row, c: ref("service", c, label=row), lambda c: size("services", c), a)
    mh = mh_referrals(a)
    _number(pub, f"{a}/mh-referrals", out, "mental-health referrals", mh, a)
    _quantiles(pub, f"{a}/mh-wait", m["needs"]["mental_health"]["wait_days"], a, "referrals that started")
    _share(pub, f"{a}/mh-not-timely", out, "mental-health referrals not met in time",
           ref("service", a, timely=MH_TIMELY[1]), mh, a)
    for code in factor_codes:
        _share(pub, f"{a}/factor-code/{code}", f"{out}, national context", f"factor {code} (administrative data)",
               ref(f"admin_factor:{code}", a, has="yes"), ref("admin_factor:_any", a, has="yes"), a)


def sources_plan(pub: Publication, codes: list[str], metrics: dict[str, dict], study_sources: dict | None) -> None:
    """The Methods chapter's counts of sources (focus groups, their staff, case discussions, parent
    interviews, roundtables), by authority and in total. Sources and staff are not children, so their
    counts are plain values; parent interviews are families, so they are published counts (the size of
    each authority's interviews, suppressed when small like any count, and their total)."""
    out = "methods, table sources"
    per: dict[str, dict] = {}
    for c in codes:
        src = metrics[c].get("sources") or {"listed": False, "by_type": {}}
        by = src["by_type"]

        def n(kind: str, what: str = "sources", by: dict = by):
            return (by.get(kind) or {}).get(what, 0) if what == "sources" else (by.get(kind) or {}).get(what)

        per[c] = {"listed": bool(src["listed"]), "focus_groups": n("focus_group"),
                  "focus_group_staff": n("focus_group", "participants"), "case_discussions": n("case_discussion"),
                  "roundtables": n("roundtable"), "roundtable_participants": n("roundtable", "participants"),
                  "parent_interviews": pub.declare(size("parent_interviews", c), out, "parent interviews")}
    study = study_sources or {"listed": False, "by_type": {}}
    rt = study["by_type"].get("roundtable") or {}
    pub.objects["study/sources"] = {
        "kind": "sources", "authority": None, "authorities": per,
        "parent_interviews": pub.declare(size("parent_interviews", ALL), out, "parent interviews (all authorities)"),
        "study_listed": bool(study["listed"]), "roundtables": int(rt.get("sources") or 0),
        "roundtable_participants": rt.get("participants")}


def study_plan(pub: Publication, codes: list[str], metrics: dict[str, dict], codebook,
               study_sources: dict | None = None) -> None:
    """Everything the cross-authority chapters, key findings and profiles publish."""
    out = "study"
    for pop in ("case_files", "admin_children", "parent_interviews"):
        _number(pub, f"study/{pop}", out, f"{pop.replace('_', ' ')} (all authorities)", size(pop, ALL), None)

    def rows_of(*path) -> list[str]:
        order: dict[str, int] = {}
        for m in metrics.values():
            d = m
            for k in path:
                d = d[k]
            for k, v in d.items():
                order[k] = order.get(k, 0) + int(v)
        return [k for k, v in order.items() if v > 0]

    def cross(name, var, view, path, total_pop, title, total_label="Total"):
        _table(pub, name, f"study, table {name}", rows_of(*path), codes,
               lambda row, c: ref(var, c, **{view: row}), lambda c: size(total_pop, c), None, total_label,
               title=title)

    cross("age-band", "admin_age", "band", ("characteristics", "admin_age_band"), "admin_children", "age")
    cross("ethnicity", "admin_ethnicity", "group", ("characteristics", "admin_ethnicity_group"), "admin_children",
          "ethnicity")
    cross("primary-need-cases", "primary_need", "label", ("reasons", "primary_need"), "case_files", "need")
    cross("primary-need", "admin_primary_need", "label", ("reasons", "admin_primary_need"), "admin_children",
          "need (admin)")
    cross("concern", "concern", "label", ("reasons", "safeguarding_concern"), "case_files", "concern")
    groups = rows_of("reasons", "admin_factor_groups")
    _table(pub, "factors", "study, table factors", groups, codes,
           lambda row, c: ref(f"admin_factor_group:{row}", c, has="yes"), lambda c: size("admin_children", c))
    cross("service-group", "service", "group", ("support", "service_group"), "services", "service groups")
    cross("provider", "service", "provider", ("support", "provider"), "services", "providers")
    _table(pub, "mental-health", "study, table mental-health", list(MH_TIMELY), codes,
           lambda row, c: ref("service", c, timely=row), lambda c: mh_referrals(c),
           total_label="Referred")
    for c in codes:
        _share(pub, f"{c}/aged-10-plus", "study, table shares", "aged 10 or over",
               ref("age", c, band=("10 to 15", "16 and over")), size("case_files", c), c)
        for source, prefix, n in (("case_files", "", size("case_files", c)),
                                  ("admin", "admin_", size("admin_children", c))):
            for field in ("ethnicity", "disability", "referral"):
                _share(pub, f"{c}/recorded/{source}/{field}", "study, table completeness",
                       f"{field} recorded ({source.replace('_', ' ')})",
                       ref(f"{prefix}{field}", c, recorded="Recorded"), n, c)
        _number(pub, f"{c}/ended-evidence", "key findings, evidence", "ended plans (plan length comparison)",
                ref("outcome", c, ended="yes"), c)
    sources_plan(pub, codes, metrics, study_sources)
    # pooled numbers quoted by the key findings
    kf = "key findings"
    _share(pub, "study/involved-records", kf, "case files recording parents as involved",
           ref("parents_involved", ALL, label="Involved"),
           ref("parents_involved", ALL, label=("Involved", "Not involved")), None)
    # the case files with a record are a share of all case files: "61 of 81 with a record" beside 82
    # case files would give back the 1 without one, so the complement rule applies to it too
    _share(pub, "study/involvement-recorded", kf, "case files recording parents' involvement either way",
           ref("parents_involved", ALL, label=("Involved", "Not involved")), size("case_files", ALL), None)
    _share(pub, "study/felt-involved", kf, "interviewed parents who felt involved",
           ref("interview", ALL, felt_involved="yes"), size("parent_interviews", ALL), None)
    _share(pub, "study/unaware", kf, "interviewed parents not aware of the plan's goals",
           ref("interview", ALL, aware="no"), size("parent_interviews", ALL), None)
    _share(pub, "study/advice", kf, "services that were advice, guidance or co-ordination",
           ref("service", ALL, advice="yes"), size("services", ALL), None)
    _share(pub, "study/mh-not-timely", kf, "mental-health referrals not met in time",
           ref("service", ALL, timely=MH_TIMELY[1]), mh_referrals(ALL), None)
    kinds = sorted({k for m in metrics.values() for k, v in m["support"]["service"].items() if v})
    pub.objects["study/service-kinds-count"] = {"kind": "value", "authority": None, "value": len(kinds)}
    # needs and matching services, all authorities together
    measures = {"Children with the need": NEED_STATUS[1:], "Referred to a matching service": NEED_STATUS[2:],
                "Received it": NEED_STATUS[3:]}
    _table(pub, "needs-met", "study, table needs-met", list(NEED_FACTORS), list(measures),
           lambda row, col: ref(f"need:{row}", ALL, status=measures[col]), None)
    themes, sources = codebook.codes("theme"), codebook.codes("source_type")
    used = {k for m in metrics.values() for k in m["themes"]}
    theme_rows = [t for t in themes.labels if any(k.split("|")[0] == t for k in used)]
    _table(pub, "themes", "study, table themes", theme_rows, list(sources.labels),
           lambda row, col: ref("segments", ALL, theme=row, source=col), None,
           row_labels=dict(themes.labels), column_labels=dict(sources.labels))


# Findings whose test is computed on a published cross-authority table (see cinreport.chapters.findings).
TESTED_TABLES = {"variation-reasons": "primary-need-cases", "variation-use": "concern",
                 "variation-services": "service-group"}


CHECKED_UP_TO = 40  # suppressed cells of a tested table; with more, its test's figures are withheld unchecked

#: The precisions at which a tested table's test may be published, most precise first (see
#: :func:`statistic_levels`; ``exact`` needs no check).
LEVELS = ("banded", "withheld")


def statistic_levels(pub: Publication, reading) -> None:
    """How precisely each tested table's test may be published; stored in its object as ``statistic``.

    ``reading(finding id, table, level)`` yields what the book says about the test of a table at that
    precision, piece by piece (:func:`cinreport.chapters.findings.test_reading`: the same tests, seed and
    permutations as the published finding). The levels:

    * ``exact``: no suppressed cell (the statistics follow from the published counts anyway);
    * ``banded`` (V only as above or below its threshold, p only as a band; the outcome and which
      authority left out would change it) when for every suppressed cell another whole-number completion
      of everything published, with that cell different, reads the same;
    * ``withheld`` (no figures; the outcome and the leave-one-out labels) when that holds for what is
      left, and also when the table has more than ``CHECKED_UP_TO`` suppressed cells (too many
      completions to check one by one; each published label is then one yes/no over hundreds of cells);
    * ``unreported``: otherwise; the finding then says its result is not reported.

    An exact statistic or p-value, with the published margins, can give suppressed cells back; so can a
    band or an outcome read from a different test than the published one (a Monte Carlo p-value and its
    asymptotic approximation fall on different sides of 0.05), hence one function for both."""
    for fid, name in TESTED_TABLES.items():
        o = pub.objects[name]
        keys = [o["cells"][r][c] for r in o["rows"] for c in o["columns"]]
        hidden = sorted({k for k in keys if not pub.entries[k].shown})
        o["statistic"] = ("exact" if not hidden else "withheld" if len(hidden) > CHECKED_UP_TO
                          else _test_level(pub, fid, o, keys, hidden, reading))


def _test_level(pub: Publication, fid: str, o: dict, keys: list[str], hidden: list[str], reading) -> str:
    """The most precise of :data:`LEVELS` at which every suppressed cell of the tested table ``o`` has a
    completion of everything published, with that cell different, that reads the same (else
    ``unreported``): then no reading of the test, with everything else published, pins the cell."""
    import pandas as pd

    truth = {k: pub.entries[k].value for k in keys}

    def table(values: dict[str, int]) -> pd.DataFrame:
        return pd.DataFrame([[values[o["cells"][r][c]] for c in o["columns"]] for r in o["rows"]],
                            index=o["rows"], columns=o["columns"])

    found: dict[tuple[str, int], list[dict[str, int]]] = {}

    def completions(k: str):
        """Completions with ``k`` different, nearest first: one more or less, then further, as far as
        a suppressed count can be from its value (``pub.threshold - 1``)."""
        for d in range(1, max(2, pub.threshold)):
            if (k, d) not in found:
                found[k, d] = [{**truth, **{q: alt[q] for q in keys if q in alt}} for alt in pub.alternatives(k, (d, -d))
                               if alt.get(k, truth[k]) != truth[k]]
            yield from found[k, d]

    for level in LEVELS:
        want = list(reading(fid, table(truth), level))
        seen: dict[tuple, bool] = {}

        def same(values: dict[str, int], level: str = level, want: list = want, seen: dict = seen) -> bool:
            key = tuple(values[k] for k in keys)
            if key not in seen:
                seen[key] = all(got == w for got, w in zip(reading(fid, table(values), level), want))
            return seen[key]

        if all(any(same(v) for v in completions(k)) for k in hidden):
            return level
    return "unreported"


def build_publication(atoms: dict[str, dict], metrics: dict[str, dict], codebook, threshold: int,
                      symbol: str, cache: dict | None = None, reading=None,
                      study_sources: dict | None = None) -> Publication:
    """Declare everything the build publishes, run the disclosure pass, and return the store. ``cache``
    (signature -> decisions) lets an unchanged group of linked numbers keep its earlier decisions.
    ``reading``: what the findings say about each tested table (:func:`statistic_levels`); without it
    the tests' precision is not decided (their objects have no ``statistic``)."""
    pub = Publication(atoms, threshold, symbol, cache)
    fl = codebook.codes("assessment_factor")
    groups = list(fl.groups)
    factor_codes = [c for c in fl.labels if c != "21"]
    for a in atoms:
        authority_plan(pub, a, metrics[a], groups, factor_codes)
    study_plan(pub, list(atoms), metrics, codebook, study_sources)
    pub.suppress()
    if reading is not None:
        statistic_levels(pub, reading)
    return pub


__all__ = ["build_publication", "authority_plan", "study_plan", "sources_plan", "statistic_levels", "TESTED_TABLES"]
