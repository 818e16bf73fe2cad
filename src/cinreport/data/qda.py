"""``themes.csv`` from a REFI-QDA project export (``.qdpx``), as NVivo, ATLAS.ti and MAXQDA write it.

A ``.qdpx`` file is a zip holding ``project.qde``: XML in the namespace ``urn:QDA-XML:project:1.0``
(the REFI-QDA standard's ``Project.xsd``). What is read from it:

- the codes (``CodeBook/Codes/Code``, nested), each with its guid, name and path of names
  (``Parent/Child``);
- the sources (``TextSource``, ``PDFSource``, ``PictureSource``, ``AudioSource``,
  ``VideoSource`` under ``Sources``), each with its guid and name, and every ``Coding`` inside one
  (on a selection such as ``PlainTextSelection``, on a transcript, or on the whole source), whose
  ``CodeRef`` names a code;
- the cases (``Cases/Case``) and the sources each one refers to (``SourceRef``), so that a case
  (say, a family interviewed twice) can be mapped as one source.

A *coded segment* is one selection (or one whole-source coding) coded with a code. Segments are
counted per source and theme: a selection coded with two project codes that map to the same theme
counts once for that theme.

A mapping file (YAML) says what each project code and source is in the study's terms::

    codes:                          # project code (guid, path "Parent/Child" or name) -> theme
      Working with parents: collaboration_with_parents
      Waits/CAMHS: mental_health_waits
      Interviewer notes: null        # deliberately not a theme: left out, and said so
    sources:                        # project source or case (guid or name) -> id and type
      FG1 transcript: {id: LAA-FG1, type: focus_group}
      Family 3: {id: LAA-P3, type: parent_interview}
      Case review C004: {id: LAA-C004, type: case_discussion}

Themes and source types must be codes of ``data/codebook.yml``. A code used in the project but
absent from the mapping is *unmapped*: every one is listed with its segment count, and the import
stops without writing (``--ignore-unmapped`` writes the mapped segments and still lists the rest).
The same holds for a coded source that the mapping does not name. Only ids, types, theme codes and
counts are written: never segment text, code or source names.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from lxml import etree

from cinreport.data.codebook import Codebook

NS = "{urn:QDA-XML:project:1.0}"
SOURCE_TAGS = {f"{NS}{t}" for t in ("TextSource", "PDFSource", "PictureSource", "AudioSource", "VideoSource")}


class QdaError(ValueError):
    """The project or the mapping cannot give a valid themes.csv; the message says why."""


@dataclass
class Project:
    """What a REFI-QDA project holds that counts: codes, sources, cases and coded segments."""

    codes: dict[str, str] = field(default_factory=dict)          # guid -> path of names
    sources: dict[str, str] = field(default_factory=dict)        # guid -> name
    cases: dict[str, str] = field(default_factory=dict)          # guid -> name
    case_sources: dict[str, list[str]] = field(default_factory=dict)  # case guid -> source guids
    codings: list[tuple[str, str, str]] = field(default_factory=list)  # (source guid, segment guid, code guid)


def _guid(value: str | None) -> str:
    """Guids compare without braces and case: {ABC...} and abc... are the same guid."""
    return (value or "").strip().strip("{}").lower()


def read_project(path: Path) -> Project:
    """Stream ``project.qde`` out of a ``.qdpx`` file (or read a bare ``.qde`` file)."""
    path = Path(path)
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if n.lower().endswith(".qde")]
                if not names:
                    raise QdaError(f"{path}: no project.qde inside: is it a REFI-QDA project export (.qdpx)?")
                with archive.open(names[0]) as fh:
                    return _parse(fh, path)
        with open(path, "rb") as fh:
            return _parse(fh, path)
    except OSError as exc:
        raise QdaError(f"{path}: cannot be read: {exc.strerror or exc}") from None


def _parse(fh, path: Path) -> Project:
    project = Project()
    code_path: list[str] = []
    source: str | None = None
    case: str | None = None
    try:
        for event, elem in etree.iterparse(fh, events=("start", "end"), resolve_entities=False,
                                           no_network=True, huge_tree=True):
            tag = elem.tag
            if event == "start":
                if tag == f"{NS}Code":
                    code_path.append(elem.get("name", ""))
                    project.codes[_guid(elem.get("guid"))] = "/".join(code_path)
                elif tag in SOURCE_TAGS and source is None:
                    source = _guid(elem.get("guid"))
                    project.sources[source] = elem.get("name", "")
                elif tag == f"{NS}Case":
                    case = _guid(elem.get("guid"))
                    project.cases[case] = elem.get("name", "")
                    project.case_sources[case] = []
                continue
            if tag == f"{NS}Code":
                code_path.pop()
            elif tag == f"{NS}CodeRef" and source is not None:
                coding = elem.getparent()
                if coding is not None and coding.tag == f"{NS}Coding":
                    segment = coding.getparent()
                    seg = segment.get("guid") if segment is not None and segment.tag not in SOURCE_TAGS else None
                    project.codings.append((source, _guid(seg or coding.get("guid")), _guid(elem.get("targetGUID"))))
            elif tag == f"{NS}SourceRef" and case is not None:
                project.case_sources[case].append(_guid(elem.get("targetGUID")))
            elif tag in SOURCE_TAGS and source == _guid(elem.get("guid")):
                source = None
                elem.clear()   # a source's text can be long: free it once its codings are counted
            elif tag == f"{NS}Case":
                case = None
            elif tag == f"{NS}PlainTextContent":
                elem.clear()
    except etree.XMLSyntaxError as exc:
        raise QdaError(f"{path}: project.qde is not well-formed XML ({exc})") from None
    return project


def _root_check(project: Project, path: Path) -> None:
    if not project.codes and not project.codings:
        raise QdaError(f"{path}: no codes found in namespace urn:QDA-XML:project:1.0: is it a REFI-QDA "
                       "project export?")


@dataclass
class Mapping:
    """The mapping file, read and checked against the codebook."""

    codes: dict[str, str | None]          # project code key -> theme (None: deliberately left out)
    sources: dict[str, tuple[str, str]]   # project source or case key -> (source id, source type)
    path: Path
    theme_order: list[str] = field(default_factory=list)   # the codebook's order of themes


def load_mapping(path: Path, codebook: Codebook) -> Mapping:
    """Read the mapping YAML; every problem in it is reported at once, naming key and value."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8-sig")) or {}
    except OSError as exc:
        raise QdaError(f"{path}: cannot be read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise QdaError(f"{path}: not valid YAML: {exc}") from None
    problems = []
    if not isinstance(data, dict) or set(data) - {"codes", "sources"}:
        raise QdaError(f"{path}: must be a mapping with the keys 'codes' and 'sources'")
    themes = codebook.codes("theme").labels
    types = codebook.codes("source_type").labels
    spec = codebook.files["themes"].column("source_id")
    limit = spec.max_length or 40
    codes: dict[str, str | None] = {}
    for key, theme in (data.get("codes") or {}).items():
        if theme is not None and str(theme) not in themes:
            problems.append(f"codes: '{key}': '{theme}' is not a theme of the codebook "
                            f"(allowed: {', '.join(themes)}; null leaves the code out)")
        codes[str(key).strip()] = None if theme is None else str(theme)
    sources: dict[str, tuple[str, str]] = {}
    from cinreport.data.validate import ID_PATTERN

    for key, value in (data.get("sources") or {}).items():
        if not isinstance(value, dict) or set(value) != {"id", "type"}:
            problems.append(f"sources: '{key}': give {{id: ..., type: ...}}, found {value!r}")
            continue
        sid, stype = str(value["id"]).strip(), str(value["type"]).strip()
        if not ID_PATTERN.fullmatch(sid) or len(sid) > limit:
            problems.append(f"sources: '{key}': id '{sid}' must be letters, digits, '-' and '_', at most {limit} "
                            "characters (a pseudonymous id, never a name)")
        if stype not in types:
            problems.append(f"sources: '{key}': type '{stype}' is not a source type "
                            f"(allowed: {', '.join(types)})")
        sources[str(key).strip()] = (sid, stype)
    if problems:
        raise QdaError(f"{path}: {len(problems)} problem(s):\n" + "\n".join(f"  {p}" for p in problems))
    return Mapping(codes, sources, Path(path), list(themes))


def _lookup(table: dict[str, Any], guid: str, names: list[str]) -> tuple[bool, Any]:
    """Find a project item in a mapping section: by guid first, then by each name given."""
    by_guid = {_guid(k): v for k, v in table.items()}
    if guid in by_guid:
        return True, by_guid[guid]
    for name in names:
        if name in table:
            return True, table[name]
    return False, None


@dataclass
class Result:
    """The themes table and what was left out, for the summary the command prints."""

    frame: pd.DataFrame
    segments: int
    unmapped_codes: list[tuple[str, str, int]]     # (code path or '?', guid, segments)
    unmapped_sources: list[tuple[str, str, int]]   # (name, guid, segments)
    left_out: list[tuple[str, int]]                # codes mapped to null: (path, segments)


def count_themes(project: Project, mapping: Mapping) -> Result:
    """Coded segments per source id and theme, and what the mapping does not cover."""
    names = Counter(p.rsplit("/", 1)[-1] for p in project.codes.values())
    ambiguous = []
    for key in mapping.codes:
        if "/" not in key and names.get(key, 0) > 1:
            ambiguous.append(key)
    if ambiguous:
        raise QdaError(f"{mapping.path}: codes: {', '.join(repr(a) for a in ambiguous)}: several project codes "
                       "have this name: give its path (Parent/Child) or its guid instead")
    case_of: dict[str, str] = {}
    for case, members in project.case_sources.items():
        for s in members:
            case_of.setdefault(s, case)

    def source_key(guid: str) -> tuple[str, str] | None:
        """(source id, source type) the mapping gives the source (or its case), None if it gives none."""
        found, value = _lookup(mapping.sources, guid, [project.sources.get(guid, "")])
        if not found and guid in case_of:
            case = case_of[guid]
            found, value = _lookup(mapping.sources, case, [project.cases.get(case, "")])
        return value if found else None

    segments: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
    types: dict[str, tuple[str, str]] = {}
    unmapped_codes: Counter = Counter()
    unmapped_sources: Counter = Counter()
    left_out: Counter = Counter()
    for source, segment, code in project.codings:
        code_name = project.codes.get(code, "")
        found, theme = _lookup(mapping.codes, code, [code_name, code_name.rsplit("/", 1)[-1]])
        if not found:
            unmapped_codes[(code_name or "?", code)] += 1
            continue
        if theme is None:
            left_out[code_name or code] += 1
            continue
        target = source_key(source)
        if target is None:
            unmapped_sources[(project.sources.get(source, "?"), source)] += 1
            continue
        sid, stype = target
        if types.setdefault(sid, (stype, source))[0] != stype:
            raise QdaError(f"{mapping.path}: sources: id '{sid}' is given the types '{types[sid][0]}' and "
                           f"'{stype}': one source id keeps one type")
        segments[(sid, theme)].add((source, segment))
    theme_order = {t: i for i, t in enumerate(mapping.theme_order)}
    rows = sorted(((sid, types[sid][0], theme, len(segs)) for (sid, theme), segs in segments.items()),
                  key=lambda r: (r[0], theme_order.get(r[2], 0), r[2]))
    frame = pd.DataFrame(rows, columns=["source_id", "source_type", "theme", "segments"])
    return Result(frame, sum(r[3] for r in rows),
                  sorted((n, g, c) for (n, g), c in unmapped_codes.items()),
                  sorted((n, g, c) for (n, g), c in unmapped_sources.items()),
                  sorted(left_out.items()))


def themes_csv(frame: pd.DataFrame) -> str:
    """The table as themes.csv: UTF-8, header row, LF line ends, as the demo data are written."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(frame.columns)
    writer.writerows(frame.astype(str).itertuples(index=False))
    return out.getvalue()


def check_themes(frame: pd.DataFrame, path: Path, codebook: Codebook) -> list[str]:
    """The codebook's column rules on the table about to be written (rows as they will be numbered)."""
    from cinreport.data.validate import LINE, check_columns

    spec = codebook.files["themes"]
    strings = frame.astype(str)
    strings[LINE] = range(2, len(frame) + 2)
    return [str(p) for p in check_columns(strings, path, spec, codebook)]


def summary(result: Result, project: Project) -> list[str]:
    """What the command prints: counts, and every unmapped code and source with its segments."""
    lines = [f"read {len(project.codes)} codes, {len(project.sources)} sources, {len(project.codings)} codings; "
             f"wrote {len(result.frame)} rows ({result.segments} coded segments) for "
             f"{result.frame['source_id'].nunique()} sources"]
    for name, count in result.left_out:
        lines.append(f"  left out (mapped to null): code '{name}': {count} segment(s)")
    for name, guid, count in result.unmapped_codes:
        lines.append(f"  unmapped code '{name}' (guid {guid}): {count} segment(s)")
    for name, guid, count in result.unmapped_sources:
        lines.append(f"  unmapped source '{name}' (guid {guid}): {count} coded segment(s)")
    return lines


def import_qdpx(project_path: Path, mapping_path: Path, out: Path, codebook: Codebook,
                ignore_unmapped: bool = False) -> tuple[Result, list[str]]:
    """Count, check and write ``out`` (atomically); return the result and the summary lines.

    Raises :class:`QdaError` (nothing written) when codes or sources are unmapped (unless
    ``ignore_unmapped``) or the table would not pass validation.
    """
    from cinreport.common.atomic import write_text

    project = read_project(project_path)
    _root_check(project, Path(project_path))
    mapping = load_mapping(mapping_path, codebook)
    result = count_themes(project, mapping)
    lines = summary(result, project)
    if (result.unmapped_codes or result.unmapped_sources) and not ignore_unmapped:
        raise QdaError("\n".join([f"{mapping_path}: the mapping does not cover every coded segment "
                                  f"(add them to the mapping, map a code to null to leave it out, or "
                                  f"use --ignore-unmapped); nothing written:"] + lines[1:]))
    problems = check_themes(result.frame, out, codebook)
    if problems:
        raise QdaError("\n".join(["the themes table would not pass validation; nothing written:"]
                                 + [f"  {p}" for p in problems]))
    write_text(out, themes_csv(result.frame))
    return result, lines
