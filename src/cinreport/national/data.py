"""National context from Department for Education open data.

``build`` reads the DfE files named in ``params/report.yml`` (``national:``) once, and writes to
``build/national/`` a tidy table of measures for every English local authority, region and England
(``measures.csv``), the statistical-neighbour pairs (``neighbours.csv``) and ``status.json`` (which
files were read, with hashes, or why national context is not available). The national chapter
and each authority chapter read those outputs through :class:`NationalData`.

Measures (``measure`` column):

- ``cin_at31``: children in need at 31 March (episodes open on that day; file b1);
- ``population``: children aged 0 to 17 (ONS mid-year estimate for the June before that 31 March);
- ``cin_rate``: children in need at 31 March per 10,000 children aged 0 to 17;
- ``factor_episodes`` and ``factor:<code>``: episodes with factors identified at the end of
  assessment, and the share of them with each factor (CIN census code; file c3);
- ``cpp_at31`` and ``cpp_duration:<band>``: child protection plans at 31 March and the share of
  them open for each length of time (file d5);

and, from the optional files (each left out, and the chapter says so, when params do not name it or
it is not there):

- ``cin_plan_at31``, ``cin_plan_rate``, ``cin_plan_start_rate``: Child in Need plans open at 31 March,
  and DfE's own rates per 10,000 children of plans open at 31 March and started in the year
  (file b7, key ``cin_plans``); ``cin_plan_share``: plans open at 31 March as a share of the children
  in need at 31 March (b7 over b1);
- ``need:<code>``: the share of children in need at 31 March with each primary need (N0 to N9;
  file b3, key ``primary_need``);
- ``cin_duration:<band>``: the share of open CIN episodes at 31 March that had lasted each length of
  time (file b4, key ``episode_duration``).

DfE's own symbols (``c`` suppressed, ``x`` not available, ...) are kept in the ``status`` column,
never turned into zeros. Published figures are already disclosure-controlled by DfE.

Each file is read strictly (:data:`NATIONAL_KEYS`): the key's indicator columns must all be there
(else the file is the wrong one for its key), each of their cells must be a number, a DfE symbol or
blank, and each row must name its area; any departure is a :class:`NationalDataError` naming the key,
the file, and where there is one the line, column and value.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from cinreport.common.atomic import write_csv, write_json
from cinreport.national.files import (  # noqa: F401 (the folder and files, also read from here)
    DFE_KEYS,
    ENV_DIR,
    FILE_KEYS,
    OPTIONAL_KEYS,
    missing_files,
    national_dir,
    national_files,
    optional_not_included,
)

MEASURE_COLUMNS = ["time_period", "geographic_level", "area_code", "area_name", "region_code", "region_name",
                   "old_la_code", "measure", "value", "status"]

# c3 column -> CIN census assessment factor code (codebook `assessment_factor`).
FACTOR_COLUMNS: dict[str, str] = {
    "Alcohol_Misuse_child": "1A", "Alcohol_Misuse_parent": "1B", "Alcohol_Misuse_person": "1C",
    "Drug_Misuse_child": "2A", "Drug_Misuse_parent": "2B", "Drug_Misuse_person": "2C",
    "Domestic_Abuse_child": "3A", "Domestic_Abuse_parent": "3B", "Domestic_Abuse_person": "3C",
    "Mental_Health_child": "4A", "Mental_Health_parent": "4B", "Mental_Health_person": "4C",
    "Learning_Disability_child": "5A", "Learning_Disability_parent": "5B", "Learning_Disability_person": "5C",
    "Physical_Disability_child": "6A", "Physical_Disability_parent": "6B", "Physical_Disability_person": "6C",
    "Young_Carer": "7A", "Unaccompanied_asylum_seeker": "9A", "Going_missing": "10A",
    "Child_sexual_exploitation": "11A", "Trafficking": "12A", "Gangs": "13A",
    "Socially_unacceptable_behaviour": "14A", "Self_harm": "15A", "Neglect": "16A", "Emotional_Abuse": "17A",
    "Physical_Abuse_unknown": "18A", "Physical_Abuse_child_on_child": "18B", "Physical_Abuse_adult_on_child": "18C",
    "Sexual_Abuse_unknown": "19A", "Sexual_Abuse_child_on_child": "19B", "Sexual_Abuse_adult_on_child": "19C",
    "Female_Genital_Mutilation": "22A", "Faith_linked_abuse": "23A", "Child_criminal_exploitation": "24A",
    "Other": "20",
}
# d5 count column -> length-of-plan band, shortest first.
CPP_BANDS: dict[str, str] = {
    "3_months_or_less": "3 months or less",
    "more_than_3_months_6_months": "3 to 6 months",
    "more_than_3_months_less_than_6_months": "3 to 6 months",
    "more_than_6_months_less_than_1_year": "6 months to 1 year",
    "1_year_less_than_2_years": "1 to 2 years",
    "2_years_or_more": "2 years or more",
    "2years+": "2 years or more",
}
# b7 indicator -> measure (DfE's rates are per 10,000 children aged 0 to 17).
PLAN_COLUMNS: dict[str, str] = {
    "CINPlan_At31": "cin_plan_at31",
    "CINPlan_At31_rate": "cin_plan_rate",
    "CINPlan_start_rate": "cin_plan_start_rate",
}
# b3 column -> CIN census primary need code (codebook `primary_need`).
NEED_COLUMNS: dict[str, str] = {
    "N1_Abuse_or_neglect": "N1", "N2_Childs_disability_or_illness": "N2",
    "N3_Parents_disability_or_illness": "N3", "N4_Family_in_acute_stress": "N4",
    "N5_Family_dysfunction": "N5", "N6_Socially_unacceptable_behaviour": "N6", "N7_Low_income": "N7",
    "N8_Absent_parenting": "N8", "N9_Cases_other_than_CIN": "N9", "N0_Not_stated": "N0",
}

LONDON = ("E12000007", "London")
REGION_LEVELS = ("Regional",)
LA_LEVEL = "Local authority"
STUDIED_LEVELS = ("National", *REGION_LEVELS, LA_LEVEL)


class NationalDataError(ValueError):
    """A national file is present but cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class NationalKey:
    """What one ``national:`` key of params/report.yml must name: the file, and the columns read from it.

    ``indicators`` are the columns the chapters read, each given as its accepted spellings (DfE renamed
    some between releases); every one must be in the file, and each of their cells must be a number, a
    DfE symbol or blank (:data:`cinreport.national.dfe.SYMBOLS`) -- a stray cell is an error naming its line.
    ``identifying`` are further columns that tell this file from its look-alikes (b1 and b4 both have
    ``At31_episodes``). ``expected`` says in words which DfE file it is, for error messages.
    """

    key: str
    expected: str
    indicators: tuple[tuple[str, ...], ...]
    identifying: tuple[str, ...] = ()

    def columns(self, header: list[str]) -> list[str]:
        """The indicator columns of a file with ``header`` (the spelling it uses of each)."""
        return [next(name for name in names if name in header) for names in self.indicators
                if any(name in header for name in names)]

    def missing(self, header: list[str]) -> list[str]:
        """Needed columns not in ``header`` (alternative spellings joined by ' or ')."""
        absent = [" or ".join(names) for names in self.indicators if not any(n in header for n in names)]
        return absent + [c for c in self.identifying if c not in header]


def _bands() -> tuple[tuple[str, ...], ...]:
    """Each length-of-plan band the chapter shows, as the column spellings that hold it."""
    by_band: dict[str, tuple[str, ...]] = {}
    for column, band in CPP_BANDS.items():
        by_band[band] = by_band.get(band, ()) + (column,)
    return tuple(by_band.values())


NATIONAL_KEYS: dict[str, NationalKey] = {k.key: k for k in (
    NationalKey("children_in_need", "DfE 'Children in need' file b1 (children_in_need_*.csv, category "
                "'Children in Need': episodes at any point, started, ended and at 31 March)",
                (("At31_episodes",),), ("Anypoint_episodes", "Started_episodes")),
    NationalKey("factors", "DfE file c3 (factors_identified_at_end_of_assessment_*.csv, category 'Factors "
                "identified at the end of assessment': one column per assessment factor)",
                (("Episodes_with_assessment_factor",), *((column,) for column in FACTOR_COLUMNS))),
    NationalKey("cpp_duration", "DfE file d5 (cpps_at31march_by_duration_*.csv, category 'Child Protection "
                "Plans by length of time': plans at 31 March by how long they had been open)",
                (("CPP_At31",), *_bands())),
    NationalKey("population", "the ONS mid-year population estimates in the DfE layout "
                "(ons_mid-year_population_estimates_*.csv, age_group 'Children aged 0 to 17 years')",
                (("population_estimate",),), ("age_group",)),
    NationalKey("cin_plans", "DfE file b7 (child_in_need_plans_*.csv, category 'CIN Plans': plans started, "
                "ended, at any point and at 31 March, numbers and rates)",
                tuple((column,) for column in PLAN_COLUMNS)),
    NationalKey("primary_need", "DfE file b3 (cin_primary_need_*.csv, category 'Primary need at assessment': "
                "children in need at 31 March by primary need N0-N9)",
                (("At31_episodes",), *((column,) for column in NEED_COLUMNS))),
    NationalKey("episode_duration", "DfE file b4 (children_in_need_duration_of_open_episode_*.csv, category "
                "'Duration of open episode': open episodes at 31 March by how long they had lasted)",
                (("At31_episodes",), *_bands())),
)}
"""Each DfE key of ``national:`` with the indicators the national chapter depends on."""

AREA_CODE = r"[EWSN]\d{8}"
"""A GSS area code (E92000001 England, E12... regions, E06/E08/E09/E10... local authorities)."""
NOT_A_NAME = ("n/a", "na", "nan", "null", "none", "unknown", "low")
"""Placeholders that are not an area's name (a name also needs two letters in a row)."""


# -- where the files are ---------------------------------------------------------------------------


def fetch_national(national: dict[str, Any], root: Path | str = ".") -> list[Path]:
    """Download the four DfE files from the addresses in params (``national.url_<key>``) into the
    national folder. Nothing changes there unless every download succeeds and parses."""
    from cinreport.national.dfe import fetch_files

    urls = {key: str(national.get(f"url_{key}") or "") for key in DFE_KEYS}
    missing = [key for key, url in urls.items() if not url]
    if missing:
        raise ValueError("no download address in params/report.yml for: "
                         + ", ".join(f"national.url_{k}" for k in missing))
    return fetch_files({str(national[k]): url for k, url in urls.items()}, national_dir(national, root))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- reading the DfE files into tidy measures --------------------------------------------------------
def _areas(data: pd.DataFrame) -> pd.DataFrame:
    """Area columns for each row: area code and name at its level, and its region (London whole)."""
    level = data["geographic_level"]
    code = data["country_code"].where(level == "National",
                                      data["region_code"].where(level.isin(REGION_LEVELS), data["new_la_code"]))
    name = data["country_name"].where(level == "National",
                                      data["region_name"].where(level.isin(REGION_LEVELS), data["la_name"]))
    region_code = data["region_code"].fillna("")
    region_name = data["region_name"].fillna("")
    inner_outer = region_code.str.startswith("E13")
    region_code = region_code.mask(inner_outer, LONDON[0])
    region_name = region_name.mask(inner_outer, LONDON[1])
    return pd.DataFrame({"time_period": data["time_period"].astype(str), "geographic_level": level,
                         "area_code": code.fillna(""), "area_name": name.fillna(""),
                         "region_code": region_code, "region_name": region_name,
                         "old_la_code": data.get("old_la_code", pd.Series("", index=data.index)).fillna("")})


def _long(areas: pd.DataFrame, measure: str, value: pd.Series, status: pd.Series) -> pd.DataFrame:
    return areas.assign(measure=measure, value=value.to_numpy(dtype=float), status=status.to_numpy())


def _share_measures(table, areas: pd.DataFrame, total: str, parts: dict[str, str], prefix: str) -> list[pd.DataFrame]:
    """Each part column as a share of ``total``; status is the first non-value status of the two."""
    denom = table.data[total]
    denom_status = table.status(total)
    frames = []
    by_name: dict[str, list[str]] = {}
    for column, key in parts.items():
        if column in table.indicators:
            by_name.setdefault(key, []).append(column)
    for key, columns in by_name.items():
        column = columns[0]
        num = table.data[column]
        st = table.status(column)
        st = st.where(st != "value", denom_status)
        share = (num / denom.where(denom > 0)).where(st == "value")
        st = st.where(~((st == "value") & share.isna()), "z")
        frames.append(_long(areas, f"{prefix}:{key}", share, st))
    return frames


def _fits(header: list[str]) -> list[str]:
    """The keys whose needed columns ``header`` has (to say which key a misplaced file belongs to)."""
    return [k for k, spec in NATIONAL_KEYS.items() if not spec.missing(header)]


def check_file(key: str, path: Path) -> list[str]:
    """The indicator columns to read from ``path`` for ``key``; a file that is not the one the key
    needs is a :class:`NationalDataError` naming the key, the file, what is missing and what was expected."""
    from cinreport.national.dfe import DfEFormatError, read_header

    spec = NATIONAL_KEYS[key]
    try:
        header = read_header(path)
    except (DfEFormatError, OSError) as exc:
        raise NationalDataError(f"national.{key}: {path}: cannot be read: {exc}") from None
    missing = spec.missing(header)
    if missing:
        elsewhere = [k for k in _fits(header) if k != key]
        hint = (f" It looks like the file for national.{elsewhere[0]}: are two files swapped in "
                "params/report.yml?" if elsewhere else "")
        raise NationalDataError(
            f"national.{key}: {path} is not the file this key needs: it lacks the column(s) "
            f"{', '.join(missing)}. Expected {spec.expected}.{hint}")
    return spec.columns(header)


def read_national(key: str, path: Path):
    """One DfE file of ``key``, its indicators read strictly, at the levels the report studies."""
    from cinreport.national.dfe import DfEFormatError, read_dfe_csv

    columns = check_file(key, path)
    try:
        table = read_dfe_csv(path, indicators=columns)
    except DfEFormatError as exc:
        raise NationalDataError(f"national.{key}: {exc}") from None
    table = table.levels(*STUDIED_LEVELS)
    _check_areas(key, table)
    return table


def _check_areas(key: str, table) -> None:
    """Each row names its area: a GSS code and a name at its level (the join keys of every measure)."""
    data = table.data
    level = data["geographic_level"]
    needs = {"National": ("country_code", "country_name"), "Regional": ("region_code", "region_name"),
             LA_LEVEL: ("new_la_code", "la_name")}
    for name, (code, label) in needs.items():
        rows = data[level == name]
        if rows.empty:
            continue
        for column in (code, label):
            if column not in rows.columns:
                raise NationalDataError(f"national.{key}: {table.path}: rows at level '{name}' need the column "
                                        f"'{column}', which the file lacks")
        values = rows[code].fillna("")
        bad = ~values.str.fullmatch(AREA_CODE)
        names = rows[label].fillna("")
        blank = ~names.str.contains(r"[A-Za-z]{2}") | names.str.lower().isin(NOT_A_NAME)
        for mask, column, problem in ((bad, code, f"not an area code (e.g. E92000001, E12000001, E06000005): "
                                                  f"every '{name}' row needs its {code}"),
                                      (blank, label, f"not an area name: every '{name}' row needs its {label}")):
            if mask.any():
                line = int(rows.index[mask.to_numpy().argmax()])
                value = rows.at[line, column]
                raise NationalDataError(f"national.{key}: {table.path}, line {line}, column '{column}', value "
                                        f"'{'' if pd.isna(value) else value}': {problem}")


def read_measures(files: dict[str, Path]) -> pd.DataFrame:
    """The tidy measures table from the b1, c3, d5 and ONS population files.

    Every file is first checked to be the one its key needs (:func:`check_file`) and its indicators
    are read strictly, so a stray cell stops the build naming file, line, column and value instead of
    turning a factor or a duration band into text that the chapter would silently leave out.
    """
    def read(key: str, indicator: str):
        table = read_national(key, files[key])
        return table, _areas(table.data), _require(table, indicator, files[key])

    cin, cin_areas, need = read("children_in_need", "At31_episodes")
    pop, pop_areas, pop_col = read("population", "population_estimate")
    fac, fac_areas, total = read("factors", "Episodes_with_assessment_factor")
    cpp, cpp_areas, cpp_total = read("cpp_duration", "CPP_At31")
    frames = [_long(cin_areas, "cin_at31", cin.value(need), cin.status(need)),
              _long(pop_areas, "population", pop.value(pop_col), pop.status(pop_col))]
    frames.append(_rates(frames[0], frames[1]))
    frames.append(_long(fac_areas, "factor_episodes", fac.value(total), fac.status(total)))
    frames += _share_measures(fac, fac_areas, total, FACTOR_COLUMNS, "factor")
    frames.append(_long(cpp_areas, "cpp_at31", cpp.value(cpp_total), cpp.status(cpp_total)))
    frames += _share_measures(cpp, cpp_areas, cpp_total, CPP_BANDS, "cpp_duration")

    out = pd.concat(frames, ignore_index=True)[MEASURE_COLUMNS]
    return out.sort_values(["measure", "time_period", "geographic_level", "area_code"], kind="stable",
                           ignore_index=True)


def read_plan_measures(path: Path, cin_at31: pd.DataFrame) -> pd.DataFrame:
    """Measures of the use of Child in Need plans from the b7 file: plans at 31 March, DfE's rates
    per 10,000 (kept as published, symbols too) and plans as a share of children in need at 31 March
    (``cin_at31``: the b1 measure rows); a share takes the first symbol of its two parts."""
    table = read_national("cin_plans", path)
    areas = _areas(table.data)
    frames = [_long(areas, measure, table.value(_require(table, column, path)), table.status(column))
              for column, measure in PLAN_COLUMNS.items()]
    share = ratio_measure(frames[0], cin_at31, "cin_plan_share")
    return pd.concat([*frames, share], ignore_index=True)


def ratio_measure(num: pd.DataFrame, den: pd.DataFrame, measure: str) -> pd.DataFrame:
    """``num / den`` for each area and year of ``num`` (tidy measure rows). The status is the first
    non-value status of the two (a symbol stays a symbol, never a zero); a zero denominator gives
    ``z`` (not applicable); a denominator the other file lacks gives ``missing``."""
    d = den[["time_period", "area_code", "value", "status"]]
    merged = num.merge(d, on=["time_period", "area_code"], how="left", suffixes=("", "_den"))
    status = merged["status"].where(merged["status"] != "value", merged["status_den"].fillna("missing"))
    ratio = (merged["value"] / merged["value_den"].where(merged["value_den"] > 0)).where(status == "value")
    status = status.where(~((status == "value") & ratio.isna()), "z")
    out = merged[MEASURE_COLUMNS].copy()
    out["measure"], out["value"], out["status"] = measure, ratio.to_numpy(), status.to_numpy()
    return out


def read_share_file(key: str, path: Path, total: str, parts: dict[str, str], prefix: str) -> pd.DataFrame:
    """Each ``parts`` column of the DfE file of ``key`` as a share of its ``total`` column, as
    ``<prefix>:<name>`` measures (the b3 primary-need and b4 open-episode duration files), symbols kept."""
    table = read_national(key, path)
    _require(table, total, path)
    frames = _share_measures(table, _areas(table.data), total, parts, prefix)
    if not frames:
        raise NationalDataError(f"{path}: none of the expected indicator columns is there "
                                f"(expected: {', '.join(parts)})")
    return pd.concat(frames, ignore_index=True)


def read_optional_measures(files: dict[str, Path], measures: pd.DataFrame) -> pd.DataFrame:
    """Measures from the optional files that are present (see :data:`OPTIONAL_KEYS`)."""
    frames = []
    if files.get("cin_plans", Path()).is_file():
        plans = read_plan_measures(files["cin_plans"], measures[measures["measure"] == "cin_at31"])
        at31 = plans[plans["measure"] == "cin_plan_at31"]
        frames += [plans, ratio_measure(at31, measures[measures["measure"] == "cpp_at31"], "cin_plan_per_cpp")]
    if files.get("primary_need", Path()).is_file():
        frames.append(read_share_file("primary_need", files["primary_need"], "At31_episodes", NEED_COLUMNS, "need"))
    if files.get("episode_duration", Path()).is_file():
        frames.append(read_share_file("episode_duration", files["episode_duration"], "At31_episodes", CPP_BANDS, "cin_duration"))
    return pd.concat(frames, ignore_index=True)[MEASURE_COLUMNS] if frames else pd.DataFrame(columns=MEASURE_COLUMNS)


def _require(table, column: str, path: Path) -> str:
    if column not in table.indicators:
        raise NationalDataError(f"{path}: expected the indicator column '{column}', which is not there "
                                f"(indicators: {', '.join(table.indicators[:8])}...)")
    return column


def _rates(cin: pd.DataFrame, pop: pd.DataFrame) -> pd.DataFrame:
    """Children in need at 31 March of year t per 10,000 children (ONS mid-year t-1 estimate)."""
    p = pop[["time_period", "area_code", "value", "status"]].copy()
    p["time_period"] = (p["time_period"].astype(int) + 1).astype(str)
    merged = cin.merge(p, on=["time_period", "area_code"], how="left", suffixes=("", "_pop"))
    rate = 10_000 * merged["value"] / merged["value_pop"].where(merged["value_pop"] > 0)
    status = merged["status"].where(merged["status"] != "value",
                                    merged["status_pop"].fillna("missing"))
    status = status.where(~((status == "value") & rate.isna()), "missing")
    out = merged[cin.columns].copy()
    out["measure"] = "cin_rate"
    out["value"] = rate.where(status == "value").round(1)
    out["status"] = status
    return out


def read_neighbours(path: Path, measures: pd.DataFrame) -> pd.DataFrame:
    """Statistical-neighbour pairs as current LA codes (old 3-digit numbers mapped through the latest
    year in which each appears); neighbours that no longer exist (boundary changes) are left out."""
    from cinreport.national.dfe import read_statistical_neighbours

    sn = read_statistical_neighbours(path)
    la = measures[(measures["geographic_level"] == LA_LEVEL) & (measures["old_la_code"] != "")]
    la = la.sort_values("time_period").drop_duplicates("old_la_code", keep="last")
    latest = la["time_period"].max() if len(la) else None
    current = la[la["time_period"] == latest].set_index("old_la_code")["area_code"].to_dict()
    rows = []
    for _, r in sn.iterrows():
        code = current.get(str(r["old_la_code"]))
        if not code:
            continue
        for rank, (old, close) in enumerate(zip(r["neighbours"], r["closeness"]), start=1):
            if current.get(str(old)):
                rows.append({"area_code": code, "rank": rank, "neighbour_code": current[str(old)],
                             "closeness": close})
    return pd.DataFrame(rows, columns=["area_code", "rank", "neighbour_code", "closeness"])


def build(national: dict[str, Any], out_dir: Path | str, root: Path | str = ".") -> dict[str, Any]:
    """Write ``measures.csv``, ``neighbours.csv`` and ``status.json`` to ``out_dir``; return the status.

    When the folder or a file is missing, the outputs say so (``available: false`` with the reason)
    and the report states plainly that national context was not included; the build goes on.
    A file that is present but malformed is an error (:class:`~cinreport.national.dfe.DfEFormatError`).
    """
    out = Path(out_dir)
    files = national_files(national, root)
    folder = national_dir(national, root)
    missing = missing_files(files)
    status: dict[str, Any] = {"available": not missing, "folder": str(folder)}
    if missing:
        status["reason"] = ("the national data folder " + str(folder) + " was not found"
                            if not folder.is_dir() else
                            "these national data files were not found: " + ", ".join(p.name for p in missing))
        measures = pd.DataFrame(columns=MEASURE_COLUMNS)
        neighbours = pd.DataFrame(columns=["area_code", "rank", "neighbour_code", "closeness"])
    else:
        measures = read_measures(files)
        extra = read_optional_measures(files, measures)
        if len(extra):
            measures = pd.concat([measures, extra], ignore_index=True).sort_values(
                ["measure", "time_period", "geographic_level", "area_code"], kind="stable", ignore_index=True)
        neighbours = (read_neighbours(files["neighbours"], measures) if files.get("neighbours", Path()).is_file()
                      else pd.DataFrame(columns=["area_code", "rank", "neighbour_code", "closeness"]))
        status["files"] = [{"key": k, "name": p.name, "sha256": _sha256(p)} for k, p in files.items() if p.is_file()]
        status["latest"] = {m: str(g["time_period"].max())
                            for m, g in measures[measures["status"] == "value"].groupby("measure")
                            if not m.startswith(("factor:", "cpp_duration:", "need:", "cin_duration:"))}
    status["not_included"] = optional_not_included(files)
    write_csv(out / "measures.csv", measures)
    write_csv(out / "neighbours.csv", neighbours)
    write_json(out / "status.json", status)
    return status


# -- using the measures ----------------------------------------------------------------------------
@dataclass
class NationalData:
    """The outputs of :func:`build`, with the look-ups chapters need."""

    status: dict[str, Any]
    measures: pd.DataFrame
    neighbours: pd.DataFrame

    @classmethod
    def load(cls, folder: Path | str) -> "NationalData":
        folder = Path(folder)
        status = json.loads((folder / "status.json").read_text(encoding="utf-8"))
        measures = pd.read_csv(folder / "measures.csv", dtype={"time_period": str, "area_code": str,
                                                               "old_la_code": str, "region_code": str},
                               keep_default_na=False, na_values={"value": [""]})
        neighbours = pd.read_csv(folder / "neighbours.csv", dtype=str, keep_default_na=False)
        return cls(status, measures, neighbours)

    @property
    def available(self) -> bool:
        return bool(self.status.get("available"))

    def has(self, key: str) -> bool:
        """Whether the optional file ``key`` (see :data:`OPTIONAL_KEYS`) was read."""
        return self.available and key not in self.status.get("not_included", {key: ""})

    def not_included(self) -> dict[str, str]:
        """Optional files not read, each with why (readers' words)."""
        return dict(self.status.get("not_included", {}))

    @property
    def reason(self) -> str:
        return str(self.status.get("reason", ""))

    def latest(self, measure: str) -> str:
        rows = self.of(measure)
        return str(rows.loc[rows["status"] == "value", "time_period"].max())

    def of(self, measure: str) -> pd.DataFrame:
        """The rows of one measure (split once: chapters look measures up thousands of times)."""
        if getattr(self, "_by_measure", None) is None:
            self._by_measure = {k: g for k, g in self.measures.groupby("measure", sort=False)}
        return self._by_measure.get(measure, self.measures.iloc[0:0])

    def select(self, measure: str, period: str | None = None, level: str | None = None) -> pd.DataFrame:
        m = self.of(measure)
        rows = pd.Series(True, index=m.index)
        if period is not None:
            rows &= m["time_period"] == period
        if level is not None:
            rows &= m["geographic_level"] == level
        return m[rows]

    def la_values(self, measure: str, period: str) -> pd.Series:
        """Published values for every LA (symbols and blanks dropped), indexed by LA code."""
        rows = self.select(measure, period, LA_LEVEL)
        rows = rows[rows["status"] == "value"]
        return rows.set_index("area_code")["value"].astype(float)

    def area_value(self, measure: str, period: str, code: str) -> tuple[float | None, str]:
        rows = self.select(measure, period)
        rows = rows[rows["area_code"] == code]
        if rows.empty:
            return None, "missing"
        r = rows.iloc[0]
        return (float(r["value"]) if r["status"] == "value" else None), str(r["status"])

    def england_code(self) -> str:
        rows = self.measures[self.measures["geographic_level"] == "National"]
        return str(rows["area_code"].iloc[0]) if len(rows) else "E92000001"

    @functools.cached_property
    def _regions(self) -> dict[str, str]:
        level = self.measures[self.measures["geographic_level"] == "Regional"]
        rows = level[level["area_code"].str.startswith("E12")]
        return dict(sorted(zip(rows["area_name"], rows["area_code"])))

    @functools.cached_property
    def _las(self) -> dict[str, dict[str, str]]:
        rows = self.measures[self.measures["geographic_level"] == LA_LEVEL].sort_values("time_period", kind="stable")
        last = rows.drop_duplicates("area_code", keep="last")
        return {str(r.area_code): {"code": str(r.area_code), "name": str(r.area_name),
                                   "region_code": str(r.region_code), "region_name": str(r.region_name)}
                for r in last.itertuples(index=False)}

    def regions(self) -> dict[str, str]:
        """Region name -> code, the nine English regions (London whole); looked up once (every
        placing of an authority asks, and the measures hold every authority's rows)."""
        return dict(self._regions)

    def la(self, code: str) -> dict[str, str] | None:
        """An authority's latest row (looked up once for all authorities)."""
        found = self._las.get(code)
        return dict(found) if found else None

    def neighbours_of(self, code: str) -> list[str]:
        rows = self.neighbours[self.neighbours["area_code"] == code]
        return rows.sort_values("rank", key=lambda s: s.astype(int))["neighbour_code"].tolist()

    def factor_codes(self, period: str, top: int) -> list[str]:
        """The ``top`` factors with the largest share of episodes in England in ``period``."""
        eng = self.measures[(self.measures["geographic_level"] == "National") & (self.measures["time_period"] == period)
                            & self.measures["measure"].str.startswith("factor:") & (self.measures["status"] == "value")]
        eng = eng.sort_values(["value", "measure"], ascending=[False, True])
        return [m.split(":", 1)[1] for m in eng["measure"].head(top)]
