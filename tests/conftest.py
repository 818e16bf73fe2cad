"""Shared fixtures: the repository root and a fully built copy of the project (built once)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.prefix)
PROJECT_ITEMS = ["Makefile", "_quarto.yml", "index.qmd", "pyproject.toml", "requirements.lock",
                 "params", "data", "notebooks", "report", "src"]


def copy_project(dest: Path) -> Path:
    """Copy what a build needs, keeping modification times (so Make's view is unchanged)."""
    from cinreport_dev.bench import copy_items

    return copy_items(ROOT, dest, PROJECT_ITEMS)


def national_dir() -> Path | None:
    """The DfE national files the project's params point at (``national.dir``), if present."""
    from cinreport.data.config import load_report
    from cinreport.national.data import national_dir as configured

    path = configured(load_report(ROOT / "params").national, ROOT).resolve()
    return path if path.is_dir() else None


def make(project: Path, *targets: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run make in ``project`` with this test run's virtual environment.

    The copy lives elsewhere, so the national data folder (relative to the checkout in params) is
    passed as an absolute path through CINREPORT_NATIONAL_DIR, unless ``env`` sets it.
    """
    _environment_is_current()
    extra = dict(env or {})
    if "CINREPORT_NATIONAL_DIR" not in extra and national_dir() is not None:
        extra["CINREPORT_NATIONAL_DIR"] = str(national_dir())
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS")} | extra
    proc = subprocess.run(["make", f"VENV={VENV}", *targets], cwd=project, capture_output=True, text=True,
                          env=env, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"make {' '.join(targets)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def _environment_is_current() -> None:
    """Fail when the environment is older than what it was installed from: make, in a copy of the
    project, would then install the package again from the copy, and the environment would import
    the copy's sources from then on (`make test` runs `make setup` first; plain pytest does not)."""
    stamp = VENV / ".installed"
    stale = [name for name in ("pyproject.toml", "requirements.lock")
             if stamp.exists() and (ROOT / name).stat().st_mtime > stamp.stat().st_mtime]
    if stale:
        pytest.fail(f"{', '.join(stale)} changed after {VENV} was set up: run `make setup` first")


def edit_params(project: Path, code: str) -> None:
    """Change an authority's params file (a comment line): the build looks at content, so a plain
    ``touch`` changes nothing."""
    path = project / "params" / "authorities" / f"{code}.yml"
    with path.open("a", encoding="utf-8") as f:
        f.write("# edited\n")


@contextlib.contextmanager
def _locked(path: Path):
    """Hold an exclusive ``flock`` on ``path`` (released however the process ends)."""
    import fcntl

    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _shared_build(tmp_path_factory, name: str, build) -> Path:
    """A project built once per test run by ``build(folder)``, and this worker's own ``cp -a`` copy of it.

    Under pytest-xdist every worker has its own session, so a plain session fixture would build once
    per worker. Here the build goes to the run's shared temporary folder: the first worker that needs
    it builds it while holding a lock, a worker that needs it meanwhile waits, and each worker then
    gets its own copy (file times kept, so Make sees it up to date), because tests run make in it and
    write into it. The built folder itself is never touched again.
    """
    if not (VENV / ".installed").exists():
        pytest.fail(f"{VENV} is not a cinreport environment made by `make setup` (no .installed stamp)")
    base = tmp_path_factory.getbasetemp()
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        shared = base
    else:
        shared = base.parent  # the run's folder, shared by its workers (one basetemp each below it)
    golden, done, failed = shared / name, shared / f"{name}.ok", shared / f"{name}.failed"
    with _locked(shared / f"{name}.lock"):
        if failed.exists():
            pytest.fail(f"the shared build {name} failed earlier:\n{failed.read_text()}")
        if not done.exists():
            shutil.rmtree(golden, ignore_errors=True)
            try:
                build(golden)
            except BaseException as exc:
                failed.write_text(str(exc), encoding="utf-8")
                raise
            done.touch()
    project = base / f"{name}-copy"
    if not project.exists():
        subprocess.run(["cp", "-a", str(golden), str(project)], check=True)
    return project


def _built_demo_folder(tmp_path_factory) -> Path:
    """The shared built demo itself (read-only: only for building further shared states from it)."""
    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "built-demo"


@pytest.fixture(scope="session")
def built_project(tmp_path_factory) -> Path:
    """The demo project copied to a temporary folder and built with `make -j2 report`, once per run
    (shared by the xdist workers: :func:`_shared_build`)."""
    return _shared_build(tmp_path_factory, "built-demo", lambda folder: make(copy_project(folder), "-j2", "report"))


@pytest.fixture(scope="session")
def built_project_without_national(built_project, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The built demo after the national files were switched off (``CINREPORT_NATIONAL_DIR`` set to an
    empty folder) and `make -j2 report` run again, once per run; and the environment that switches
    them off, which every later build of a copy must use (the folder's path is in the book)."""
    empty = _built_demo_folder(tmp_path_factory).parent / "national-switched-off"
    empty.mkdir(exist_ok=True)
    env = {"CINREPORT_NATIONAL_DIR": str(empty)}

    def build(folder: Path) -> None:
        subprocess.run(["cp", "-a", str(_built_demo_folder(tmp_path_factory)), str(folder)], check=True)
        make(folder, "-j2", "report", env=env)

    return _shared_build(tmp_path_factory, "built-demo-without-national", build), env


@pytest.fixture
def typst_source(monkeypatch):
    """A dict whose ``"source"`` becomes the Typst text the fallback renderer compiles (read as it is
    compiled; the file is temporary)."""
    import typst

    captured: dict[str, str] = {}
    real_compile = typst.compile

    def spy(path, *args, **kwargs):
        captured["source"] = Path(path).read_text(encoding="utf-8")
        return real_compile(path, *args, **kwargs)

    monkeypatch.setattr(typst, "compile", spy)
    return captured


# -- scheduling under pytest-xdist ---------------------------------------------------------------
# `make test` runs `pytest -n 2 --dist loadgroup --no-loadscope-reorder`. A test marked e2e or slow is
# meant to be a unit of work of its own, so the two processes share those out, unless it uses a module
# fixture (then it stays with its file, so the fixture is made once) or names its own xdist_group;
# every other test stays with its file. pytest-xdist 3.8 applies the groups by rewriting
# item._nodeid, which pytest 9 no longer reads (every test would then be a unit of its own, and a
# module fixture made once in each process that runs one of its tests), hence pytest < 9 in
# pyproject.toml. Units go
# out in the order of LONGEST_FIRST (node id prefixes), then the other e2e and slow tests, then the
# rest, so that no long test starts near the end while the other process has nothing left to do.
# The first needs the shared demo build and so starts it at once; the next ones build projects of
# their own meanwhile. Update the list from `make test`'s durations.
LONGEST_FIRST = [
    "tests/test_incremental.py::test_switching_the_national_files_off",  # the demo, then without national
    "tests/test_real_data_e2e.py::",                                      # a clean build of its own
    "tests/test_incremental.py::test_incremental_equals_clean",
    "tests/test_bench.py::test_bench_runs_and_writes_json",               # a clean build of its own
    "tests/test_publication.py::test_random_small_studies_publish_nothing_an_outsider_can_work_out",
    "tests/test_faults.py::test_killed_builds_never_leave_bad_outputs",
    "tests/test_inert.py::test_html_shows_payloads_as_text",              # a clean build of its own
    "tests/test_incremental.py::",
    "tests/test_e2e.py::test_adding_an_authority_step_by_step",
    "tests/test_e2e.py::test_progress_is_one_line_per_notebook",
    "tests/test_national.py::test_new_authority_like_a_real_la_is_compared_with_its_neighbours",
    "tests/test_e2e.py::test_touching_one_authority_reruns_only_it",
    "tests/test_publication.py::",
    "tests/test_browser.py::test_every_book_page_works_in_a_browser",
    "tests/test_faults.py::test_two_builds_at_once",
    "tests/test_national.py::test_without_national_files_the_build_succeeds_and_says_so",
    "tests/test_notebooks.py::test_notebook_executes_on_a_tiny_project",
    "tests/test_faults.py::test_render_failure_keeps_last_book",
    "tests/test_validate.py::",
    "tests/test_findings.py::",
    "tests/test_national.py::",
]


def _own_unit(item) -> bool:
    """Whether ``item`` is a unit of work of its own under ``--dist loadgroup``."""
    if not (item.get_closest_marker("e2e") or item.get_closest_marker("slow")):
        return False
    fixtures = getattr(item, "_fixtureinfo", None)
    defs = fixtures.name2fixturedefs.values() if fixtures else []
    return not any(d[-1].scope == "module" for d in defs if d)


def pytest_itemcollected(item):
    """Marks, as each test is collected (xdist reads the groups in its own collection_modifyitems,
    which may run before this file's)."""
    if "built_project" in item.fixturenames and not item.get_closest_marker("e2e"):
        item.add_marker(pytest.mark.e2e)  # the shared demo build is a whole-pipeline build
    # A worker's own --dist is "no": xdist tells it of loadgroup by option.loadgroup (absent without xdist)
    if getattr(item.config.option, "loadgroup", False) and not item.get_closest_marker("xdist_group") \
            and not _own_unit(item):
        item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))


def pytest_collection_modifyitems(config, items):
    if not getattr(config.option, "loadgroup", False):
        return

    def rank(item) -> tuple[int, int]:
        for i, prefix in enumerate(LONGEST_FIRST):
            if item.nodeid.startswith(prefix):
                return (0, i)
        return (1, 0) if _own_unit(item) else (2, 0)

    items.sort(key=rank)  # stable: otherwise in collection order
