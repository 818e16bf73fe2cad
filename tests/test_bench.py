"""Scale: many synthetic authorities, the PDF layout, progress lines, the render cache, the warm
server and the benchmark (which runs here at N = 2 with tiny settings; no timing is asserted)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from cinreport.build import pipeline, warm
from cinreport.data import synth
from cinreport.data.codebook import load_codebook
from cinreport.data.config import ParamsError, load_authorities, load_report
from cinreport.data.validate import validate_authority
from cinreport.render import renderer as render
from cinreport_dev import bench
from conftest import ROOT

REPORT = load_report(ROOT / "params")
PERIOD = (REPORT.period_start, REPORT.period_end)
CLI = Path(sys.executable).with_name("cinreport")


def small_project(tmp_path: Path, n: int, report_extra: str = "") -> Path:
    project = tmp_path / "project"
    (project / "params" / "authorities").mkdir(parents=True)
    (project / "data").mkdir()
    (project / "data" / "codebook.yml").write_bytes((ROOT / "data" / "codebook.yml").read_bytes())
    (project / "params" / "report.yml").write_text(
        "period_start: 2019-04-01\nperiod_end: 2021-03-31\n" + report_extra, encoding="utf-8")
    synth.write_many(project, n, REPORT.seed, PERIOD, codebook=load_codebook(ROOT / "data" / "codebook.yml"))
    return project


# --------------------------------------------------------------------------------------------
# many authorities


def test_many_gives_numbered_codes_and_seeded_varied_profiles():
    first, again = synth.many(5, 1), synth.many(5, 1)
    assert list(first) == ["la-001", "la-002", "la-003", "la-004", "la-005"]
    assert first == again
    assert len({p.plan_median_days for p in first.values()}) == 5
    assert synth.many(2, 1, start=4) == {"la-004": first["la-004"], "la-005": first["la-005"]}
    with pytest.raises(ValueError):
        synth.many(-1, 1)


def test_write_many_makes_a_valid_project(tmp_path):
    project = small_project(tmp_path, 3)
    authorities = load_authorities(project / "params", root=project)
    assert [(a.code, a.name) for a in authorities] == [
        ("la-001", "Authority 001"), ("la-002", "Authority 002"), ("la-003", "Authority 003")]
    codebook = load_codebook(project / "data" / "codebook.yml")
    for a in authorities:
        assert validate_authority(a, codebook)[1] == []


def test_synth_cli_writes_n_authorities(tmp_path):
    project = tmp_path / "p"
    (project / "params").mkdir(parents=True)
    (project / "params" / "report.yml").write_bytes((ROOT / "params" / "report.yml").read_bytes())
    (project / "data").mkdir()
    (project / "data" / "codebook.yml").write_bytes((ROOT / "data" / "codebook.yml").read_bytes())
    proc = subprocess.run([str(CLI), "synth", "--authorities", "2", "--start", "7", "--out", "data"], cwd=project,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (project / "params" / "authorities").iterdir()) == ["la-007.yml", "la-008.yml"]
    assert sorted(p.name for p in (project / "data" / "la-008").iterdir()) == [
        "admin.csv", "case_files.csv", "sources.csv", "support.csv", "themes.csv"]


# --------------------------------------------------------------------------------------------
# the PDF layout (pdf_profiles)


@pytest.mark.parametrize("value, codes, expected", [
    ("auto", 4, 4), ("auto", 13, 0), ("all", 13, 13), ("none", 4, 0), ("[la-002, la-003]", 4, 2)])
def test_pdf_profiles_choose_the_profiles_in_the_pdf(tmp_path, value, codes, expected):
    project = small_project(tmp_path, codes, f"pdf_profiles: {value}\n")
    report = load_report(project / "params")
    chosen = report.pdf_profile_codes([a.code for a in load_authorities(project / "params", root=project)])
    assert len(chosen) == expected
    if value.startswith("["):
        assert chosen == ["la-002", "la-003"]


@pytest.mark.parametrize("value, message", [
    ("some", "key 'pdf_profiles' must be auto, all, none or a list of authority codes"),
    ("[La-A]", "key 'pdf_profiles' must be auto, all, none or a list of authority codes"),
    ("[la-009]", "key 'pdf_profiles' names authorities with no params file: la-009"),
])
def test_bad_pdf_profiles_are_reported(tmp_path, value, message):
    project = small_project(tmp_path, 2, f"pdf_profiles: {value}\n")
    with pytest.raises(ParamsError) as exc:
        load_authorities(project / "params", root=project)
    assert any(message in p for p in exc.value.problems), exc.value.problems


def test_excluded_chapters_follow_pdf_profiles(tmp_path, monkeypatch):
    from cinreport.cli import pdf_excluded_chapters

    project = small_project(tmp_path, 3, "pdf_profiles: [la-002]\n")
    assert pdf_excluded_chapters(str(project / "params"), "build") == {
        "build/authorities/la-001/authority.ipynb", "build/authorities/la-003/authority.ipynb"}


# --------------------------------------------------------------------------------------------
# progress lines


def test_progress_line_counts_notebooks_and_shows_elapsed_time(tmp_path):
    env = {warm.PROGRESS_ENV: str(tmp_path / ".progress"), warm.TOTAL_ENV: "157",
           warm.STARTED_ENV: repr(time.time() - 72)}
    first = pipeline.progress_line("authority la-001", 2.44, env)
    second = pipeline.progress_line("study chapter reasons", 1.0, env)
    assert first == "[  1/157] authority la-001 executed in 2.4 s (elapsed 1:12)"
    assert second.startswith("[  2/157] study chapter reasons executed in 1.0 s (elapsed 1:1")


def test_progress_line_outside_a_build():
    assert pipeline.progress_line("authority la-a", 3.0, {}) == "[cinreport] authority la-a executed in 3.0 s"


# --------------------------------------------------------------------------------------------
# the render cache and the sidebar


def _doc(path: str, part: str | None, page: str) -> render._Doc:
    return render._Doc(render.Chapter(Path(path), part, False, 1, "1"), page, {"title": page}, [1, 23], "[]")


def test_long_parts_are_folded_in_the_sidebar(tmp_path):
    meta = {"title": "Book", "subtitle": "", "lang": "en-GB"}

    def sidebar(docs, current):
        render._write_pages(tmp_path, docs, [("", "")] * len(docs), meta, "test")
        return (tmp_path / current.page).read_text(encoding="utf-8").replace("\n", "")

    docs = [_doc("index.qmd", None, "index.html")] + [
        _doc(f"build/authorities/la-{i:03d}/authority.ipynb", "Authority profiles", f"la-{i:03d}.html")
        for i in range(1, render.NAV_FOLD + 2)]
    closed = sidebar(docs, docs[0])
    opened = sidebar(docs, docs[5])
    assert f'<details><summary class="part-title">Authority profiles ({render.NAV_FOLD + 1})</summary>' in closed
    assert "<details open>" in opened and 'href="la-005.html" aria-current="page"' in opened
    short = sidebar(docs[:4], docs[0])
    assert "<details" not in short and '<span class="part-title">Authority profiles</span>' in short


def test_stable_notebook_ignores_papermill_timings():
    nb = {"cells": [{"cell_type": "code", "metadata": {"papermill": {"duration": 1.2}, "tags": ["x"]},
                     "source": "1", "outputs": []}], "metadata": {"papermill": {"end_time": "t1"}}}
    other = json.loads(json.dumps(nb))
    other["metadata"]["papermill"]["end_time"] = "t2"
    other["cells"][0]["metadata"]["papermill"]["duration"] = 9.9
    assert render._stable_notebook(json.dumps(nb).encode()) == render._stable_notebook(json.dumps(other).encode())
    other["cells"][0]["source"] = "2"
    assert render._stable_notebook(json.dumps(nb).encode()) != render._stable_notebook(json.dumps(other).encode())
    assert render._stable_notebook(b"not json") is None


def test_cache_reuses_conversions_and_drops_unused_ones(tmp_path, monkeypatch):
    (tmp_path / "chapter.md").write_text("# Title\n\nSome text.\n", encoding="utf-8")
    chapter = render.Chapter(Path("chapter.md"), None, False, 1, "1")
    context = {"book": {}, "build": {}, "profiles": []}

    def prepare(cache):
        return render._chapter_doc(tmp_path, chapter, "chapter.html", context, tmp_path / "work", tmp_path / "out", cache)

    first = prepare(render.PandocCache(tmp_path / "cache"))
    (tmp_path / "cache" / "stale-entry").write_text("{}", encoding="utf-8")

    def refuse(*args, **kwargs):
        raise AssertionError("Pandoc was run for an unchanged chapter")

    monkeypatch.setattr(render, "_pandoc", refuse)
    again = render.PandocCache(tmp_path / "cache")
    doc = prepare(again)
    assert (doc.info, doc.blocks, doc.key) == (first.info, first.blocks, first.key) and doc.title == "1 Title"
    again.prune()
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(again.used)


# --------------------------------------------------------------------------------------------
# the warm server


def test_command_of_skips_global_options():
    assert warm.command_of(["--build", "b", "--params", "p", "run-authority", "la-a"]) == "run-authority"
    assert warm.command_of(["render", "--out", "x"]) == "render"
    assert warm.command_of(["--build", "b"]) is None


@pytest.fixture
def server(tmp_path):
    sock = tmp_path / "warm.sock"
    proc = subprocess.Popen([sys.executable, "-m", "cinreport", "warm-serve", str(sock)], cwd=ROOT)
    deadline = time.monotonic() + 60
    while not sock.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sock.exists(), "the warm server did not start"
    yield sock, proc
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)
    assert not sock.exists(), "the server left its socket behind"


def test_commands_run_in_a_warm_worker_with_the_callers_streams_and_status(server, tmp_path):
    sock, proc = server
    env = {**os.environ, warm.SOCKET_ENV: str(sock), warm.PID_ENV: str(proc.pid)}
    ok = subprocess.run([str(CLI), "validate", "--authority", "la-a"], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=120)
    assert (ok.returncode, ok.stdout.strip()) == (0, "valid: la-a")
    bad = subprocess.run([str(CLI), "validate", "--authority", "la-zz"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "unknown authority: la-zz" in bad.stderr


def test_notebook_kernels_are_forked_by_the_server(server, tmp_path, monkeypatch):
    sock, proc = server
    monkeypatch.setenv(warm.SOCKET_ENV, str(sock))
    monkeypatch.setenv(warm.PID_ENV, str(proc.pid))
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("x: int = 1", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("import os, sys\nprint(os.getppid(), 'pandas' in sys.modules, x)")]
    source = tmp_path / "nb.ipynb"
    nbformat.write(nb, source)
    out = pipeline.run_notebook(source, tmp_path / "out.ipynb", {"x": 7}, failed_dir=tmp_path / "failed")
    text = nbformat.read(out, as_version=4).cells[-1].outputs[0]["text"].split()
    assert text == [str(proc.pid), "True", "7"]  # a child of the server, libraries already imported


def test_without_a_server_commands_run_here(monkeypatch):
    monkeypatch.setenv(warm.SOCKET_ENV, "/nonexistent/warm.sock")
    monkeypatch.setenv(warm.PID_ENV, "999999999")
    assert warm.client_run(["validate"]) is None
    assert warm.fork_kernel([sys.executable, "-m", "ipykernel_launcher", "-f", "x.json"], {}, ".", 2) is None


# --------------------------------------------------------------------------------------------
# the benchmark


def test_bench_table_and_targets():
    run = {"seconds": 10.0, "peak_mib": 100.0, "notebooks": 3, "authority_s": 2.0, "study_render_s": 8.0}
    doc = {"machine": {"jobs": 2, "cores": 2}, "floor_per_notebook_s": 2.0,
           "sizes": [{"n": 4, "notebooks": 13, "floor_s": 13.0, "runs": {"clean": run, "noop": dict(run, seconds=0.5),
                                                                            "change": run},
                      "naive": dict(run, seconds=30.0), "naive_over_clean": 3.0, "clean_over_floor": 0.77,
                      "peak_mib": 100.0}]}
    doc["targets"] = bench.targets(doc["sizes"])
    assert doc["targets"]["noop_under_2s"]["met"] and doc["targets"]["clean_at_most_half_naive"]["met"]
    assert not doc["targets"]["change_study_render_under_10pct_of_clean"]["met"]
    text = bench.table(doc)
    assert text.splitlines()[2].split()[:5] == ["4", "13", "10.0", "0.5", "10.0"]
    assert "NOT MET change_study_render_under_10pct_of_clean" in text


def test_naive_baseline_is_a_sequential_papermill_loop_then_a_render(tmp_path):
    from cinreport.common.layout import study_chapters

    names = study_chapters()  # the study notebooks make executes, from the one layout
    cmds = bench.naive_commands(tmp_path, Path("/v"), ["la-001", "la-002"])
    assert [c[0] for c in cmds] == ["/v/bin/cinreport"] + ["/v/bin/papermill"] * (2 + len(names)) + ["/v/bin/cinreport"]
    assert cmds[-1][1:] == ["--build", "build", "--params", "params", "render", "--out", "_book"]  # a real render
    cmds = cmds[1:]
    first = " ".join(cmds[0])
    assert "notebooks/authority.ipynb build/authorities/la-001/authority.ipynb -p authority la-001" in first
    assert "-k python3 --cwd ." in first
    assert cmds[2][cmds[2].index("--no-progress-bar") + 1] == f"notebooks/study/{names[0]}.ipynb"  # sorted
    assert "mkdir -p build/authorities/la-001 && " in bench.naive_script(cmds)


@pytest.mark.e2e
def test_bench_runs_and_writes_json(tmp_path):
    out = tmp_path / "bench"
    code = bench.main(["--sizes", "2", "--scenarios", "clean,noop", "--no-naive", "--out", str(out),
                       "--root", str(ROOT), "--work", str(tmp_path)])
    assert code == 0
    doc = json.loads((out / "bench.json").read_text(encoding="utf-8"))
    (size,) = doc["sizes"]
    assert size["n"] == 2 and set(size["runs"]) == {"clean", "noop"}
    assert size["runs"]["clean"]["notebooks"] == size["notebooks"]  # every notebook executed once
    assert size["runs"]["noop"]["notebooks"] == 0
    assert size["runs"]["clean"]["peak_mib"] > 50 and doc["floor_per_notebook_s"] > 0
    assert "noop_under_2s" in doc["targets"]


def test_a_warm_kernel_that_dies_at_start_is_replaced_by_a_cold_one(tmp_path, monkeypatch):
    import papermill

    monkeypatch.setenv(warm.SOCKET_ENV, str(tmp_path / "warm.sock"))
    calls = []

    def execute(source, output, **kwargs):
        calls.append(os.environ.get(warm.DISABLE_ENV))
        if len(calls) == 1:
            raise RuntimeError("Kernel died before replying to kernel_info")
        nb = nbformat.read(source, as_version=4)
        nb.metadata["papermill"] = {}
        nbformat.write(nb, output)

    monkeypatch.setattr(papermill, "execute_notebook", execute)
    monkeypatch.setattr(pipeline, "check_parameters", lambda *a: None)
    nb = nbformat.v4.new_notebook()
    nbformat.write(nb, tmp_path / "nb.ipynb")
    pipeline.run_notebook(tmp_path / "nb.ipynb", tmp_path / "out.ipynb", {}, failed_dir=tmp_path / "failed")
    assert calls == [None, "1"] and (tmp_path / "out.ipynb").is_file()
    assert warm.DISABLE_ENV not in os.environ


@pytest.mark.slow
def test_forked_kernels_end_with_the_server(tmp_path):
    """A build killed with SIGKILL takes its server with it; the kernels it forked must not stay."""
    sock = tmp_path / "warm.sock"
    server = subprocess.Popen([sys.executable, "-m", "cinreport", "warm-serve", str(sock)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        env = {**os.environ, warm.SOCKET_ENV: str(sock), warm.PID_ENV: str(server.pid)}
        code = ("import os, sys, time\nfrom cinreport.build import warm\n"
                "k = warm.fork_kernel([sys.executable, '-m', 'ipykernel_launcher', '-f', sys.argv[1]], dict(os.environ),"
                " '.', 2)\nprint(k.pid, flush=True)\ntime.sleep(60)\n")
        conn_file = tmp_path / "kernel.json"
        from jupyter_client.connect import write_connection_file

        write_connection_file(str(conn_file))
        driver = subprocess.Popen([sys.executable, "-c", code, str(conn_file)], env=env, stdout=subprocess.PIPE,
                                  text=True)
        kernel = int(driver.stdout.readline())
        assert warm._alive(kernel)
        server.kill()
        server.wait()
        deadline = time.monotonic() + 10
        while warm._alive(kernel) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not warm._alive(kernel), "a forked kernel outlived its server"
    finally:
        for proc in (server, locals().get("driver")):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


def test_progress_line_without_a_plan_counts_only(tmp_path):
    env = {warm.PROGRESS_ENV: str(tmp_path / ".progress"), warm.STARTED_ENV: repr(time.time())}
    assert pipeline.progress_line("authority la-a", 1.0, env) == "[1] authority la-a executed in 1.0 s (elapsed 0:00)"


def test_render_with_cache_and_pdf_exclusion(tmp_path, monkeypatch):
    """The cached render gives the same HTML; an excluded chapter is in the HTML book, not the PDF."""
    import typst

    from test_render import _make_book

    root = _make_book(tmp_path / "b")
    render.render_book(root, root / "cold", renderer="pandoc-typst")
    sources = []
    compile_pdf = typst.compile

    def capture(path, output, root):
        sources.append(Path(path).read_text(encoding="utf-8"))
        return compile_pdf(path, output=output, root=root)

    monkeypatch.setattr(typst, "compile", capture)
    exclude = {"build/authorities/la-a/authority.ipynb"}
    for out in ("warm1", "warm2"):
        render.render_book(root, root / out, renderer="pandoc-typst", cache_dir=root / "cache", pdf_exclude=exclude)
    for page in ("index.html", "la-a.html", "reasons.html"):
        assert (root / "warm2" / page).read_bytes() == (root / "cold" / page).read_bytes()
    assert len(sources) == 2 and "plans-la-a" not in sources[-1] and "plans-reasons" in sources[-1]
    assert "chapter: build/authorities/la-a/authority.ipynb" not in sources[-1]


def test_bench_markdown_table_for_the_readme():
    run = {"seconds": 10.0, "peak_mib": 100.0, "peak_rss_mib": 300.0, "notebooks": 3, "authority_s": 2.0,
           "study_render_s": 8.0}
    doc = {"sizes": [{"n": 4, "notebooks": 13, "floor_s": 13.0, "runs": {"clean": run, "noop": run, "change": run},
                      "naive": dict(run, seconds=30.0), "naive_over_clean": 3.0, "clean_over_floor": 0.77,
                      "peak_mib": 100.0, "peak_rss_mib": 300.0}]}
    row = bench.markdown(doc).splitlines()[2]
    assert row == "| 4 | 13 | 10.0 | 10.00 | 10.0 (2.0 + 8.0) | – | 30.0 | 3.00 | 13.0 | 0.77 | 100 (300) |"


def test_many_authorities_get_a_dot_per_authority_not_a_bar(tmp_path):
    import pandas as pd

    from cinreport.chapters.study import Study
    from cinreport.common.layout import MANY_AUTHORITIES
    from cinreport.data.config import load_report
    from store_support import store_for_counts

    study = Study(load_report(ROOT / "params"), [], {}, {}, None, tmp_path, "x")
    few = pd.DataFrame({f"A{i}": [10, 20, 30] for i in range(3)}, index=["p", "q", "r"])
    many = pd.DataFrame({f"A{i}": [10, 20, 30 + i] for i in range(MANY_AUTHORITIES + 1)}, index=["p", "q", "r"])
    study._pub = store_for_counts(few, "few")
    bars = study.share_figure("few", "few", "Few", "Grouped bars.", "Per cent")
    study._pub = store_for_counts(many, "many")
    dots = study.share_figure("many", "many", "Many", "Grouped bars.", "Per cent")
    assert "Grouped bars." in bars and (tmp_path / "figures" / "few.png").is_file()
    assert f"one dot per authority ({MANY_AUTHORITIES + 1} authorities)" in dots
    assert (tmp_path / "figures" / "many.png").read_bytes().startswith(b"\x89PNG")


def test_the_cross_authority_part_of_a_timed_build_starts_with_the_disclosure_pass(tmp_path):
    """The pass and the findings' tests compare authorities, so their time is cross-authority time;
    the authority's own part is the time before them plus its chapter's own execution time."""
    script = ("sleep 0.5; echo '[cinreport] disclosure pass over everything 4 authorities publish -> build/published'; "
              "sleep 1; echo '[ 1/3] authority la-a executed in 1.5 s'; "
              "echo '[cinreport] authority la-b kept: its published numbers did not change'; "
              "echo '[cinreport] running study-reasons -> build/study/reasons.ipynb'; "
              "echo '[ 2/3] study chapter reasons executed in 0.1 s'")
    run = bench.run_timed(["bash", "-c", script], tmp_path)
    assert run.study_render_s >= 1.0
    assert 2.0 <= run.authority_s < 2.0 + (run.seconds - 1.0)  # 0.5 s before the pass + 1.5 s of chapter
    assert run.notebooks == 2


def test_the_change_scenario_changes_one_authoritys_files_and_nothing_else(tmp_path):
    """"One authority changed" must not touch the study-wide inputs (data/sources.csv): a build would
    then re-validate and re-run every authority, and the benchmark would time the wrong thing."""
    project = small_project(tmp_path, 3)

    def contents():
        return {p.relative_to(project).as_posix(): p.read_bytes() for p in sorted(project.rglob("*")) if p.is_file()}

    before = contents()
    bench.change_one(project, "la-002", REPORT.seed)
    after = contents()
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert changed and all(k.startswith("data/la-002/") for k in changed), changed


def test_the_dry_run_counts_notebooks_and_says_whether_it_succeeded(tmp_path):
    """The supervisor's dry run refreshes deps.mk (make runs an included makefile's recipe even with
    -n); only a successful one lets the real run skip `cinreport deps`."""
    script = tmp_path / "fake-make"
    script.write_text("#!/bin/sh\necho 'x/cinreport run-authority la-a'\necho 'x/cinreport run-study methods'\n"
                      "exit ${FAKE_STATUS:-0}\n")
    script.chmod(0o755)
    assert warm.planned_notebooks([str(script)], dict(os.environ)) == (2, True)
    assert warm.planned_notebooks([str(script)], {**os.environ, "FAKE_STATUS": "2"}) == (2, False)
    assert warm.planned_notebooks([str(tmp_path / "missing")], dict(os.environ)) == (0, False)
