"""Run parameterised notebooks with papermill, safely.

* Parameters are type-checked against the notebook's declared ``parameters`` cell before papermill
  injects them (only str/int/float/bool literals are accepted), and the cell papermill would
  inject is parsed to prove it holds nothing but literal assignments.
* The executed notebook is written to a temporary name and renamed into place only on success;
  a failed one is moved to ``build/failed/<label>.ipynb`` for inspection and never mistaken for
  done, and the error names the notebook, what it ran for, the cell, the error and that path.
* Interrupted (Ctrl-C, or SIGTERM/SIGHUP under the CLI): the temporary file is removed and the
  previous output stays; after SIGKILL the temporary file is removed by the next run.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nbformat

from cinreport.build import warm
from cinreport.common.atomic import atomic_path

ALLOWED: dict[str, type | tuple[type, ...]] = {"str": str, "int": int, "float": (int, float), "bool": bool}


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


def check_injection(parameters: dict[str, Any]) -> None:
    """Refuse parameters whose injected cell would be anything but literal assignments.

    papermill writes the values as Python source; the cell it would inject is parsed here and must
    consist only of ``name = <literal>`` lines that evaluate back to exactly the given values.
    """
    import ast

    from papermill.translators import PythonTranslator

    source = PythonTranslator.codify(parameters)
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ValueError(f"bad notebook parameters: injected cell would not parse ({exc.msg})") from None
    seen = {}
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name) and isinstance(node.value, ast.Constant)):
            raise ValueError("bad notebook parameters: injected cell would contain code, "
                             f"not only literal values: {ast.unparse(node)!r}")
        seen[node.targets[0].id] = node.value.value
    if seen != parameters:
        raise ValueError("bad notebook parameters: values do not survive injection unchanged")


def _source_cell(notebook: Path, exc) -> int | None:
    """1-based position in the *source* notebook of the cell that raised (papermill's injected
    parameters cell is not in the source, so it is not counted)."""
    try:
        cells = nbformat.read(notebook, as_version=4).cells
    except Exception:
        return None
    for i, cell in enumerate(cells):
        if cell.cell_type == "code" and cell.source == exc.source:
            return i + 1
    return None


def _failure_message(notebook: Path, subject: str, kept: Path | None, exc: BaseException) -> str:
    from papermill.exceptions import PapermillExecutionError

    where = ""
    if isinstance(exc, PapermillExecutionError):
        cell = _source_cell(notebook, exc)
        if cell is not None:
            where = f" in cell {cell}"
        if exc.exec_count is not None:
            where += f" (In [{exc.exec_count}] in the kept notebook)"
        first = next((line.strip() for line in str(exc.source or "").splitlines() if line.strip()), "")
        if first:
            where += f", `{first[:80]}`"
        error = f"{exc.ename}: {exc.evalue}" if exc.evalue else exc.ename
    else:
        error = f"{type(exc).__name__}: {exc}"
    kept_line = (f"\n  executed notebook kept for inspection at {kept}" if kept is not None
                 else "\n  (no executed notebook was written)")
    return f"notebook {notebook} failed for {subject}{where}: {error}{kept_line}"


def _warm_kernel_failed_to_start(exc: BaseException) -> bool:
    """Whether papermill failed because a warm (forked) kernel died before it could run a cell."""
    return (bool(os.environ.get(warm.SOCKET_ENV)) and not os.environ.get(warm.DISABLE_ENV)
            and "Kernel died before replying to kernel_info" in str(exc))


def _kernel_manager_class(log):
    """A kernel manager whose kernel writes its own process output (start-up warnings, and the
    tracebacks it prints when it is torn down by Ctrl-C) to ``log`` instead of the build's
    terminal. Cell outputs are unaffected: they travel as messages into the notebook."""
    from jupyter_client import AsyncKernelManager

    class QuietKernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd, **kw):
            forked = warm.fork_kernel(kernel_cmd, kw.get("env") or {}, kw.get("cwd") or os.getcwd(), log.fileno())
            if forked is not None:  # a warm kernel from the build's server (see cinreport.build.warm)
                prov = self.provisioner
                prov.process, prov.pid, prov.pgid, prov.cwd = forked, forked.pid, forked.pid, kw.get("cwd")
                self._reconcile_connection_info(prov.connection_info)
                return
            kw.setdefault("stdout", log)
            kw.setdefault("stderr", log)
            return await super()._async_launch_kernel(kernel_cmd, **kw)

    return QuietKernelManager


def _record_output_path(path: Path, real: Path) -> None:
    """papermill records the path it wrote (here a temporary name): record the real one."""
    try:
        nb = nbformat.read(path, as_version=4)
        nb.metadata.setdefault("papermill", {})["output_path"] = real.as_posix()
        nbformat.write(nb, path)
    except Exception:  # metadata only; a notebook papermill could not finish is kept as it is
        pass


def run_notebook(notebook: Path | str, output: Path | str, parameters: dict[str, Any],
                 failed_dir: Path | str = "build/failed", label: str = "", cwd: str = ".",
                 subject: str = "") -> Path:
    """Execute ``notebook`` into ``output`` with ``parameters``; atomic; failures kept for inspection.

    ``label`` names the kept failed notebook (``<failed_dir>/<label>.ipynb``); ``subject`` says in
    the error message what the run was for (e.g. "authority la-b (Authority B)").
    """
    import papermill

    notebook, output = Path(notebook), Path(output)
    label = label or notebook.stem
    subject = subject or label
    check_parameters(notebook, parameters)
    check_injection(parameters)
    failed = Path(failed_dir) / f"{label}.ipynb"
    started = time.monotonic()
    _say(f"[cinreport] running {label} -> {output}")
    with atomic_path(output, suffix=".ipynb") as tmp, tempfile.TemporaryFile("w+") as kernel_log:
        try:
            try:
                papermill.execute_notebook(str(notebook), str(tmp), parameters=parameters, kernel_name="python3",
                                           cwd=cwd, progress_bar=False, log_output=False,
                                           request_save_on_cell_execute=False,
                                           kernel_manager_class=_kernel_manager_class(kernel_log))
            except RuntimeError as exc:
                if not _warm_kernel_failed_to_start(exc):
                    raise
                # A kernel forked by the build's warm server did not come up (rare): run this
                # notebook again, from the start, in a kernel started the usual way.
                os.environ[warm.DISABLE_ENV] = "1"
                try:
                    papermill.execute_notebook(str(notebook), str(tmp), parameters=parameters,
                                               kernel_name="python3", cwd=cwd, progress_bar=False,
                                               log_output=False, request_save_on_cell_execute=False,
                                               kernel_manager_class=_kernel_manager_class(kernel_log))
                finally:
                    os.environ.pop(warm.DISABLE_ENV, None)
        except Exception as exc:  # the notebook raised, or its kernel died: keep what was written
            kept = None
            if tmp.exists() and tmp.stat().st_size:
                _record_output_path(tmp, failed)
                failed.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, failed)
                kept = failed
            message = _failure_message(notebook, subject, kept, exc)
            from papermill.exceptions import PapermillExecutionError

            if not isinstance(exc, PapermillExecutionError):  # e.g. the kernel died: say what it said
                kernel_log.seek(0)
                tail = [line for line in kernel_log.read().strip().splitlines()
                        if "running over TCP without encryption" not in line][-15:]
                if tail:
                    message += "\n  kernel output:\n    " + "\n    ".join(tail)
            raise NotebookFailed(message) from None
        _record_output_path(tmp, output)
    failed.unlink(missing_ok=True)  # an earlier failure of this run is now fixed
    _say(progress_line(subject.split(" (")[0], time.monotonic() - started))
    return output


def _say(line: str) -> None:
    """One line to stderr in one write, so lines of parallel recipes never run into each other."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _count_done(path: str) -> int:
    """Append one byte to the build's progress file (locked); how many notebooks are done."""
    import fcntl

    with open(path, "ab") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.write(b".")
        fh.flush()
        return fh.tell()


def progress_line(what: str, seconds: float, env: Mapping[str, str] | None = None) -> str:
    """``[ 37/157] authority la-037 executed in 2.4 s (elapsed 1:12)`` inside a build (whose
    supervisor sets the plan's size and start, see cinreport.build.warm); without, just the duration."""
    from cinreport.build.warm import PROGRESS_ENV, STARTED_ENV, TOTAL_ENV

    env = os.environ if env is None else env
    line = f"{what} executed in {seconds:.1f} s"
    if not env.get(PROGRESS_ENV):
        return f"[cinreport] {line}"
    try:
        done = _count_done(env[PROGRESS_ENV])
        total = max(int(env.get(TOTAL_ENV) or 0), done) if env.get(TOTAL_ENV) else None
        elapsed = int(time.time() - float(env.get(STARTED_ENV) or time.time()))
    except (OSError, ValueError):
        return f"[cinreport] {line}"
    where = f"{done:>{len(str(total))}}/{total}" if total else str(done)
    return f"[{where}] {line} (elapsed {elapsed // 60}:{elapsed % 60:02d})"
