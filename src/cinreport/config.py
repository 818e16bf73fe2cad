"""Load and check the params files: ``params/report.yml`` and ``params/authorities/<code>.yml``.

YAML is loaded with ``yaml.safe_load`` only (no arbitrary objects). Every problem found is
reported together, each naming the file, key and value, so a user can fix the file from the
message alone.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

AUTHORITY_CODE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")

REPORT_DEFAULTS: dict[str, Any] = {
    "title": "Understanding service provision for children in need",
    "subtitle": "",
    "synthetic_data": False,
    "seed": 20220523,
    "disclosure": {"threshold": 5, "symbol": "c"},
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
PDF_PROFILES_AUTO_MAX = 12  # "auto": every profile up to this many authorities, none above
AUTHORITY_KEYS = {"name", "data_dir", "period_start", "period_end", "new_la_code", "region", "workbook"}
AUTHORITY_REQUIRED = ("name", "data_dir")


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
    workbook: str | None = None    # one .xlsx in data_dir with a sheet per file (see cinreport.sources)


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

    def pdf_profile_codes(self, codes: list[str]) -> list[str]:
        """The authorities (of ``codes``) whose full profile goes into the PDF."""
        choice = self.pdf_profiles
        if choice == "all" or (choice == "auto" and len(codes) <= PDF_PROFILES_AUTO_MAX):
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
                    f"(e.g. [la-a, la-b]), found {value!r}")
    return PDF_PROFILES_DEFAULT


class _Loader(yaml.SafeLoader):
    """``yaml.safe_load`` with two fixes for hand-edited files.

    A key given twice is an error (plain YAML keeps the last silently), and an impossible date such
    as 2020-02-30 stays text, so it is reported against its key instead of crashing the loader.
    """

    def construct_mapping(self, node, deep=False):
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


class _FastLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
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
            problems.append(f"{path}: unknown key '{key}' (known keys: {', '.join(sorted(known))})")
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
    problems.append(f"{path}: key '{key}' must be a date YYYY-MM-DD, found {value!r}")
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
                problems.append(f"{path}: key '{key}' must be a mapping, found {value!r}")
                value = {}
            for sub in value:
                if sub not in default:
                    problems.append(f"{path}: unknown key '{key}.{sub}' (known keys: {', '.join(sorted(default))})")
            for sub, sub_default in default.items():
                sub_value = value.get(sub, sub_default)
                if isinstance(sub_default, (int, float)) and not isinstance(sub_default, bool):
                    if isinstance(sub_value, bool) or not isinstance(sub_value, (int, float)):
                        problems.append(f"{path}: key '{key}.{sub}' must be a number, found {sub_value!r}")
                elif isinstance(sub_default, str) and not isinstance(sub_value, str):
                    problems.append(f"{path}: key '{key}.{sub}' must be text, found {sub_value!r}")
            value = {**default, **value}
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                problems.append(f"{path}: key '{key}' must be true or false, found {value!r}")
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int):
                problems.append(f"{path}: key '{key}' must be a whole number, found {value!r}")
        elif isinstance(default, str) and not isinstance(value, str):
            problems.append(f"{path}: key '{key}' must be text, found {value!r}")
        merged[key] = value
    start = _date(path, "period_start", data.get("period_start"), problems) if "period_start" in data else None
    end = _date(path, "period_end", data.get("period_end"), problems) if "period_end" in data else None
    if start and end and end < start:
        problems.append(f"{path}: period_end {end} is before period_start {start}")
    threshold = merged["disclosure"].get("threshold")
    if isinstance(threshold, (int, float)) and threshold < 1:
        problems.append(f"{path}: key 'disclosure.threshold' must be at least 1, found {threshold!r}")
    if problems:
        raise ParamsError(problems)
    return ReportParams(
        title=merged["title"],
        subtitle=merged["subtitle"],
        period_start=start,
        period_end=end,
        synthetic_data=merged["synthetic_data"],
        seed=merged["seed"],
        disclosure_threshold=int(merged["disclosure"]["threshold"]),
        disclosure_symbol=str(merged["disclosure"]["symbol"]),
        findings={k: float(v) for k, v in merged["findings"].items()},
        params_file=path,
        pdf_profiles=pdf_profiles,
        national=dict(merged["national"]),
    )


def authority_files(params_dir: Path | str = "params") -> list[Path]:
    """The authority params files, sorted by code: the parameter grid is the folder's content."""
    return sorted((Path(params_dir) / "authorities").glob("*.yml"))


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
            problems.append(f"{path}: key '{key}' must be text, found {data[key]!r}")
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
    if problems:
        raise ParamsError(problems)
    return Authority(code=code, name=data["name"], data_dir=data_dir, period_start=start,
                     period_end=end, params_file=path, new_la_code=data.get("new_la_code"),
                     region=data.get("region"), workbook=data.get("workbook"))


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
        if isinstance(name, str) and name:
            if name in names:
                problems.append(f"{path}: name '{name}' is also used by authority '{names[name]}'")
            names.setdefault(name, path.stem)
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
