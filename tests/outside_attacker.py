"""An attacker from outside the build: it reads only what a reader can download.

Independent of :mod:`cinreport.disclosure.attack` and of the build's store: it parses the open-data CSVs
(``_book/data/*.csv``) and the text of the chapters, links the numbers a careful reader would see
are the same (an authority's table and its column of the cross-authority table; a total quoted in a
sentence and the table it totals; a percentage with its denominator and the counts it is a share
of), and then asks, with integer programming, whether any suppressed value is determined. It
assumes what the book tells a reader: ``c`` hides a whole number of at least 1 (zeros are shown).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import Bounds, LinearConstraint, milp

GEOGRAPHY = {"time_period", "time_identifier", "geographic_level", "country_code", "country_name", "la_name",
             "new_la_code", "old_la_code"}
TOTALS = ("Total", "Referred")
ALL = "All study authorities"
# per-authority table -> the cross-authority table that has a column for each authority
LINKED = {"primary-need": "primary-need-cases", "service-group": "service-group"}
CROSS = {*LINKED.values(), "mental-health"}  # cross-authority tables that prose restates


@dataclass
class Reading:
    """What the attacker learned: variables (cells), their shown values, and linear facts."""

    shown: dict[tuple, int] = field(default_factory=dict)       # variable -> value shown
    hidden: set[tuple] = field(default_factory=set)             # variables shown as c somewhere
    equalities: list[tuple[dict, int]] = field(default_factory=list)   # sum(coef * var) == value
    intervals: list[tuple[dict, float, float]] = field(default_factory=list)  # lo <= sum <= hi
    inconsistencies: list[str] = field(default_factory=list)    # a value shown in one output, hidden in another
    names: dict[str, str] = field(default_factory=dict)         # authority code -> name

    def see(self, var: tuple, text: str, where: str) -> None:
        text = str(text).strip().replace(",", "")
        if text in ("c",):
            if var in self.shown:
                self.inconsistencies.append(f"{var} shown as {self.shown[var]} elsewhere, `c` in {where}")
            self.hidden.add(var)
        elif re.fullmatch(r"\d+", text):
            v = int(text)
            if var in self.hidden:
                self.inconsistencies.append(f"{var} = {v} in {where}, `c` elsewhere")
            if var in self.shown and self.shown[var] != v:
                self.inconsistencies.append(f"{var} is {self.shown[var]} and {v} in {where}")
            self.shown[var] = v

    def hidden_now(self) -> set[tuple]:
        return {v for v in self.hidden if v not in self.shown}


def _canonical(stem: str, names: dict[str, str]) -> tuple[str, str | None]:
    """(table, authority name or None): la-a-primary-need -> (primary-need-cases, 'Authority A')."""
    for code, name in names.items():
        if stem.startswith(code + "-"):
            rest = stem[len(code) + 1:]
            return ("cf-" + LINKED[rest] if rest in LINKED else f"{code}:{rest}"), name
    return ("cf-" + stem if stem in CROSS else stem), None


def read_open_data(folder: Path, names: dict[str, str]) -> Reading:
    """Every count table of the open data as variables and equalities (categories sum to the total)."""
    r = Reading(names=dict(names))
    for path in sorted(Path(folder).glob("*.csv")):
        if path.name.endswith(".meta.csv") or path.name == "datasets.csv":
            continue
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        if "number" not in frame.columns:
            continue
        table, _ = _canonical(path.stem, names)
        filters = [c for c in frame.columns if c not in GEOGRAPHY and c not in ("number", "percent")]
        cat = "category" if "category" in filters else filters[-1]
        others = [c for c in filters if c != cat]
        for keys, rows in frame.groupby(["la_name", *others], sort=False):
            keys = keys if isinstance(keys, tuple) else (keys,)
            cells = {}
            total = None
            for _, row in rows.iterrows():
                var = (table, *keys, row[cat])
                r.see(var, row["number"], path.name)
                if row[cat] in TOTALS:
                    total = var
                else:
                    cells[var] = 1
            if total is not None and cells:
                r.equalities.append(({**cells, total: -1}, 0))
    return r


def _interval_from_percent(p: float, n: int) -> tuple[float, float]:
    """The counts k whose share of n rounds (half up) to p per cent."""
    return (n * (p - 0.5) / 100, n * (p + 0.5) / 100)


def add_shares(r: Reading, folder: Path) -> None:
    """Percentages with their denominators, linked to the counts they are shares of."""
    shares = Path(folder) / "shares.csv"
    if shares.is_file():
        frame = pd.read_csv(shares, dtype=str, keep_default_na=False)
        for _, row in frame.iterrows():
            code = next((c for c, n in r.names.items() if n == row["la_name"]), None)
            if code is None or not row["percent"].isdigit() or not row["reviewed_cases"].isdigit():
                continue
            lo, hi = _interval_from_percent(int(row["percent"]), int(row["reviewed_cases"]))
            if row["characteristic"] == "Aged 10 or over":
                terms = {(f"{code}:age-band", row["la_name"], "10 to 15"): 1,
                         (f"{code}:age-band", row["la_name"], "16 and over"): 1}
                r.intervals.append((terms, lo, hi))
    comp = Path(folder) / "completeness.csv"
    if comp.is_file():
        frame = pd.read_csv(comp, dtype=str, keep_default_na=False)
        for _, row in frame.iterrows():
            code = next((c for c, n in r.names.items() if n == row["la_name"]), None)
            total = (f"{code}:ethnicity", row["la_name"], "Total")
            if (code is None or row["source"] != "Case files" or row["characteristic"] != "Ethnicity"
                    or not row["percent_recorded"].isdigit() or total not in r.shown):
                continue
            n = r.shown[total]
            lo, hi = _interval_from_percent(100 - int(row["percent_recorded"]), n)  # share not recorded
            terms = {(f"{code}:ethnicity", row["la_name"], c): 1 for c in ("Not known", "Not recorded")
                     if (f"{code}:ethnicity", row["la_name"], c) in r.shown or
                     (f"{code}:ethnicity", row["la_name"], c) in r.hidden}
            if terms:
                r.intervals.append((terms, lo, hi))


NUMBER = r"(`c`|c|[\d,]+)"


def add_prose(r: Reading, texts: dict[str, str], threshold: int) -> list[str]:
    """Numbers quoted in sentences, linked to the tables they restate; returns 'k of n' phrases
    whose k or n - k is a small count (a disclosure whatever else is published)."""
    bad = []
    for where, text in texts.items():
        text = re.sub(r"\s+", " ", text)
        for k, n in re.findall(r"(?<![\w.])(\d[\d,]*) of (\d[\d,]*)\b", text):
            k, n = int(k.replace(",", "")), int(n.replace(",", ""))
            if 0 < k < threshold or 0 < n - k < threshold:
                bad.append(f"{where}: '{k} of {n}'")
        code = next((c for c in r.names if where.startswith(c)), None)
        name = r.names.get(code)
        if code:
            m = re.search(rf"There were {NUMBER} referrals to child or adult mental-health services", text)
            if m:
                r.see(("cf-mental-health", name, "Referred"), m.group(1).strip("`"), where)
            m = re.search(rf"Of these referrals, {NUMBER} of {NUMBER}", text)
            if m:
                r.see(("cf-mental-health", name, "Not met in time"), m.group(1).strip("`"), where)
            m = re.search(rf"co-ordination by the social worker made up {NUMBER} of {NUMBER}", text)
            if m:
                r.see(("cf-service-group", name, "Advice, guidance and co-ordination"), m.group(1).strip("`"), where)
            m = re.search(rf"The most common primary need was \*?([^*(]+?)\*? \({NUMBER} of {NUMBER}", text)
            if m:
                r.see(("cf-primary-need-cases", name, m.group(1).strip()), m.group(2).strip("`"), where)
        else:
            m = re.search(rf"{NUMBER} of {NUMBER} referrals to child or adult mental-health services", text)
            if m:
                ks = [("cf-mental-health", n, "Not met in time") for n in r.names.values()]
                ns = [("cf-mental-health", n, "Referred") for n in r.names.values()]
                for group, value in ((ks, m.group(1)), (ns, m.group(2))):
                    if value.strip("`").isdigit():
                        r.equalities.append(({v: 1 for v in group}, int(value.replace(",", ""))))
    return bad


def determined(r: Reading) -> list[tuple[tuple, int]]:
    """Suppressed variables with a single feasible value: (variable, value)."""
    hidden = sorted(r.hidden_now(), key=str)
    if not hidden:
        return []
    variables = sorted({v for t, _ in r.equalities for v in t} | {v for t, _, _ in r.intervals for v in t}
                       | set(hidden) | set(r.shown), key=str)
    index = {v: i for i, v in enumerate(variables)}
    n = len(variables)
    lo = np.zeros(n)
    hi = np.full(n, np.inf)
    for v, value in r.shown.items():
        lo[index[v]] = hi[index[v]] = value
    for v in hidden:
        lo[index[v]] = 1
    rows, lbs, ubs = [], [], []
    for terms, a, b in [(t, v, v) for t, v in r.equalities] + list(r.intervals):  # a <= sum(coef * var) <= b
        row = np.zeros(n)
        for v, c in terms.items():
            row[index[v]] += c
        rows.append(row)
        lbs.append(a)
        ubs.append(b)
    cons = [LinearConstraint(np.array(rows), lbs, ubs)] if rows else []
    bounds = Bounds(lo, np.where(np.isinf(hi), 1e6, hi))
    out = []
    for v in hidden:
        c = np.zeros(n)
        c[index[v]] = 1
        low = milp(c, integrality=np.ones(n), bounds=bounds, constraints=cons)
        high = milp(-c, integrality=np.ones(n), bounds=bounds, constraints=cons)
        if low.x is None or high.x is None:
            continue  # infeasible: the reading itself is inconsistent (reported separately)
        a, b = round(low.x[index[v]]), round(high.x[index[v]])
        if a == b:
            out.append((v, a))
    return out


def attack_book(data_folder: Path, texts: dict[str, str], names: dict[str, str], threshold: int = 5
                ) -> dict[str, list]:
    """Everything the outside attacker finds: determined suppressed values, inconsistencies between
    outputs, and small 'k of n' phrases."""
    r = read_open_data(data_folder, names)
    add_shares(r, data_folder)
    small = add_prose(r, texts, threshold)
    return {"determined": determined(r), "inconsistent": r.inconsistencies, "small_k_of_n": small}
