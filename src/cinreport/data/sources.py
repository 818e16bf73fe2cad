"""Where each of an authority's data files comes from: a CSV, a workbook, or a sheet of one workbook.

:func:`data_source` is the one place that decides it. Validation reads what it returns, and
``cinreport deps`` digests its ``inputs`` into the authority's content stamp
(:mod:`cinreport.build.stamps`), so a change to the file actually read (CSV or workbook, also a workbook
outside the data folder) re-validates that authority.

The rule, for each file of the codebook (``case_files``, ``support``, ``admin``, ``themes`` and the
optional ``sources``):

1. ``<data_dir>/<name>.csv`` (the codebook's ``filename``): the CSV, read as before.
2. ``<data_dir>/<name>.xlsx``: a workbook holding that one file, in the sheet named ``<name>`` or,
   if there is no such sheet, in its only visible sheet.
3. the sheet named ``<name>`` (case and surrounding spaces ignored) of the authority's *combined
   workbook*: the workbook named by ``workbook:`` in ``params/authorities/<code>.yml`` (a path
   relative to ``data_dir``) or, without that key, the one ``.xlsx`` file in ``data_dir`` that is
   not named after a file (two or more such workbooks is an error: name one with ``workbook:``).

Exactly one of these may exist. None: the file is missing. Two (say ``support.csv`` and a
``support`` sheet): an error naming both, never a silent choice. Hidden sheets are never read; a
hidden sheet named after a file is an error (unhide it, or rename it if it is an old copy).
Excel's lock files (``~$name.xlsx``) are ignored.

This module reads only the workbook's list of sheets (``xl/workbook.xml``), so it stays cheap
enough for ``cinreport deps``; :mod:`cinreport.data.workbooks` reads the cells.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from cinreport.data.codebook import FileSpec
from cinreport.data.config import Authority

SHEET_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
FILE_NAMES = ("case_files", "support", "admin", "themes", "sources")


@dataclass(frozen=True)
class DataSource:
    """Where one file's data are read from.

    ``kind`` is ``csv`` or ``xlsx`` when the data can be read, ``missing`` when there is no
    source, ``error`` when the sources conflict or the workbook cannot be used (``problem`` says
    why, about ``path``).
    """

    name: str                       # the codebook's file name, e.g. case_files
    path: Path                      # the file read (missing: the CSV expected)
    kind: str
    sheet: str | None = None        # the sheet of a workbook
    problem: str = ""
    inputs: tuple[Path, ...] = ()   # files whose change must re-validate the authority

    @property
    def key(self) -> Path:
        """The name problems are filed under while validating: the CSV, or ``[book.xlsx]sheet``
        (Excel's notation for a sheet of a workbook) beside it."""
        if self.kind == "xlsx":
            return self.path.parent / f"[{self.path.name}]{self.sheet}"
        return self.path


def workbook_sheets(path: Path) -> list[tuple[str, str]]:
    """(name, state) of every sheet of an .xlsx workbook, in order; state is visible, hidden or
    veryHidden. Raises ValueError naming the file when it is not an .xlsx workbook."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open("xl/workbook.xml") as fh:
            root = etree.parse(fh, etree.XMLParser(resolve_entities=False, no_network=True)).getroot()
    except (zipfile.BadZipFile, KeyError, etree.XMLSyntaxError) as exc:
        raise ValueError(f"not an Excel .xlsx workbook ({exc}): save it from Excel as "
                         "'Excel Workbook (.xlsx)' (.xls, .xlsb and .ods are not read)") from None
    return [(s.get("name", ""), s.get("state", "visible")) for s in root.iter(f"{SHEET_NS}sheet")]


def _workbooks(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if p.suffix.lower() == ".xlsx" and p.is_file() and not p.name.startswith(("~$", ".")))


def combined_workbook(authority: Authority) -> tuple[Path | None, str]:
    """The authority's workbook with one sheet per file, or None; and a problem, if any."""
    if authority.workbook:
        path = authority.data_dir / authority.workbook
        if not path.is_file():
            return path, (f"workbook named by 'workbook: {authority.workbook}' in {authority.params_file} "
                          "does not exist")
        return path, ""
    own = {f"{n}.xlsx" for n in FILE_NAMES}
    found = [p for p in _workbooks(authority.data_dir) if p.name.lower() not in own]
    if len(found) > 1:
        return authority.data_dir, (f"several workbooks in {authority.data_dir} ({', '.join(p.name for p in found)}): "
                          f"name the one holding the data sheets with 'workbook: <file>' in "
                          f"{authority.params_file}, or move the others away")
    return (found[0], "") if found else (None, "")


def _pick_sheet(path: Path, name: str, only_one: bool) -> tuple[str | None, str]:
    """The sheet of ``path`` holding file ``name`` (None if none), or a problem.

    ``only_one``: a workbook for this file alone, whose only visible sheet is taken whatever its name.
    """
    try:
        sheets = workbook_sheets(path)
    except ValueError as exc:
        return None, str(exc)
    named = [(s, state) for s, state in sheets if s.strip().lower() == name]
    visible = [s for s, state in sheets if state == "visible"]
    if named:
        sheet, state = named[0]
        if state != "visible":
            return None, (f"sheet '{sheet}' is hidden: unhide it (Format > Hide & Unhide) if it holds the "
                          f"{name} data, or rename it if it is an old copy")
        return sheet, ""
    if only_one:
        if len(visible) == 1:
            return visible[0], ""
        return None, (f"workbook has {len(visible)} visible sheets ({', '.join(visible)}) and none is "
                      f"named '{name}': name the sheet holding the data '{name}'")
    return None, ""


def data_source(authority: Authority, spec: FileSpec) -> DataSource:
    """The file (and sheet) that ``spec``'s data come from for ``authority``: see the module doc."""
    name = spec.name
    csv_path = authority.data_dir / spec.filename
    found: list[DataSource] = []
    if csv_path.is_file():
        found.append(DataSource(name, csv_path, "csv", inputs=(csv_path,)))
    own = authority.data_dir / f"{name}.xlsx"
    if own.is_file():
        sheet, problem = _pick_sheet(own, name, only_one=True)
        found.append(DataSource(name, own, "error" if problem else "xlsx", sheet, problem, (own,)))
    book, problem = combined_workbook(authority)
    if book is not None and book != own:
        if problem:
            inputs = tuple(_workbooks(book)) if book.is_dir() else (book,) if book.is_file() else ()
            found.append(DataSource(name, book, "error", None, problem, inputs))
        else:
            sheet, problem = _pick_sheet(book, name, only_one=False)
            if sheet or problem:
                found.append(DataSource(name, book, "error" if problem else "xlsx", sheet, problem, (book,)))
    if not found:
        return DataSource(name, csv_path, "missing", inputs=(csv_path,))
    if len(found) > 1:
        where = " and ".join(f"sheet '{s.sheet}' of {s.path}" if s.sheet else str(s.path) for s in found)
        inputs = tuple(p for s in found for p in s.inputs)
        return DataSource(name, found[0].path, "error", None,
                          f"the {name} data are given twice, in {where}: keep only one", inputs)
    return found[0]


def data_folder_files(folder: Path) -> list[Path]:
    """The files an authority's data folder holds (not hidden, not in sub-folders)."""
    try:
        return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and p.is_file())
    except OSError:
        return []
