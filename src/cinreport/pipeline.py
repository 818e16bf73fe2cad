"""Run parameterised notebooks with papermill, safely.

* Parameters are type-checked against the notebook's declared ``parameters`` cell before papermill
  injects them (only str/int/float/bool literals are accepted).
* The executed notebook is written to a temporary name and renamed into place only on success;
  a failed one is moved to ``build/failed/`` for inspection and never mistaken for done.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import nbformat

from .atomic import atomic_path

ALLOWED = {"str": str, "int": int, "float": (int, float), "bool": bool}


class NotebookFailed(RuntimeError):
    """A notebook raised; the message names the notebook, cell, error and kept output."""


def declared_parameters(notebook: Path) -> dict[str, str]:
    """Name → declared type name of the notebook's ``parameters`` cell."""
    import papermill

    info = papermill.inspect_notebook(str(notebook))
    return {name: (p.get("inferred_type_name") or "None") for name, p in info.items()}


def check_parameters(notebook: Path, parameters: dict[str, Any]) -> None:
    """Refuse unknown parameters and values of the wrong type (no code, no objects)."""
    declared = declared_parameters(notebook)
    problems = []
    for name, value in parameters.items():
        if name not in declared:
            problems.append(f"'{name}' is not a parameter of {notebook} (declared: {', '.join(sorted(declared))})")
            continue
        expected = ALLOWED.get(declared[name])
        if expected is None:
            problems.append(f"'{name}' in {notebook} has no type annotation of str, int, float or bool")
        elif isinstance(value, bool) and declared[name] != "bool" or not isinstance(value, expected):
            problems.append(f"'{name}' must be {declared[name]}, got {type(value).__name__} {value!r}")
    if problems:
        raise ValueError("bad notebook parameters:\n  " + "\n  ".join(problems))


def _failed_cell(nb: nbformat.NotebookNode) -> tuple[int | None, str]:
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return i, f"{out.get('ename')}: {out.get('evalue')}"
    return None, "unknown error"


def run_notebook(notebook: Path | str, output: Path | str, parameters: dict[str, Any],
                 failed_dir: Path | str = "build/failed", label: str = "", cwd: str = ".") -> Path:
    """Execute ``notebook`` into ``output`` with ``parameters``; atomic; failures kept for inspection."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    notebook, output = Path(notebook), Path(output)
    check_parameters(notebook, parameters)
    started = time.monotonic()
    print(f"[cinreport] running {label or notebook.stem} -> {output}", file=sys.stderr, flush=True)
    with atomic_path(output) as tmp:
        tmp_nb = tmp.with_suffix(".ipynb")
        try:
            papermill.execute_notebook(str(notebook), str(tmp_nb), parameters=parameters, kernel_name="python3",
                                       cwd=cwd, progress_bar=False, log_output=False, request_save_on_cell_execute=False)
        except PapermillExecutionError as exc:
            failed = Path(failed_dir) / f"{label or notebook.stem}.ipynb"
            failed.parent.mkdir(parents=True, exist_ok=True)
            if tmp_nb.exists():
                os.replace(tmp_nb, failed)
            raise NotebookFailed(
                f"notebook {notebook} failed for {label or 'study'} in cell {exc.exec_count}: "
                f"{exc.ename}: {exc.evalue}\n  executed notebook kept at {failed}") from None
        except BaseException:
            if tmp_nb.exists():
                tmp_nb.unlink()
            raise
        os.replace(tmp_nb, tmp)
    stale = Path(failed_dir) / f"{label or notebook.stem}.ipynb"
    if stale.exists():
        stale.unlink()
    print(f"[cinreport] done {label or notebook.stem} in {time.monotonic() - started:.1f}s",
          file=sys.stderr, flush=True)
    return output
