"""Load and check the params files: ``params/report.yml`` and ``params/authorities/<code>.yml``.

YAML is loaded with ``yaml.safe_load`` only (no arbitrary objects). Every problem found is
reported together, each naming the file, key and value, so a user can fix the file from the
message alone.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cinreport.common.layout import MANY_AUTHORITIES

AUTHORITY_CODE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")

REPORT_DEFAULTS: dict[str, Any] = {
    "title": "Understanding service provision for children in need",
    "subtitle": "",
    "synthetic_data": False,
    "seed": 20220523,
    "disclosure": {"threshold": 5, "symbol": "c", "allow_low_threshold": False},
    "findings": {
        "cramers_v_considerable": 0.25,
        "epsilon_squared_considerable": 0.08,
        "alpha": 0.05,
        "min_cases_per_authority": 10,
        "advice_share_large": 0.30,
        "mental_health_wait_days": 42,
        "mental_health_gap_share": 0.25,
        "completeness_gap": 0.90,
        "involvement_gap_points": 20,
    },
    # Department for Education open data for the national-context chapter (see README).
    "national": {
        "dir": "../shared/data/dfe",
        "children_in_need": "b1_children_in_need_2013_to_2025.csv",
        "factors": "c3_factors_identified_at_end_of_assessment_2018_to_2025.csv",
        "cpp_duration": "d5_cpps_at31march_by_duration_2013_to_2025.csv",
        "population": "ons_mid-year_population_estimates_2012_to_2024.csv",
        "neighbours": "New_Statistical_Neighbour_Groupings_April_2021.csv",
        # Optional: the use of Child in Need plans (b7), primary need (b3) and how long open
        # episodes had lasted (b4); a blank name leaves the file out and the chapter says so.
        "cin_plans": "b7_child_in_need_plans_2022_to_2024.csv",
        "primary_need": "b3_cin_primary_need_2013_to_2024.csv",
        "episode_duration": "b4_children_in_need_duration_of_open_episode_2013_to_2024.csv",
        "top_factors": 12,
        # Where `make national-data` downloads the four DfE files from (Explore Education Statistics).
        "url_children_in_need": "",
        "url_factors": "",
        "url_cpp_duration": "",
        "url_population": "",
    },
}
REPORT_REQUIRED = ("period_start", "period_end")
# Which authority profiles the PDF carries in full (the HTML book always has every one).
PDF_PROFILES_DEFAULT = "auto"
PDF_PROFILES_WORDS = ("auto", "all", "none")
AUTHORITY_KEYS = {"name", "data_dir", "period_start", "period_end", "new_la_code", "region", "workbook"}
AUTHORITY_REQUIRED = ("name", "data_dir")

# Disclosure control that params may not weaken without saying so (README: Refused params).
MIN_THRESHOLD = 3          # below this only with disclosure.allow_low_threshold: true, and every output says so
SYMBOL_MAX_LENGTH = 5      # c, x, [c], [low], .., *
SYMBOL_CHARS = re.compile(r"[A-Za-z\[\]*.:~]+")
SYMBOLS_IN_USE = ("z", "x")  # the report's own: z not applicable, x not available (DfE's national figures)
# The nine English regions, as the DfE files name them (region_name; London whole).
ENGLISH_REGIONS = ("North East", "North West", "Yorkshire and The Humber", "East Midlands", "West Midlands",
                   "East of England", "London", "South East", "South West")
LA_CODE_SHAPE = re.compile(r"E\d{8}")
STUDY_TOTAL_LABEL = "All study authorities"  # la_name of rows over all study authorities (study.ALL_AUTHORITIES)
SHOWN_CHARS = 80           # a value longer than this is cut in messages


def show(value: Any) -> str:
    """A value for an error message: its repr, cut to SHOWN_CHARS characters."""
    try:
        text = repr(value)
    except RecursionError:  # pragma: no cover - a pathological structure
        text = f"<{type(value).__name__}>"
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS - 1] + "…" + f" ({len(text):,} characters)"


class ParamsError(ValueError):
    """One or more problems in the params files; ``problems`` lists them all."""

    def __init__(self, problems: list[str]):
        self.problems = sorted(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in params:\n{lines}")


@dataclass(frozen=True)
class Authority:
    """One study authority, as declared by its params file."""

    code: str
    name: str
    data_dir: Path
    period_start: dt.date
    period_end: dt.date
    params_file: Path
    new_la_code: str | None = None
    region: str | None = None
    workbook: str | None = None    # one .xlsx in data_dir with a sheet per file (see cinreport.data.sources)


@dataclass(frozen=True)
class ReportParams:
    """Report-wide settings from ``params/report.yml`` merged over the defaults."""

    title: str
    subtitle: str
    period_start: dt.date
    period_end: dt.date
    synthetic_data: bool
    seed: int
    disclosure_threshold: int
    disclosure_symbol: str
    findings: dict[str, float] = field(default_factory=dict)
    params_file: Path | None = None
    national: dict[str, Any] = field(default_factory=dict)
    pdf_profiles: str | tuple[str, ...] = PDF_PROFILES_DEFAULT
    allow_low_threshold: bool = False

    @property
    def suppression_weakened(self) -> bool:
        """The threshold is below MIN_THRESHOLD (allowed by ``disclosure.allow_low_threshold``): every
        output says that suppression was weakened."""
        return self.disclosure_threshold < MIN_THRESHOLD

    def pdf_profile_codes(self, codes: list[str]) -> list[str]:
        """The authorities (of ``codes``) whose full profile goes into the PDF."""
        choice = self.pdf_profiles
        if choice == "all" or (choice == "auto" and len(codes) <= MANY_AUTHORITIES):
            return list(codes)
        if isinstance(choice, tuple):
            return [c for c in codes if c in choice]
        return []


def _pdf_profiles(path: Path, value: Any, problems: list[str]) -> str | tuple[str, ...]:
    """``pdf_profiles``: auto, all, none, or a list of authority codes."""
    if isinstance(value, str) and value in PDF_PROFILES_WORDS:
        return value
    if isinstance(value, list) and all(isinstance(v, str) and AUTHORITY_CODE.fullmatch(v) for v in value):
        return tuple(value)
    problems.append(f"{path}: key 'pdf_profiles' must be auto, all, none or a list of authority codes "
                    f"(e.g. [la-a, la-b]), found {show(value)}")
    return PDF_PROFILES_DEFAULT


class _Loader(yaml.SafeLoader):
    """``yaml.safe_load`` with two fixes for hand-edited files.

    A key given twice is an error (plain YAML keeps the last silently), and an impossible date such
    as 2020-02-30 stays text, so it is reported against its key instead of crashing the loader.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key '{key_node.value}' is given twice (first on line {seen[key_node.value]})",
                        key_node.start_mark)
                seen[key_node.value] = key_node.start_mark.line + 1
        return yaml.constructor.SafeConstructor.construct_mapping(self, node, deep=deep)


def _timestamp(loader: _Loader, node: yaml.Node) -> Any:
    try:
        return yaml.constructor.SafeConstructor.construct_yaml_timestamp(loader, node)
    except ValueError:
        return loader.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


_LIBYAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _FastLoader(_LIBYAML_LOADER):
    """The same rules on libyaml's parser (~10x faster: 153 authorities' params are read often).
    A file it refuses is read again by :class:`_Loader`, whose error messages are the ones users see."""

    construct_mapping = _Loader.construct_mapping


_FastLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


def _load_yaml(path: Path, problems: list[str]) -> dict[str, Any] | None:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        problems.append(f"{path}: cannot be read ({exc.strerror})")
        return None
    alias = _first_alias(text)
    if alias is not None:
        problems.append(f"{path}: YAML anchors and aliases ({show(alias[0])} at line {alias[1]}) are not allowed in "
                        "params files: write each value out")
        return None
    try:
        try:
            data = yaml.load(text, Loader=_FastLoader)  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError:
            data = yaml.load(text, Loader=_Loader)  # noqa: S506 - the same, for its messages
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        context, start = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and start and mark and start.line != mark.line:
            # e.g. an unclosed quote: say where the unfinished thing began, not only where it broke
            problem = f"{problem} ({context} that starts at line {start.line + 1}, column {start.column + 1})"
        problems.append(f"{path}: not valid YAML{where}: {problem}")
        return None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.append(f"{path}: must be a mapping of keys to values, found {type(data).__name__}")
        return None
    return data


def _first_alias(text: str) -> tuple[str, int] | None:
    """The first anchor (``&a``) or alias (``*a``) in ``text`` and its line, or None. Params never need
    them, and an alias bomb (a billion laughs) would expand into gigabytes; scanning tokens does not
    expand anything. A file that does not scan is left to the loader, which reports it."""
    try:
        for token in yaml.scan(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
            if isinstance(token, (yaml.AliasToken, yaml.AnchorToken)):
                mark = "*" if isinstance(token, yaml.AliasToken) else "&"
                return f"{mark}{token.value}", token.start_mark.line + 1
    except yaml.YAMLError:
        return None
    return None


def _check_keys(path: Path, data: dict[str, Any], known: set[str], required: list[str],
                problems: list[str]) -> None:
    """Unknown and missing keys; a misspelled key is one problem that names the right key."""
    absent = [k for k in required if k not in data or data[k] in (None, "")]
    for key in data:
        if key in known:
            continue
        unused = sorted(k for k in known if k not in data)
        match = difflib.get_close_matches(str(key), unused, n=1, cutoff=0.6)
        if match and match[0] in absent:
            problems.append(f"{path}: unknown key '{key}': rename it to '{match[0]}' "
                            f"(required key '{match[0]}' is missing)")
            absent.remove(match[0])
        elif match:
            problems.append(f"{path}: unknown key '{key}' (did you mean '{match[0]}'? "
                            f"known keys: {', '.join(sorted(known))})")
        else:
            problems.append(f"{path}: unknown key {show(key)} (known keys: {', '.join(sorted(known))})")
    for key in absent:
        problems.append(f"{path}: required key '{key}' is missing")


def _date(path: Path, key: str, value: Any, problems: list[str]) -> dt.date | None:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    problems.append(f"{path}: key '{key}' must be a date YYYY-MM-DD, found {show(value)}")
    return None


def load_report(params_dir: Path | str = "params") -> ReportParams:
    """Read ``report.yml``; raise :class:`ParamsError` listing every problem."""
    path = Path(params_dir) / "report.yml"
    problems: list[str] = []
    data = _load_yaml(path, problems)
    if data is None:
        raise ParamsError(problems)
    _check_keys(path, data, set(REPORT_DEFAULTS) | set(REPORT_REQUIRED) | {"pdf_profiles"},
                list(REPORT_REQUIRED), problems)
    pdf_profiles = _pdf_profiles(path, data.get("pdf_profiles", PDF_PROFILES_DEFAULT), problems)
    merged: dict[str, Any] = {}
    for key, default in REPORT_DEFAULTS.items():
        value = data.get(key, default)
        if isinstance(default, dict):
            if not isinstance(value, dict):
                problems.append(f"{path}: key '{key}' must be a mapping, found {show(value)}")
                value = {}
            for sub in value:
                if sub not in default:
                    problems.append(f"{path}: unknown key '{key}.{sub}' (known keys: {', '.join(sorted(default))})")
            for sub, sub_default in default.items():
                sub_value = value.get(sub, sub_default)
                if (key, sub) == ("disclosure", "threshold") and isinstance(sub_value, str):
                    pass  # reported by _threshold, which says why text is refused
                elif isinstance(sub_default, (int, float)) and not isinstance(sub_default, bool):
                    if isinstance(sub_value, bool) or not isinstance(sub_value, (int, float)):
                        problems.append(f"{path}: key '{key}.{sub}' must be a number, found {show(sub_value)}")
                elif isinstance(sub_default, str) and not isinstance(sub_value, str):
                    problems.append(f"{path}: key '{key}.{sub}' must be text, found {show(sub_value)}")
            value = {**default, **value}
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                problems.append(f"{path}: key '{key}' must be true or false, found {show(value)}")
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int):
                problems.append(f"{path}: key '{key}' must be a whole number, found {show(value)}")
        elif isinstance(default, str) and not isinstance(value, str):
            problems.append(f"{path}: key '{key}' must be text, found {show(value)}")
        merged[key] = value
    start = _date(path, "period_start", data.get("period_start"), problems) if "period_start" in data else None
    end = _date(path, "period_end", data.get("period_end"), problems) if "period_end" in data else None
    if start and end and end < start:
        problems.append(f"{path}: period_end {end} is before period_start {start}")
    threshold = _threshold(path, merged["disclosure"], problems)
    symbol = merged["disclosure"].get("symbol")
    if isinstance(symbol, str):
        why = symbol_problem(symbol)
        if why:
            problems.append(f"{path}: key 'disclosure.symbol' {why}, found {show(symbol)}")
    if problems:
        raise ParamsError(problems)
    assert start is not None and end is not None  # required keys: missing or impossible dates are problems above
    return ReportParams(
        title=merged["title"],
        subtitle=merged["subtitle"],
        period_start=start,
        period_end=end,
        synthetic_data=merged["synthetic_data"],
        seed=merged["seed"],
        disclosure_threshold=threshold,
        disclosure_symbol=str(merged["disclosure"]["symbol"]),
        allow_low_threshold=merged["disclosure"]["allow_low_threshold"],
        findings={k: float(v) for k, v in merged["findings"].items()},
        params_file=path,
        pdf_profiles=pdf_profiles,
        national=dict(merged["national"]),
    )


def _threshold(path: Path, disclosure: dict[str, Any], problems: list[str]) -> int:
    """``disclosure.threshold``: a whole number, at least MIN_THRESHOLD unless
    ``disclosure.allow_low_threshold: true`` (then at least 1). ``5.0`` is 5; ``4.9`` and ``"5"`` are errors
    (a number is never truncated, and text is not read as a number)."""
    value, allow = disclosure.get("threshold"), disclosure.get("allow_low_threshold")
    key = f"{path}: key 'disclosure.threshold'"
    if not isinstance(allow, bool):
        problems.append(f"{path}: key 'disclosure.allow_low_threshold' must be true or false, found {show(allow)}")
        allow = False
    if isinstance(value, str):
        problems.append(f"{key} must be a whole number, not text (write it without quotes), found {show(value)}")
        return 5
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 5  # already reported as not a number
    if isinstance(value, float) and not value.is_integer():
        problems.append(f"{key} must be a whole number (it is never rounded or truncated), found {show(value)}")
        return 5
    value = int(value)
    if value < 1:
        problems.append(f"{key} must be at least 1, found {show(value)}")
    elif value < MIN_THRESHOLD and not allow:
        problems.append(f"{key} below {MIN_THRESHOLD} weakens disclosure control (counts of {value} and over would be "
                        f"published), found {show(value)}: use {MIN_THRESHOLD} or more, or set "
                        "'disclosure.allow_low_threshold: true' and every output will say that suppression was weakened")
    return value


def symbol_problem(symbol: str) -> str | None:
    """Why ``symbol`` cannot mark suppressed cells (it must not look like a number), or None.

    Allowed: 1 to SYMBOL_MAX_LENGTH letters or ``[ ] * . : ~`` (``c``, ``[c]``, ``[low]``, ``*``, ``..``);
    not dots alone except ``..``; not a word Python reads as a number (``nan``, ``inf``); not ``z`` or
    ``x``, which the report uses for not applicable and not available."""
    if not symbol.strip():
        return "must not be blank"
    if len(symbol) > SYMBOL_MAX_LENGTH:
        return f"must be at most {SYMBOL_MAX_LENGTH} characters"
    if any(ch.isdigit() for ch in symbol):
        return "must not contain digits (a suppressed cell would read as a number)"
    try:
        float(symbol)
        return "must not read as a number"
    except ValueError:
        pass
    if not SYMBOL_CHARS.fullmatch(symbol):
        return "may hold only letters and [ ] * . : ~ (e.g. c, [c], [low], *, ..)"
    if set(symbol) <= {"."} and symbol != "..":
        return "must not be a dot or dots alone (it would read as a decimal point), except '..'"
    if symbol.casefold() in SYMBOLS_IN_USE:
        return "must not be z or x, which the report uses for 'not applicable' and 'not available'"
    return None


def authority_files(params_dir: Path | str = "params") -> list[Path]:
    """The authority params files, sorted by code: the parameter grid is the folder's content."""
    return sorted(p for p in (Path(params_dir) / "authorities").glob("*.yml") if not p.name.startswith("."))


def load_authority(path: Path | str, report: ReportParams | None = None,
                   root: Path | str = ".", check_data: bool = True) -> Authority:
    """Read one authority's params file; dates default to the report's period."""
    return _load_authority(Path(path), report, root, check_data)


def _load_authority(path: Path, report: ReportParams | None, root: Path | str, check_data: bool,
                    report_failed: bool = False) -> Authority:
    """As :func:`load_authority`; ``report_failed``: report.yml had problems (already reported), so
    a period missing here is not reported again."""
    problems: list[str] = []
    code = path.stem
    if not AUTHORITY_CODE.fullmatch(code):
        problems.append(f"{path}: file name '{code}' is not a valid authority code "
                        "(lower-case letters, digits and single hyphens, e.g. la-a)")
    data = _load_yaml(path, problems)
    if data is None:
        raise ParamsError(problems)
    _check_keys(path, data, AUTHORITY_KEYS, list(AUTHORITY_REQUIRED), problems)
    for key in ("name", "data_dir", "new_la_code", "region", "workbook"):
        if key in data and data[key] is not None and not isinstance(data[key], str):
            problems.append(f"{path}: key '{key}' must be text, found {show(data[key])}")
    _check_text(path, data, report, root, problems)
    start = _date(path, "period_start", data["period_start"], problems) if "period_start" in data else (
        report.period_start if report else None)
    end = _date(path, "period_end", data["period_end"], problems) if "period_end" in data else (
        report.period_end if report else None)
    unset = [k for k, v in (("period_start", start), ("period_end", end)) if v is None and k not in data]
    if unset and not report_failed:
        problems.append(f"{path}: {' and '.join(unset)} must be given here or in report.yml")
    elif start is not None and end is not None and end < start:
        problems.append(f"{path}: period_end {end} is before period_start {start}")
    data_dir = Path(root) / str(data.get("data_dir") or "")
    if check_data and isinstance(data.get("data_dir"), str) and data["data_dir"]:
        if not data_dir.exists():
            problems.append(f"{path}: data_dir '{data['data_dir']}' does not exist (looked for {data_dir})")
        elif not data_dir.is_dir():
            problems.append(f"{path}: data_dir '{data['data_dir']}' is a file, not a folder")
    if problems or start is None or end is None:  # no period: reported above, or with report.yml's problems
        raise ParamsError(problems)
    region = data.get("region")
    return Authority(code=code, name=data["name"], data_dir=data_dir, period_start=start,
                     period_end=end, params_file=path, new_la_code=data.get("new_la_code"),
                     region=_REGION_KEYS.get(_region_key(region), region) if isinstance(region, str) else region,
                     workbook=data.get("workbook"))


def _region_key(text: str) -> str:
    return " ".join(text.casefold().split())


_REGION_KEYS = {_region_key(r): r for r in ENGLISH_REGIONS}


@functools.lru_cache(maxsize=8)
def _dfe_names(path: str, stamp: tuple[int, int]) -> dict[str, str] | None:
    """new_la_code -> la_name of the local authorities in a DfE file (None if it has no such columns)."""
    import csv

    names: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            if not {"new_la_code", "la_name"} <= set(reader.fieldnames or []):
                return None
            for row in reader:
                code = (row.get("new_la_code") or "").strip()
                if code:
                    names[code] = (row.get("la_name") or "").strip()
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    return names


def dfe_authorities(report: ReportParams | None, root: Path | str = ".") -> tuple[dict[str, str], Path] | None:
    """The local authorities (code -> name) in the DfE children-in-need file the report's ``national``
    settings name, and that file; None when it is not there (then only the code's shape is checked)."""
    if report is None or not report.national.get("children_in_need"):
        return None
    from cinreport.national.files import national_dir

    path = national_dir(report.national, root) / str(report.national["children_in_need"])
    try:
        st = path.stat()
    except OSError:
        return None
    names = _dfe_names(str(path), (st.st_mtime_ns, st.st_size))
    return (names, path) if names else None


def _check_text(path: Path, data: dict[str, Any], report: ReportParams | None, root: Path | str,
                problems: list[str]) -> None:
    """``name`` not blank and not the study-total label; ``region`` one of the nine English regions;
    ``new_la_code`` a code in the DfE files (or, without them, shaped like one)."""
    name = data.get("name")
    if isinstance(name, str) and name != "":  # "" is reported as a missing required key
        if not name.strip():
            problems.append(f"{path}: key 'name' must not be blank, found {show(name)}")
        elif _region_key(name) == _region_key(STUDY_TOTAL_LABEL):
            problems.append(f"{path}: key 'name' must differ from '{STUDY_TOTAL_LABEL}', the label of rows over all "
                            f"study authorities, found {show(name)}")
    region = data.get("region")
    if isinstance(region, str) and _region_key(region) not in _REGION_KEYS:
        close = difflib.get_close_matches(region, ENGLISH_REGIONS, n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        problems.append(f"{path}: key 'region' must be an English region{hint}, found {show(region)}; the regions "
                        f"are: {', '.join(ENGLISH_REGIONS)}")
    code = data.get("new_la_code")
    if not isinstance(code, str) or code == "":
        return
    if not LA_CODE_SHAPE.fullmatch(code):
        problems.append(f"{path}: key 'new_la_code' must be an English local-authority code, E and 8 digits "
                        f"(e.g. E09000001), found {show(code)}{_closest_la(name, report, root)}")
        return
    known = dfe_authorities(report, root)
    if known is not None and code not in known[0]:
        problems.append(f"{path}: key 'new_la_code' {show(code)} is not a local authority in {known[1].name}"
                        f"{_closest_la(name, report, root)}")


def _closest_la(name: Any, report: ReportParams | None, root: Path | str) -> str:
    """' (closest by name in the DfE files: Barnet E09000003)', or '' when there is none."""
    known = dfe_authorities(report, root)
    if known is None or not isinstance(name, str) or not name.strip():
        return ""
    by_name = {n.casefold(): (n, c) for c, n in sorted(known[0].items())}
    match = difflib.get_close_matches(name.casefold(), list(by_name), n=1, cutoff=0.6)
    if not match:
        return ""
    n, c = by_name[match[0]]
    return f" (closest by name in the DfE files: {n} {c})"


def load_authorities(params_dir: Path | str = "params", root: Path | str = ".",
                     check_data: bool = True) -> list[Authority]:
    """Every authority in ``params/authorities/``, sorted by code; all problems reported at once."""
    problems: list[str] = []
    report: ReportParams | None = None
    try:
        report = load_report(params_dir)
    except ParamsError as exc:  # keep going: every problem in params is reported at once
        problems.extend(exc.problems)
    authorities: list[Authority] = []
    folder = Path(params_dir) / "authorities"
    files = authority_files(params_dir)
    misnamed = sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".YAML", ".YML")) if folder.is_dir() else []
    hidden = sorted(p for p in folder.glob(".*.yml")) if folder.is_dir() else []
    for other in hidden:
        problems.append(f"{other}: not read: a hidden file (its name starts with '.'); rename it to "
                        f"{other.name.lstrip('.')} to use it, or remove it")
    for other in misnamed:
        problems.append(f"{other}: not read: authority params files must end in '.yml' "
                        f"(rename it to {other.stem}.yml)")
    if not files and not misnamed:
        problems.append(f"{folder}: no authority params files (*.yml) found")
    for path in files:
        try:
            authorities.append(_load_authority(path, report, root, check_data, report_failed=report is None))
        except ParamsError as exc:
            problems.extend(exc.problems)
    # Names and data folders must be unique. This is checked on every file that parses, even one
    # with other problems, so that no problem waits for another to be fixed first.
    names: dict[str, str] = {}
    dirs: dict[Path, str] = {}
    for path in files:
        data = _load_yaml(path, [])
        if not data:
            continue
        name, data_dir = data.get("name"), data.get("data_dir")
        if isinstance(name, str) and name.strip():
            key = _region_key(name)  # "Authority  A" and "authority a" are the same name to a reader
            if key in names:
                problems.append(f"{path}: name {show(name)} is also used by authority '{names[key]}'")
            names.setdefault(key, path.stem)
        if isinstance(data_dir, str) and data_dir:
            resolved = (Path(root) / data_dir).resolve()
            if resolved in dirs:
                problems.append(f"{path}: data_dir '{data_dir}' is also used by authority '{dirs[resolved]}'")
            dirs.setdefault(resolved, path.stem)
    if report is not None and isinstance(report.pdf_profiles, tuple):
        unknown = sorted(set(report.pdf_profiles) - {p.stem for p in files})
        if unknown:
            problems.append(f"{report.params_file}: key 'pdf_profiles' names authorities with no params file: "
                            f"{', '.join(unknown)}")
    if problems:
        raise ParamsError(problems)
    return authorities
