"""Faults never cost a good report: failed, interrupted and concurrent builds (issue #7).

Fast tests exercise the pieces (atomic writes, the build lock, the notebook runner, the CLI's
checks, safe YAML); the ``e2e`` ones break a built copy of the demo project on purpose: a notebook
that raises for one authority, builds killed at random points with SIGINT, SIGTERM or SIGKILL, two
builds at once, a render that fails; and scan every output for identifying data.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml

from cinreport import cli
from cinreport.build import buildlock, pipeline
from cinreport.common import atomic
from cinreport.common.layout import AUTHORITY_PART, BOOK_PROFILE
from cinreport.data.config import ParamsError, load_authorities, load_report
from cinreport.render import renderer as render
from conftest import ROOT, VENV, edit_params, make, national_dir

PNG_END = b"IEND\xaeB`\x82"


# --------------------------------------------------------------------------------------------
# helpers


def copy_built(built_project: Path, dest: Path) -> Path:
    shutil.copytree(built_project, dest, copy_function=shutil.copy2, symlinks=True)
    return dest


def files(project: Path, *dirs: str) -> dict[str, bytes]:
    return {p.relative_to(project).as_posix(): p.read_bytes()
            for d in dirs for p in sorted((project / d).rglob("*")) if p.is_file()}


def make_env() -> dict[str, str]:
    """The environment ``conftest.make`` gives a build (the same national folder, so a build started
    here sees the same inputs as the one that made ``built_project``)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS")}
    if "CINREPORT_NATIONAL_DIR" not in env and national_dir() is not None:
        env["CINREPORT_NATIONAL_DIR"] = str(national_dir())
    return env


def start_make(project: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``make`` in its own session (so the test can signal its whole process group)."""
    return subprocess.Popen(["make", f"VENV={VENV}", *args], cwd=project, env=env or make_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


class Output:
    """Reads a process's output in a thread; ``wait_for`` a line containing some text."""

    def __init__(self, proc: subprocess.Popen):
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc):
        for line in proc.stdout:
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self.lines.append(None)
            self._cond.notify_all()

    def wait_for(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if any(line is not None and text in line for line in self.lines):
                    return True
                if None in self.lines or time.monotonic() > deadline:
                    return False
                self._cond.wait(timeout=0.05)

    def text(self) -> str:
        self._thread.join(timeout=30)
        return "".join(line for line in self.lines if line is not None)


def lock_is_held(project: Path) -> bool:
    import fcntl

    path = project / "build" / ".lock"
    if not path.exists():
        return False
    with open(path, "rb") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


def check_book(book: Path, expected: list[str]) -> None:
    """``book`` is a complete book: the expected files, every page whole, the PDF whole."""
    assert book.is_dir(), "_book/ is missing"
    present = sorted(p.relative_to(book).as_posix() for p in book.rglob("*") if p.is_file())
    assert present == expected, f"_book/ has {sorted(set(present) ^ set(expected))[:5]} (in one listing only)"
    for page in book.glob("*.html"):
        assert page.read_text(encoding="utf-8").rstrip().endswith("</html>"), f"{page.name} is truncated"
    pdf = (book / render.PDF_NAME).read_bytes()
    assert pdf.startswith(b"%PDF-") and b"%%EOF" in pdf[-1024:], "the PDF is truncated"
    for png in book.rglob("*.png"):
        assert png.read_bytes().endswith(PNG_END), f"{png} is truncated"


def check_outputs(project: Path, codes: list[str]) -> None:
    """Every output that exists under build/ is complete; temporary files are never outputs."""
    build = project / "build"
    notebooks = sorted(build.glob("authorities/*/authority.ipynb")) + sorted(build.glob("study/*.ipynb"))
    for path in (p for p in notebooks if not p.name.startswith(".")):  # .<name>.<pid>.*.tmp: not outputs
        nb = json.loads(path.read_text(encoding="utf-8"))  # complete JSON
        pm = nb["metadata"]["papermill"]
        assert not pm.get("exception") and pm.get("end_time"), f"{path} is not a finished run"
        assert all(c.get("execution_count") for c in nb["cells"] if c["cell_type"] == "code"), path
    for path in build.rglob("*.json"):
        if not path.name.startswith("."):
            json.loads(path.read_text(encoding="utf-8"))
    for path in build.rglob("*.csv"):
        if not path.name.startswith("."):
            text = path.read_text(encoding="utf-8")
            rows = list(csv.reader(io.StringIO(text)))
            assert text.endswith("\n") and rows and all(len(r) == len(rows[0]) for r in rows), f"{path} is truncated"
    for path in build.rglob("*.png"):
        if not path.name.startswith("."):
            assert path.read_bytes().endswith(PNG_END), f"{path} is truncated"
    deps = build / "deps.mk"
    if deps.exists():
        assert f"AUTHORITY_CODES := {' '.join(codes)}\n" in deps.read_text(encoding="utf-8")
    profile = yaml.safe_load((project / f"_quarto-{BOOK_PROFILE}.yml").read_text(encoding="utf-8"))
    [part] = [e for e in profile["book"]["chapters"] if isinstance(e, dict) and e["part"] == AUTHORITY_PART]
    assert part["chapters"] == [f"build/authorities/{c}/authority.ipynb" for c in codes]


def leftovers(project: Path) -> list[str]:
    temps = [p for p in (project / "build").rglob(".*") if ".tmp" in p.name]
    temps += list(project.glob(".tmp-_book-*")) + list(project.glob(".old-_book-*"))
    return sorted(p.relative_to(project).as_posix() for p in temps)


def add_cell(notebook: Path, index: int, source: str) -> None:
    """Insert a code cell, keeping the file's modification time (an edit Make does not see)."""
    st = notebook.stat()
    nb = nbformat.read(notebook, as_version=4)
    nb.cells.insert(index, nbformat.v4.new_code_cell(source))
    nbformat.write(nb, notebook)
    os.utime(notebook, ns=(st.st_atime_ns, st.st_mtime_ns))


# --------------------------------------------------------------------------------------------
# atomic writes


def test_atomic_write_failure_keeps_old_content(tmp_path):
    target = tmp_path / "metrics.json"
    atomic.write_text(target, "old\n")
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_stale_temp_files_of_dead_writers_are_removed(tmp_path):
    target = tmp_path / "authority.ipynb"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = [tmp_path / f".authority.ipynb.{dead}.abc123.tmp", tmp_path / f".authority.ipynb.{dead}.x9.tmp.ipynb"]
    zombie = subprocess.Popen(["true"])  # killed, not yet reaped: counts as gone
    time.sleep(0.3)
    stale.append(tmp_path / f".authority.ipynb.{zombie.pid}.q1.tmp")
    alive = tmp_path / f".authority.ipynb.{os.getppid()}.zz.tmp"  # a running writer's file stays
    other = tmp_path / f".metrics.json.{dead}.abc.tmp"  # another target's: left to its own writer
    for p in [*stale, alive, other]:
        p.write_text("{")
    atomic.write_text(target, "{}\n")
    zombie.wait()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, alive.name, other.name])


def test_atomic_files_get_normal_permissions(tmp_path):
    mask = os.umask(0o022)
    os.umask(mask)
    path = atomic.write_text(tmp_path / "a.csv", "x\n")
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


# --------------------------------------------------------------------------------------------
# the build lock


def test_build_lock_waits_then_refuses_with_a_clear_message(tmp_path, capfd):
    path = str(tmp_path / "build" / ".lock")
    held = buildlock.acquire(path)
    assert held is not None and (tmp_path / "build" / ".lock").stat().st_size == 0
    try:
        assert buildlock.acquire(path, wait=0) is None
        assert buildlock.acquire(path, wait=0.3) is None
        assert "another build is running in this folder" in capfd.readouterr().err
    finally:
        os.close(held)
    second = buildlock.acquire(path, wait=0)
    assert second is not None
    os.close(second)


def test_build_lock_is_released_when_the_build_is_killed(tmp_path):
    lock = tmp_path / ".lock"
    proc = subprocess.Popen([sys.executable, "-I", buildlock.__file__, str(lock), "--", "sleep", "60"])
    try:
        deadline = time.monotonic() + 10
        while not lock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        fd = buildlock.acquire(str(lock), wait=0)
        assert fd is None, "the lock is not held by the running command"
        proc.kill()  # SIGKILL: nothing runs to release it; the system does
        proc.wait(timeout=10)
        fd = buildlock.acquire(str(lock), wait=5)
        assert fd is not None
        os.close(fd)
    finally:
        proc.kill()


# --------------------------------------------------------------------------------------------
# the notebook runner

PARAMS_CELL = 'authority: str = "la-a"\nn: int = 1'


def tiny_notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell(PARAMS_CELL)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Tiny"), cell] + [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)
    return path


def test_failed_notebook_message_and_kept_copy(tmp_path):
    nb = tiny_notebook(tmp_path / "nb.ipynb", "x = 1", 'if authority == "la-b":\n    raise RuntimeError("injected failure")')
    out = tmp_path / "out" / "nb.ipynb"
    with pytest.raises(pipeline.NotebookFailed) as err:
        pipeline.run_notebook(nb, out, {"authority": "la-b"}, failed_dir=tmp_path / "failed", label="la-b",
                              subject="authority la-b (Authority B)")
    message = str(err.value)
    assert f"notebook {nb} failed for authority la-b (Authority B) in cell 4" in message
    assert "RuntimeError: injected failure" in message
    assert f"kept for inspection at {tmp_path / 'failed' / 'la-b.ipynb'}" in message
    assert not out.exists() and list((tmp_path / "out").iterdir()) == []
    kept = nbformat.read(tmp_path / "failed" / "la-b.ipynb", as_version=4)
    assert kept.metadata.papermill.exception is True
    # fixed: the run succeeds, the output is complete and the stale failure is gone
    pipeline.run_notebook(nb, out, {"authority": "la-a"}, failed_dir=tmp_path / "failed", label="la-b")
    assert nbformat.read(out, as_version=4).metadata.papermill.output_path == out.as_posix()
    assert not (tmp_path / "failed" / "la-b.ipynb").exists()
    assert sorted(p.name for p in out.parent.iterdir()) == ["nb.ipynb"]


def test_kernel_death_is_reported_with_what_the_kernel_said(tmp_path):
    nb = tiny_notebook(tmp_path / "nb.ipynb",
                       "import os, sys\nprint('out of memory, say', file=sys.__stderr__, flush=True)\nos._exit(3)")
    out = tmp_path / "out" / "nb.ipynb"
    with pytest.raises(pipeline.NotebookFailed) as err:
        pipeline.run_notebook(nb, out, {}, failed_dir=tmp_path / "failed", label="x", subject="study chapter x")
    message = str(err.value)
    assert "failed for study chapter x: DeadKernelError" in message and "out of memory, say" in message
    assert "TCP" not in message
    assert not out.exists() and list(out.parent.iterdir()) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_notebook_leaves_old_output_and_no_temp(tmp_path, sig):
    started = tmp_path / "cell-started"  # written by the cell itself: the kernel is running it
    nb = tiny_notebook(tmp_path / "nb.ipynb", f"import time\nopen({str(started)!r}, 'w').close()\ntime.sleep(60)")
    out = tmp_path / "out" / "nb.ipynb"
    atomic.write_text(out, "previous good output\n")
    code = (f"from cinreport.cli import _terminate_cleanly; _terminate_cleanly()\n"
            f"from cinreport.build.pipeline import run_notebook\n"
            f"run_notebook({str(nb)!r}, {str(out)!r}, {{}}, failed_dir={str(tmp_path / 'failed')!r})\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120  # a loaded machine can take long to start the kernel
        while time.monotonic() < deadline and not started.exists():
            time.sleep(0.1)
        assert started.exists(), "the notebook's cell never started"
        time.sleep(0.5)
        proc.send_signal(sig)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode != 0
    assert out.read_text() == "previous good output\n"
    assert sorted(p.name for p in out.parent.iterdir()) == ["nb.ipynb"]
    assert not (tmp_path / "failed").exists()


def test_parameters_are_type_checked(tmp_path):
    nb = tiny_notebook(tmp_path / "nb.ipynb", "pass")
    with pytest.raises(ValueError, match="'n' must be int, got str"):
        pipeline.check_parameters(nb, {"n": "1; import os"})
    with pytest.raises(ValueError, match="'code' is not a parameter"):
        pipeline.check_parameters(nb, {"code": "x"})
    with pytest.raises(ValueError, match="'n' must be int, got bool"):
        pipeline.check_parameters(nb, {"n": True})
    with pytest.raises(ValueError, match="must be str, got list"):
        pipeline.check_parameters(nb, {"authority": ["la-a"]})
    with pytest.raises(ValueError):
        pipeline.run_notebook(nb, tmp_path / "out.ipynb", {"n": 1.5})
    assert not (tmp_path / "out.ipynb").exists()


def test_injected_cell_holds_only_literals():
    nasty = 'la-a"; import os; os.system("touch pwned") #\\'
    pipeline.check_injection({"authority": nasty, "n": 2, "x": 1.5, "flag": False})  # a literal: fine
    from papermill.translators import PythonTranslator

    ns: dict = {}
    exec(PythonTranslator.codify({"authority": nasty}), {}, ns)  # noqa: S102 - proves it is a literal
    assert ns == {"authority": nasty}


# --------------------------------------------------------------------------------------------
# CLI and params: no code from params or the command line


@pytest.mark.parametrize("code", ['la-a"; import os', "../la-a", "la-a\n", "LA-A", "la_a", "la-", "la--a", ""])
def test_run_authority_refuses_bad_codes(code, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run-authority", code]) == 1
    assert "is not a valid authority code" in capsys.readouterr().err
    assert not (tmp_path / "build").exists()


def test_run_authority_refuses_unknown_authority(tmp_path, monkeypatch, capsys):
    shutil.copytree(ROOT / "params", tmp_path / "params")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run-authority", "la-z"]) == 1
    assert "unknown authority 'la-z': params/authorities/la-z.yml does not exist" in capsys.readouterr().err
    assert cli.main(["run-study", "../authority"]) == 1
    assert "unknown study notebook" in capsys.readouterr().err
    assert not (tmp_path / "build").exists()


def test_run_authority_passes_checked_parameters(tmp_path, monkeypatch):
    shutil.copytree(ROOT / "params", tmp_path / "params")
    spec = tmp_path / "params" / "authorities" / "la-a.yml"  # period from report.yml
    spec.write_text("".join(line for line in spec.read_text().splitlines(keepends=True)
                            if not line.startswith("period_")))
    # the authority's slice of the disclosure pass (`cinreport findings`), which the chapter reads
    published = tmp_path / "build" / "published" / "authorities" / "la-a.json"
    published.parent.mkdir(parents=True)
    published.write_bytes(b'{"authority": "la-a", "numbers": {}}\n')
    copy = tmp_path / "build" / "authorities" / "la-a" / "published.json"
    calls = []

    def run_notebook(*a, **k):
        assert not copy.exists()  # the copy is written only once the chapter has executed
        calls.append((a, k))

    monkeypatch.setattr(pipeline, "run_notebook", run_notebook)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run-authority", "la-a"]) == 0
    (notebook, output, parameters), options = calls[0]
    assert parameters == {"authority": "la-a", "params_dir": "params", "out_dir": "build/authorities/la-a"}
    assert options["subject"] == "authority la-a (Authority A)" and options["label"] == "la-a"
    # the numbers the chapter was executed with, which the Makefile compares to decide to keep it
    assert copy.read_bytes() == published.read_bytes()


@pytest.mark.parametrize("payload", [
    "!!python/object/apply:os.system ['touch {marker}']",
    "!!python/object/new:subprocess.Popen [['touch', '{marker}']]",
    "!!python/name:os.system",
])
def test_yaml_with_python_tags_is_refused(payload, tmp_path, monkeypatch, capsys):
    shutil.copytree(ROOT / "params", tmp_path / "params")
    marker = tmp_path / "pwned"
    path = tmp_path / "params" / "authorities" / "la-a.yml"
    path.write_text(path.read_text() + f"new_la_code: {payload.format(marker=marker)}\n")
    with pytest.raises(ParamsError) as err:
        load_authorities(tmp_path / "params", root=ROOT, check_data=False)
    assert "la-a.yml" in str(err.value) and "python/" in str(err.value)
    report = tmp_path / "params" / "report.yml"
    report.write_text(report.read_text() + f"evil: {payload.format(marker=marker)}\n")
    with pytest.raises(ParamsError):
        load_report(tmp_path / "params")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["validate"]) == 1
    assert "la-a.yml" in capsys.readouterr().err
    assert not marker.exists()


# --------------------------------------------------------------------------------------------
# the book swap


def test_book_swap_is_one_step(tmp_path):
    old, new = tmp_path / "_book", tmp_path / ".tmp-_book-1"
    for folder, text in ((old, "old"), (new, "new")):
        folder.mkdir()
        (folder / "index.html").write_text(text)
    atomic.replace_folder(new, old)
    assert (old / "index.html").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["_book"]


def test_book_exchange_where_supported(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "x").write_text("a")
    if not atomic.exchange(a, b):
        pytest.skip("this file system cannot exchange two names in one step (two renames are used)")
    assert (b / "x").read_text() == "a" and not (a / "x").exists()


def test_render_recovers_from_a_kill_between_renames(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    backup, half = tmp_path / f".old-_book-{dead}", tmp_path / f".tmp-_book-{dead}"
    backup.mkdir()
    (backup / "index.html").write_text("last good")
    half.mkdir()
    (half / "page.html").write_text("half")
    atomic.recover_folder(tmp_path / "_book")
    assert (tmp_path / "_book" / "index.html").read_text() == "last good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["_book"]


# --------------------------------------------------------------------------------------------
# end to end: break a built copy of the demo project


@pytest.mark.e2e
def test_notebook_failure_for_one_authority(built_project, tmp_path):
    project = copy_built(built_project, tmp_path / "p")
    before = files(project, "build", "_book")
    add_cell(project / "notebooks" / "authority.ipynb", 4,
             'if authority == "la-b":\n    raise RuntimeError("injected failure for la-b")')
    edit_params(project, "la-b")
    proc = make(project, "-j2", "report", check=False)
    assert proc.returncode != 0
    messages = [line for line in proc.stderr.splitlines() if line.startswith("cinreport ")]
    assert messages == [
        "cinreport run-authority: notebook notebooks/authority.ipynb failed for authority la-b (Authority B) "
        'in cell 5 (In [6] in the kept notebook), `if authority == "la-b":`: RuntimeError: injected failure for la-b'
    ], proc.stderr
    assert "  executed notebook kept for inspection at build/failed/la-b.ipynb" in proc.stderr
    kept = nbformat.read(project / "build" / "failed" / "la-b.ipynb", as_version=4)
    assert any(o.get("ename") == "RuntimeError" for c in kept.cells for o in c.get("outputs", []))
    after = files(project, "build", "_book")
    # The build keeps going past the failure (so one run reports every failure): the other
    # authorities' chapters are brought up to date, but nothing that compares authorities and no book.
    for path, data in before.items():
        if not path.startswith(("build/authorities/", "build/validated/", "build/stamps/", "build/render-cache/")):
            assert after.get(path) == data, f"{path} changed"
    assert after["build/authorities/la-b/authority.ipynb"] == before["build/authorities/la-b/authority.ipynb"]
    assert make(project, "-q", "report", check=False).returncode != 0  # la-b is still to do


STAGES = {  # text in the build's output after which a kill is aimed, and the delay range (s)
    "validation": ("validate --authority la-b", 0.0, 0.6),
    "authority notebook": ("running la-b ->", 0.0, 3.5),
    "study notebooks": ("running study-", 0.0, 9.0),
    "render": ("render --out", 0.0, 2.5),
}


@pytest.mark.e2e
def test_killed_builds_never_leave_bad_outputs(built_project, tmp_path):
    """Kill ``make -j2 report`` at random points (seeded), check the invariants after each kill,
    then one more ``make report`` finishes the work without a clean."""
    project = copy_built(built_project, tmp_path / "p")
    codes = sorted(p.stem for p in (project / "params" / "authorities").glob("*.yml"))
    book_files = sorted(p.relative_to(project / "_book").as_posix()
                        for p in (project / "_book").rglob("*") if p.is_file())
    rng = random.Random(int(os.environ.get("CINREPORT_FAULT_SEED", "7")))
    stages = ["validation", "authority notebook", "study notebooks", "study notebooks", "render", "render"]
    signals = [signal.SIGINT, signal.SIGTERM, signal.SIGKILL] * 2
    rng.shuffle(stages)
    rng.shuffle(signals)
    started, log = time.monotonic(), []
    for stage, sig in zip(stages, signals):
        if time.monotonic() - started > 150:  # bounded in time as well as in count
            break
        edit_params(project, "la-b")  # work to interrupt
        marker, low, high = STAGES[stage]
        delay = rng.uniform(low, high)
        proc = start_make(project, "-j2", "report")
        out = Output(proc)
        try:
            reached = out.wait_for(marker, timeout=90)
            if reached:
                time.sleep(delay)
            if proc.poll() is None:
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
                pytest.fail(f"make did not stop on {sig.name}:\n{out.text()}")
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        out.text()
        log.append(f"{stage} +{delay:.1f}s {sig.name}: exit {proc.returncode}; left {leftovers(project)}")
        check_book(project / "_book", book_files)
        check_outputs(project, codes)
    deadline = time.monotonic() + 15
    while lock_is_held(project) and time.monotonic() < deadline:  # a killed recipe may still be exiting
        time.sleep(0.1)
    final = make(project, "-j2", "report", check=False)
    assert final.returncode == 0, "\n".join(log) + final.stdout + final.stderr
    assert make(project, "-q", "report", check=False).returncode == 0, "\n".join(log)
    check_book(project / "_book", book_files)
    check_outputs(project, codes)
    assert leftovers(project) == [], "\n".join(log)
    failed = project / "build" / "failed"
    assert not failed.exists() or not list(failed.iterdir()), "an interrupted run was reported as failed"


@pytest.mark.e2e
def test_two_builds_at_once(built_project, tmp_path):
    project = copy_built(built_project, tmp_path / "p")
    book_files = sorted(p.relative_to(project / "_book").as_posix()
                        for p in (project / "_book").rglob("*") if p.is_file())
    edit_params(project, "la-c")  # la-c, the study chapters, the book
    first = start_make(project, "-j2", "report")
    first_out = Output(first)
    try:
        assert first_out.wait_for("validate --authority la-c", timeout=60), first_out.text()
        assert lock_is_held(project)
        refuse_env = make_env() | {buildlock.WAIT_ENV: "0"}
        refused = subprocess.run(["make", f"VENV={VENV}", "report"], cwd=project, env=refuse_env,
                                 capture_output=True, text=True, timeout=60)
        assert refused.returncode != 0
        assert "another build is still running in this folder" in refused.stderr
        second = start_make(project, "report")
        second_out = Output(second)
        assert second.wait(timeout=300) == 0, second_out.text()
        assert first.wait(timeout=300) == 0, first_out.text()
    finally:
        for proc in (first,):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    text = second_out.text()
    assert "cinreport: another build is running in this folder" in text and "waiting for it to finish" in text
    assert "the other build has finished" in text
    assert "run-authority" not in text and "render" not in text.split("starting this one")[-1]
    check_book(project / "_book", book_files)
    check_outputs(project, sorted(p.stem for p in (project / "params" / "authorities").glob("*.yml")))
    assert make(project, "-q", "report", check=False).returncode == 0


@pytest.mark.e2e
def test_render_failure_keeps_last_book(built_project, tmp_path):
    project = copy_built(built_project, tmp_path / "p")
    before = files(project, "_book")
    # a figure an executed chapter refers to has gone
    (project / "build" / "authorities" / "la-c" / "figures" / "age-band.png").unlink()
    (project / "index.qmd").touch()
    proc = make(project, "report", check=False)
    assert proc.returncode != 0
    assert ("cinreport render: Chapter build/authorities/la-c/authority.ipynb: image not found: "
            "figures/age-band.png") in proc.stderr, proc.stderr
    assert files(project, "_book") == before and leftovers(project) == []
    # a static chapter that Typst cannot compile
    shutil.copy2(built_project / "build" / "authorities" / "la-c" / "figures" / "age-band.png",
                 project / "build" / "authorities" / "la-c" / "figures" / "age-band.png")
    index = project / "index.qmd"
    index.write_text(index.read_text(encoding="utf-8") + "\n```{=typst}\n#let broken = (\n```\n", encoding="utf-8")
    proc = make(project, "report", check=False)
    assert proc.returncode != 0
    assert "cinreport render: Typst failed to compile the PDF (in index.qmd)" in proc.stderr, proc.stderr
    assert files(project, "_book") == before and leftovers(project) == []
    # a chapter listed in _quarto.yml that does not exist (the project's own are in the generated profile)
    quarto = project / "_quarto.yml"
    quarto.write_text(quarto.read_text(encoding="utf-8").replace(
        "  output-file: cinreport\n", "  output-file: cinreport\n  appendices: [report/missing.qmd]\n"), encoding="utf-8")
    proc = make(project, "report", check=False)
    assert proc.returncode != 0 and "missing.qmd" in proc.stderr, proc.stderr
    assert files(project, "_book") == before and leftovers(project) == []


# --------------------------------------------------------------------------------------------
# identifying data never reaches the report or the open data


def identifying_values(project: Path) -> tuple[set[str], set[str]]:
    """Ids and (non-period) dates from every data file, found through the codebook's types."""
    codebook = yaml.safe_load((project / "data" / "codebook.yml").read_text(encoding="utf-8"))
    ids: set[str] = set()
    dates: set[dt.date] = set()
    for folder in sorted(p for p in (project / "data").iterdir() if p.is_dir()):
        for name, spec in codebook["files"].items():
            path = folder / spec.get("filename", f"{name}.csv")
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
            for column, col in spec["columns"].items():
                values = {v.strip() for v in frame.get(column, []) if v.strip()}
                if col["type"] == "date":
                    dates |= {dt.date.fromisoformat(v) for v in values}
                elif col["type"] not in ("integer", "number", "code", "code_list", "boolean"):
                    ids |= values  # ids, and any free text a future codebook adds
    period = set()
    for path in (project / "params").rglob("*.yml"):
        for key, value in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).items():
            if key.startswith("period_"):
                period.add(value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)))
    return ids, dates - period


def date_spellings(day: dt.date) -> list[str]:
    return [day.isoformat(), day.strftime("%d/%m/%Y"), f"{day.day} {day:%B %Y}"]


# Anything shaped like one of date_spellings' forms, not inside a longer run of digits and slashes.
# The scan looks each one up among the data's dates: the same hits as one alternation of all the
# spellings (which took over a minute on the build's 13 MB of text), in about a second.
DATE_LIKE = re.compile(r"(?<![\d/])(?:\d{4}-\d\d-\d\d|\d\d/\d\d/\d{4}|\d{1,2} [A-Z][a-z]+ \d{4})(?![\d/])")


def test_date_scan_finds_every_spelling_and_only_whole_dates():
    day = dt.date(2020, 5, 3)
    spellings = set(date_spellings(day))
    text = "a 2020-05-03, (03/05/2020) 3 May 2020. x12020-05-03 03/05/20201 13 May 2020 03 May 2020 2020-05-031"
    assert {d for d in DATE_LIKE.findall(text) if d in spellings} == spellings
    assert len([d for d in DATE_LIKE.findall(text) if d in spellings]) == 3


@pytest.mark.e2e
def test_no_identifying_data_in_any_output(built_project):
    ids, dates = identifying_values(built_project)
    assert len(ids) > 1000 and len(dates) > 100
    outputs = [p for d in ("_book", "build") for p in (built_project / d).rglob("*")
               if p.is_file() and p.suffix not in (".png", ".pdf") and p.name != ".lock"]
    texts = {p.relative_to(built_project).as_posix(): p.read_text(encoding="utf-8", errors="ignore") for p in outputs}
    if shutil.which("pdftotext"):  # the PDF's text is compressed; without poppler only the HTML is read
        texts["_book/cinreport.pdf"] = subprocess.run(
            ["pdftotext", str(built_project / "_book" / render.PDF_NAME), "-"],
            capture_output=True, text=True, check=True).stdout
        assert "Key findings" in texts["_book/cinreport.pdf"]
    assert any(p.startswith("build/study/tables/") for p in texts)
    assert any(re.match(r"build/authorities/[^/]+/tables/", p) for p in texts)
    id_pattern = re.compile("|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True)))
    spellings = {s for d in dates for s in date_spellings(d)}
    found = {}
    for path, text in texts.items():
        hits = set(id_pattern.findall(text)) | {d for d in DATE_LIKE.findall(text) if d in spellings}
        if hits:
            found[path] = sorted(hits)[:5]
    assert not found, f"identifying data in outputs: {found}"


@pytest.mark.e2e
def test_make_report_names_every_invalid_authority_in_the_projects_words(built_project, tmp_path):
    """A missing file, a missing data folder and an invalid code in three authorities: one
    `make report` reports all three in the project's words (never Make's "No rule to make target")
    and leaves the last book as it was."""
    project = copy_built(built_project, tmp_path / "p")
    book = files(project, "_book")
    (project / "data" / "la-a" / "support.csv").unlink()
    shutil.move(project / "data" / "la-c", tmp_path / "elsewhere")
    case_files = project / "data" / "la-b" / "case_files.csv"
    lines = case_files.read_text(encoding="utf-8").splitlines(keepends=True)
    header = lines[0].split(",")
    cells = lines[2].split(",")
    cells[header.index("primary_need")] = "N99"
    lines[2] = ",".join(cells)
    case_files.write_text("".join(lines), encoding="utf-8")
    os.utime(case_files, (946684800, 946684800))  # delivered with an old file time: still noticed
    proc = make(project, "-j2", "report", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "No rule to make target" not in out, out
    assert "data/la-a/support.csv: file is missing" in out, out
    assert "data/la-b/case_files.csv, row 3, column 'primary_need', value 'N99'" in out, out
    assert "params/authorities/la-c.yml: data_dir 'data/la-c' does not exist" in out, out
    assert out.count("data/la-a/support.csv: file is missing") == 1, "a problem is reported once"
    assert files(project, "_book") == book


def test_hidden_or_misnamed_params_files_stop_the_build_by_name(built_project, tmp_path):
    project = copy_built(built_project, tmp_path / "p")
    (project / "params" / "authorities" / "la-e.yaml").write_text("name: E\n", encoding="utf-8")
    proc = make(project, "report", check=False)
    assert proc.returncode != 0
    assert "params/authorities/la-e.yaml: not read" in proc.stderr, proc.stderr
    assert "No rule to make target" not in proc.stdout + proc.stderr
