"""Published stores for hand-made tables: what the build's disclosure pass would give chapters."""

from __future__ import annotations

import pandas as pd

from cinreport.analysis import measures
from cinreport.disclosure import plan
from cinreport.disclosure.publication import Publication, Published, ref, size


def store_for_counts(counts: pd.DataFrame, name: str, threshold: int = 5, symbol: str = "c") -> Published:
    """The store for one cross-authority count table ``name`` (categories × authority codes), declared
    as the plan declares a case-file table (categories of primary need; sizes are the column totals)."""
    atoms = {code: {"primary_need": {str(cat): int(v) for cat, v in counts[code].items() if v}}
             for code in counts.columns}
    pub = Publication(atoms, threshold, symbol)
    plan._table(pub, name, f"study, table {name}", [str(c) for c in counts.index], list(counts.columns),
                lambda row, c: ref("primary_need", c, label=row), lambda c: size("case_files", c))
    return Published.from_dict(pub.suppress().to_dict())


def store_for_plan_lengths(days: dict[str, list[float]], threshold: int = 5) -> Published:
    """The store's published quartiles of plan length for each authority code."""
    pub = Publication({code: {} for code in days}, threshold, "c")
    for code, values in days.items():
        plan._quantiles(pub, f"{code}/length-days", measures.quantiles(pd.Series(values, dtype=float)), code,
                        "ended plans")
    return Published.from_dict(pub.to_dict())
