"""Benchmark: how the build scales with the number of authorities (``make bench``).

For each size N, a temporary copy of the project gets N fictional authorities made by
:func:`cinreport.data.synth.write_many` and is timed through ``make -j<jobs> report``:

* ``clean``: from nothing (no ``build/``, no ``_book/``);
* ``noop``: the same command again, nothing changed;
* ``change``: one authority's data regenerated with another seed (still valid);
* ``add``: one more authority (params file and data) added.

In a second fresh copy, the **naive baseline** a researcher would write by hand runs: a sequential
loop of ``papermill`` command-line calls over every notebook, then a full render. The **floor** is
the cost of starting one kernel and importing the notebooks' libraries (measured here: papermill
runs a one-cell notebook that imports them, median of three), times the number of notebooks,
divided by the cores used.

**Peak memory** is that of the whole process tree of the timed command (make, every recipe, the
warm server, every notebook kernel, the renderer), sampled every 0.1 s with psutil: the largest
sum over the processes running at one moment of their PSS (proportional set size, from
/proc/<pid>/smaps_rollup: a page shared by k processes counts 1/k in each, so the sum is the
tree's real use of memory). The summed RSS is reported too; it counts shared pages (libraries,
memory shared after a fork) once per process, and so overstates.

Results go to ``<out>/bench.json`` and a table is printed. Wall times on a shared machine vary:
run it when the machine is otherwise idle.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

PROJECT_ITEMS = ["Makefile", "_quarto.yml", "index.qmd", "pyproject.toml", "requirements.lock",
                 "notebooks", "report", "src"]
SIZES = (4, 16, 64, 153)
SCENARIOS = ("clean", "noop", "change", "add")
# Lines of `make report` output that mark where the study notebooks and the render start.
# Where the work that compares authorities starts: the disclosure pass, the findings' tests, or
# (when neither runs) the study chapters or the render.
CROSS_MARK = re.compile(r"\bdisclosure pass over everything\b|\btesting the findings\b|\brun-study\b"
                        r"|\brunning study-|\brender --out\b")
AUTHORITY_DONE = re.compile(r"\bauthority \S+ executed in ([0-9.]+) s")
DONE_MARK = re.compile(r"\bexecuted in\b")


@dataclass
class Run:
    """One timed command."""

    seconds: float
    peak_mib: float  # summed PSS of the process tree
    peak_rss_mib: float = 0.0  # summed RSS (counts shared pages once per process)
    notebooks: int = 0  # notebooks executed
    # The authority's own part: from the start until the cross-authority work starts (the content
    # stamps, validation and measuring), plus the time of every authority chapter executed.
    authority_s: float = 0.0
    # Everything that compares authorities, from its start to the end: the disclosure pass, the
    # findings' tests, the study chapters and the render (it overlaps the authority chapters, which
    # run beside it under make -j, so the two parts may add up to more than the whole).
    study_render_s: float = 0.0


@dataclass
class SizeResult:
    n: int
    notebooks: int  # authority notebooks + study notebooks
    runs: dict[str, Run] = field(default_factory=dict)
    naive: Run | None = None
    floor_s: float = 0.0

    def ratios(self) -> dict[str, float | None]:
        clean = self.runs.get("clean")
        return {
            "naive_over_clean": round(self.naive.seconds / clean.seconds, 2) if clean and self.naive else None,
            "clean_over_floor": round(clean.seconds / self.floor_s, 2) if clean and self.floor_s else None,
        }


# --------------------------------------------------------------------------------------------
# Measuring


class TreeMemory:
    """Samples the memory of a process and all its descendants in a thread: ``peak`` is the largest
    summed PSS (proportional set size: the tree's real share of memory, shared pages split among
    the processes sharing them), ``peak_rss`` the largest summed RSS (shared pages counted in every
    process: an overstatement, large after forks), in bytes."""

    def __init__(self, pid: int, interval: float = 0.1):
        self.pid, self.interval, self.peak, self.peak_rss = pid, interval, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "TreeMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> tuple[int, int]:
        """(summed PSS, summed RSS) of the tree now; PSS counts a page shared by k processes as 1/k
        in each (where the system does not report PSS, RSS is used for both)."""
        import psutil

        try:
            root = psutil.Process(self.pid)
            procs = [root] + root.children(recursive=True)
        except psutil.Error:
            return 0, 0
        pss = rss = 0
        for p in procs:
            try:
                info = p.memory_full_info()
                rss += info.rss
                pss += getattr(info, "pss", info.rss)
            except psutil.Error:
                pass
        return pss, rss

    def _run(self) -> None:
        while not self._stop.is_set():
            pss, rss = self.sample()
            self.peak, self.peak_rss = max(self.peak, pss), max(self.peak_rss, rss)
            self._stop.wait(self.interval)


def run_timed(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, log: Path | None = None) -> Run:
    """Run ``cmd``; time it, sample its process tree's memory, and split its time into the authority's
    own part and the cross-authority part (see :class:`Run`; seen in its output). Raises when the
    command fails."""
    env = env or clean_env()
    started = time.monotonic()
    marks: dict[str, float] = {}
    lines: list[str] = []
    stamped: list[str] = []  # the log's copy: each line with the seconds since the start
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None  # a pipe was asked for
    with TreeMemory(proc.pid) as memory:
        for line in proc.stdout:
            now = time.monotonic() - started
            lines.append(line)
            stamped.append(f"{now:8.2f}  {line}")
            if CROSS_MARK.search(line):
                marks.setdefault("cross", now)
        proc.wait()
    seconds = time.monotonic() - started
    if log:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"$ {' '.join(cmd)}  ({seconds:.1f} s)\n{''.join(stamped)}\n")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed in {cwd} (exit {proc.returncode}):\n{''.join(lines[-30:])}")
    split = marks.get("cross", seconds)
    chapters = sum(float(m.group(1)) for line in lines for m in AUTHORITY_DONE.finditer(line))
    return Run(seconds=round(seconds, 2), peak_mib=round(memory.peak / 2**20, 1),
               peak_rss_mib=round(memory.peak_rss / 2**20, 1),
               notebooks=sum(len(DONE_MARK.findall(line)) for line in lines),
               authority_s=round(split + chapters, 2), study_render_s=round(seconds - split, 2))


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}


def floor_per_notebook(venv: Path, work: Path, repeats: int = 3) -> float:
    """Seconds to start one kernel and import the notebooks' libraries (median of ``repeats``)."""
    import nbformat
    import papermill

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import cinreport.chapters.authority, cinreport.chapters.study, cinreport.chapters.report")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = work / "floor.ipynb"
    nbformat.write(nb, path)
    from cinreport.build.pipeline import _kernel_manager_class

    times = []
    warm_socket = os.environ.pop("CINREPORT_WARM", None)  # the floor is a cold kernel
    try:
        with tempfile.TemporaryFile("w+") as log:
            for _ in range(repeats):
                started = time.monotonic()
                papermill.execute_notebook(str(path), str(work / "floor-out.ipynb"), kernel_name="python3",
                                           progress_bar=False, log_output=False, cwd=str(work),
                                           kernel_manager_class=_kernel_manager_class(log))
                times.append(time.monotonic() - started)
    finally:
        if warm_socket is not None:
            os.environ["CINREPORT_WARM"] = warm_socket
    return round(statistics.median(times), 3)


# --------------------------------------------------------------------------------------------
# Workspaces


def copy_items(root: Path, dest: Path, items) -> Path:
    """Copy the named files and folders of a project, keeping modification times (so Make's view of
    what is up to date is unchanged); caches and build metadata are left out."""
    dest.mkdir(parents=True, exist_ok=True)
    for item in items:
        src = Path(root) / item
        if src.is_dir():
            shutil.copytree(src, dest / item, copy_function=shutil.copy2,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(src, dest / item)
    return dest


def make_workspace(root: Path, dest: Path, n: int, seed: int) -> Path:
    """A copy of the project at ``root`` with N fictional authorities instead of the demo ones."""
    from cinreport.data.config import load_report
    from cinreport.data.synth import write_many

    dest.mkdir(parents=True)
    copy_items(root, dest, PROJECT_ITEMS)
    (dest / "params" / "authorities").mkdir(parents=True)
    shutil.copy2(root / "params" / "report.yml", dest / "params" / "report.yml")
    (dest / "data").mkdir()
    shutil.copy2(root / "data" / "codebook.yml", dest / "data" / "codebook.yml")
    for name in ("requirements.lock", "pyproject.toml"):  # never newer than the environment's stamp:
        os.utime(dest / name, (0, 0))                     # the build must not reinstall the package
    report = load_report(dest / "params")
    write_many(dest, n, seed, (report.period_start, report.period_end))
    return dest


def change_one(project: Path, code: str, seed: int) -> None:
    """Regenerate one authority's data with another seed (valid, different content). Only that
    authority's folder is written: the study-wide sources (``data/sources.csv``) are every
    authority's input, so changing them is not "one authority changed"."""
    from cinreport.data.codebook import load_codebook
    from cinreport.data.config import load_report
    from cinreport.data.synth import generate_authority, varied_profile, write_authority

    report = load_report(project / "params")
    tables = generate_authority(code, varied_profile(seed, code), seed + 1, (report.period_start, report.period_end))
    write_authority(project / "data" / code, tables, load_codebook(project / "data" / "codebook.yml"))


def add_one(project: Path, n: int, seed: int) -> str:
    from cinreport.data.config import load_report
    from cinreport.data.synth import write_many

    report = load_report(project / "params")
    return write_many(project, 1, seed, (report.period_start, report.period_end), start=n + 1)[0]


def study_notebooks(project: Path | None = None) -> list[str]:
    """The study notebooks `make report` runs (:func:`cinreport.common.layout.study_chapters`, the one
    list; a test checks that ``notebooks/study/`` holds exactly these)."""
    from cinreport.common.layout import study_chapters

    return study_chapters()


def naive_commands(project: Path, venv: Path, codes: list[str]) -> list[list[str]]:
    """A sequential loop of papermill calls over every notebook, then a full render (the project's
    folders from :mod:`cinreport.common.layout`)."""
    from cinreport.common.layout import AUTHORITY_NOTEBOOK, BOOK, BUILD, PARAMS, study_notebook

    papermill = [str(venv / "bin" / "papermill"), "-k", "python3", "--cwd", ".", "--no-progress-bar"]
    cinreport = [str(venv / "bin" / "cinreport"), "--build", BUILD, "--params", PARAMS]
    cmds = []
    for code in codes:
        out = f"{BUILD}/authorities/{code}"
        cmds.append(papermill + [AUTHORITY_NOTEBOOK.as_posix(), f"{out}/authority.ipynb", "-p", "authority", code,
                                 "-p", "params_dir", PARAMS, "-p", "out_dir", out])
    for name in study_notebooks(project):
        cmds.append(papermill + [study_notebook(name).as_posix(), f"{BUILD}/study/{name}.ipynb",
                                 "-p", "params_dir", PARAMS, "-p", "build_dir", BUILD, "-p", "out_dir", f"{BUILD}/study"])
    cmds.insert(0, [*cinreport, "national"])  # the DfE context every chapter reads
    cmds.append([*cinreport, "render", "--out", BOOK])  # the book's chapters (book-config), then the book
    return cmds


def naive_script(cmds: list[list[str]]) -> str:
    import shlex

    lines = ["set -e"] + [f"mkdir -p {shlex.quote(str(Path(c[c.index('--no-progress-bar') + 2]).parent))} && "
                          f"{shlex.join(c)}" if "--no-progress-bar" in c else shlex.join(c) for c in cmds]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Driver


def bench_size(root: Path, venv: Path, n: int, jobs: int, seed: int, work: Path, floor: float,
               scenarios=SCENARIOS, naive: bool = True, log: Path | None = None) -> SizeResult:
    make = ["make", f"VENV={venv}", f"-j{jobs}", "report"]
    project = make_workspace(root, work / f"n{n}", n, seed)
    result = SizeResult(n=n, notebooks=n + len(study_notebooks(project)))
    result.floor_s = round(floor * result.notebooks / jobs, 2)
    for scenario in scenarios:
        if scenario == "change":
            change_one(project, "la-001", seed)
        elif scenario == "add":
            add_one(project, n, seed)
        _say(f"N={n}: {scenario} build ...")
        result.runs[scenario] = run_timed(make, project, log=log)
        _say(f"N={n}: {scenario} build {result.runs[scenario].seconds:.1f} s")
    shutil.rmtree(project, ignore_errors=True)
    if naive:
        project = make_workspace(root, work / f"n{n}-naive", n, seed)
        codes = sorted(p.stem for p in (project / "params" / "authorities").glob("*.yml"))
        _say(f"N={n}: naive baseline ...")
        result.naive = run_timed(["bash", "-c", naive_script(naive_commands(project, venv, codes))], project,
                                 log=log)
        _say(f"N={n}: naive baseline {result.naive.seconds:.1f} s")
        shutil.rmtree(project, ignore_errors=True)
    return result


def _say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def summary(results: list[SizeResult], floor: float, jobs: int) -> dict:
    sizes = []
    for r in results:
        sizes.append({"n": r.n, "notebooks": r.notebooks, "floor_s": r.floor_s,
                      "runs": {k: asdict(v) for k, v in r.runs.items()},
                      "naive": asdict(r.naive) if r.naive else None, **r.ratios(),
                      "peak_mib": max([v.peak_mib for v in r.runs.values()], default=0.0),
                      "peak_rss_mib": max([v.peak_rss_mib for v in r.runs.values()], default=0.0)})
    return {
        "machine": {"cores": os.cpu_count(), "jobs": jobs, "python": platform.python_version(),
                    "platform": platform.platform()},
        "floor_per_notebook_s": floor,
        "memory": ("peak_mib: peak of the summed PSS of the timed command's whole process tree (make, recipes, "
                   "server, kernels, renderer), sampled every 0.1 s; peak_rss_mib: the same with RSS "
                   "(shared pages counted once per process)"),
        "sizes": sizes,
        "targets": targets(sizes),
    }


def targets(sizes: list[dict]) -> dict[str, dict]:
    """The issue's targets, checked against the largest size measured (and the smallest)."""
    if not sizes:
        return {}
    big, small = max(sizes, key=lambda s: s["n"]), min(sizes, key=lambda s: s["n"])
    runs, out = big["runs"], {}
    if "noop" in runs:
        out["noop_under_2s"] = {"n": big["n"], "value": runs["noop"]["seconds"], "met": runs["noop"]["seconds"] < 2}
    for scenario in ("change", "add"):
        if scenario in runs and scenario in small["runs"]:
            ref = small["runs"][scenario]["authority_s"]
            value = runs[scenario]["authority_s"]
            out[f"{scenario}_independent_of_n"] = {"n": big["n"], "value": value, "n_small": small["n"],
                                                    "small": ref, "met": value <= 1.25 * ref}
            if "clean" in runs:
                share = runs[scenario]["study_render_s"] / runs["clean"]["seconds"]
                out[f"{scenario}_study_render_under_10pct_of_clean"] = {"n": big["n"], "value": round(share, 3),
                                                                        "met": share < 0.10}
    if big.get("naive_over_clean") is not None:
        out["clean_at_most_half_naive"] = {"n": big["n"], "value": big["naive_over_clean"],
                                           "met": big["naive_over_clean"] >= 2}
    if big.get("clean_over_floor") is not None:
        out["clean_within_1_5x_floor"] = {"n": big["n"], "value": big["clean_over_floor"],
                                          "met": big["clean_over_floor"] <= 1.5}
    out["peak_under_2gib"] = {"n": big["n"], "value": big["peak_mib"], "met": big["peak_mib"] < 2048}
    return out


def table(doc: dict) -> str:
    head = (f"{'N':>4} {'nbs':>4} {'clean':>7} {'no-op':>6} {'change':>7} {'(auth/study+render)':>19} "
            f"{'add':>7} {'naive':>7} {'naive/clean':>11} {'floor':>6} {'clean/floor':>11} {'peak MiB':>8}")
    lines = [head, "-" * len(head)]

    def sec(run) -> str:
        return f"{run['seconds']:.1f}" if run else "-"

    for s in doc["sizes"]:
        r = s["runs"]
        split = (f"{r['change']['authority_s']:.1f}/{r['change']['study_render_s']:.1f}" if "change" in r else "-")
        lines.append(f"{s['n']:>4} {s['notebooks']:>4} {sec(r.get('clean')):>7} {sec(r.get('noop')):>6} "
                     f"{sec(r.get('change')):>7} {split:>19} {sec(r.get('add')):>7} {sec(s['naive']):>7} "
                     f"{(s['naive_over_clean'] or 0):>11.2f} {s['floor_s']:>6.1f} {(s['clean_over_floor'] or 0):>11.2f} "
                     f"{s['peak_mib']:>8.0f} {s.get('peak_rss_mib', 0):>8.0f}")
    lines.append(f"floor per notebook (kernel start + imports): {doc['floor_per_notebook_s']:.2f} s; "
                 f"{doc['machine']['jobs']} jobs on {doc['machine']['cores']} cores; times in seconds")
    for name, t in doc["targets"].items():
        lines.append(f"  {'MET    ' if t['met'] else 'NOT MET'} {name}: {t['value']}")
    return "\n".join(lines)


def markdown(doc: dict) -> str:
    """The results as a Markdown table (for the README)."""
    rows = ["| N | notebooks | clean | no-op | one changed (authority + study/render) | one added (authority + study/render) "
            "| naive | naive ÷ clean | floor | clean ÷ floor | peak PSS (RSS) MiB |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in doc["sizes"]:
        r = s["runs"]

        def split(name: str, r: dict = r) -> str:
            run = r.get(name)
            return (f"{run['seconds']:.1f} ({run['authority_s']:.1f} + {run['study_render_s']:.1f})"
                    if run else "–")

        rows.append(f"| {s['n']} | {s['notebooks']} | {r['clean']['seconds']:.1f} | {r['noop']['seconds']:.2f} | "
                    f"{split('change')} | {split('add')} | {s['naive']['seconds']:.1f} | "
                    f"{s['naive_over_clean']:.2f} | {s['floor_s']:.1f} | {s['clean_over_floor']:.2f} | "
                    f"{s['peak_mib']:.0f} ({s.get('peak_rss_mib', 0):.0f}) |"
                    if s.get("naive") and "clean" in r and "noop" in r else f"| {s['n']} | (partial run) |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cinreport-bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=" ".join(map(str, SIZES)), help="numbers of authorities, e.g. '4 16'")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="make -j (default: cores)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="subset of " + ",".join(SCENARIOS))
    parser.add_argument("--no-naive", action="store_true", help="skip the naive baseline")
    parser.add_argument("--out", default="build/bench", help="folder for bench.json and bench.log")
    parser.add_argument("--work", default=None, help="folder for the temporary projects (default: system temp)")
    parser.add_argument("--seed", type=int, default=20220523)
    parser.add_argument("--root", default=".", help="the project to benchmark (default: here)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.replace(",", " ").split()]
    scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown or not sizes or min(sizes) < 1:
        parser.error(f"bad --sizes or --scenarios ({', '.join(sorted(unknown)) or args.sizes})")
    root, venv, out = Path(args.root).resolve(), Path(sys.prefix), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "bench.log"
    log.write_text("", encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="cinreport-bench-", dir=args.work) as tmp:
        work = Path(tmp)
        _say("measuring the floor (one kernel start + imports) ...")
        floor = floor_per_notebook(venv, work)
        results = [bench_size(root, venv, n, args.jobs, args.seed, work, floor, scenarios, not args.no_naive, log)
                   for n in sizes]
    doc = summary(results, floor, args.jobs)
    from cinreport.common.atomic import write_json

    write_json(out / "bench.json", doc)
    print(table(doc))
    print(f"written: {out / 'bench.json'} (build output in {log})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
