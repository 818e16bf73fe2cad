"""The build graph is narrow: each step depends on the package sources it runs (cinreport.build.sourcedeps),
so a renderer edit re-renders only and an analysis edit re-runs what reads it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cinreport.build.sourcedeps import assets, closure, step_sources
from conftest import ROOT, make

ANALYSIS = {"chapters.findings", "analysis.stats", "disclosure.publication", "disclosure.plan", "analysis.measures",
            "disclosure.attack", "chapters.study", "chapters.authority", "chapters.national", "chapters.profiles"}


def _modules(files: list[str]) -> set[str]:
    """Module names relative to the package (``chapters.study``; a package's ``__init__`` as ``x.__init__``)."""
    return {".".join(Path(f).relative_to("src/cinreport").with_suffix("").parts) for f in files if f.endswith(".py")}


def test_each_step_depends_on_what_it_runs_and_not_on_the_rest():
    steps = {var: _modules(files) for var, files in step_sources(ROOT).items()}
    assert all("cli" in mods and "__init__" in mods for mods in steps.values())
    assert "render.renderer" in steps["PKG_RENDER"] and not steps["PKG_RENDER"] & ANALYSIS
    for var in ("PKG_AUTHORITY", "PKG_STUDY", "PKG_PUBLISH", "PKG_ANALYSE", "PKG_VALIDATE"):
        assert "render.renderer" not in steps[var], var  # the renderer is not run by any notebook or pass
        assert "data.synth" not in steps[var], var  # the demo generator neither
        assert not any(m.startswith("build.") and m != "build.pipeline" and m != "build.__init__"
                       for m in steps[var] - {"build.warm"}), (var, steps[var])
    assert {"disclosure.publication", "disclosure.plan", "disclosure.attack"} <= steps["PKG_PUBLISH"]
    assert {"chapters.findings", "analysis.stats"} <= steps["PKG_ANALYSE"]
    assert {"chapters.authority", "analysis.measures"} <= steps["PKG_AUTHORITY"]  # the notebook's imports count
    assert {"chapters.study", "chapters.profiles", "chapters.provenance"} <= steps["PKG_STUDY"]
    assert steps["PKG_NATIONAL"] >= {"national.data", "national.dfe"} and not steps["PKG_NATIONAL"] & ANALYSIS


def test_the_closure_follows_function_level_and_relative_imports(tmp_path):
    src = tmp_path / "src" / "cinreport"
    src.mkdir(parents=True)
    (src / "__init__.py").write_text("")
    (src / "a.py").write_text("def f():\n    from .b import g\n    return g()\n")
    (src / "b.py").write_text("from cinreport import c\n")
    (src / "c.py").write_text("import os\n")
    (src / "d.py").write_text("import cinreport.a\n")  # imports a, nothing imports d
    found = {p.name for p in closure({"cinreport.a"}, src)}
    assert found == {"__init__.py", "a.py", "b.py", "c.py"}


def test_the_render_also_depends_on_the_package_assets(tmp_path):
    src = tmp_path / "src" / "cinreport"
    (src / "assets").mkdir(parents=True)
    (src / "assets" / "book.css").write_text("body {}")
    (src / "x.py").write_text("")
    assert assets(tmp_path) == ["src/cinreport/assets/book.css"]


def _plan(project: Path) -> str:
    return make(project, "-n", "report").stdout


@pytest.mark.parametrize("module, runs, skips", [
    ("render/renderer.py", ["render --out"], ["run-study", "run-authority", "publish", "analyse", "validate --authority"]),
    ("chapters/findings.py", ["analyse", "run-study key_findings", "render --out"], ["validate --authority"]),
    ("national/data.py", ["national", "run-authority", "run-study national"], []),
])
def test_editing_one_module_plans_only_the_steps_that_run_it(built_project, tmp_path, module, runs, skips):
    project = tmp_path / "p"
    shutil.copytree(built_project, project, copy_function=shutil.copy2, symlinks=True)
    assert "render --out" not in _plan(project)  # up to date
    with (project / "src" / "cinreport" / module).open("a", encoding="utf-8") as f:
        f.write("\n# an edit\n")
    plan = _plan(project)
    for step in runs:
        assert step in plan, (module, step, plan)
    for step in skips:
        assert step not in plan, (module, step, plan)


@pytest.mark.slow
def test_every_study_notebook_is_in_the_book_and_every_book_chapter_has_one():
    """One list of study chapters (cinreport.common.layout): notebooks/study/ holds exactly its notebooks,
    the Makefile (through deps.mk) and the benchmark execute each, and the book places each (or its
    landing page includes the Markdown one writes)."""
    import re

    from cinreport.common import layout
    from cinreport.common.layout import study_chapters
    from cinreport_dev.bench import study_notebooks

    names = study_chapters()
    assert names == sorted(p.stem for p in (ROOT / layout.STUDY_NOTEBOOKS).glob("*.ipynb"))
    assert study_notebooks(ROOT) == names
    book = layout.book_chapters([], layout.BUILD)

    def entries(items):
        for item in items:
            if isinstance(item, dict):
                yield from entries(item.get("chapters", []))
            else:
                yield item

    listed = list(entries(book["chapters"])) + list(entries(book["appendices"]))
    placed = {Path(p).stem for p in listed if p.startswith("build/study/")}
    for page in (p for p in listed if p.endswith(".qmd")):
        assert (ROOT / page).is_file(), page
        if f"{{{{< include {layout.SUMMARY_INCLUDE} >}}}}" in (ROOT / page).read_text(encoding="utf-8"):
            placed.add(layout.SUMMARY.stem)  # the summary notebook writes <build>/study/summary.md
    assert placed == set(names) and set(layout.INCLUDED_STUDY) == {layout.SUMMARY.stem}
    expanded = make(ROOT, "--no-print-directory", "-s", "--eval", "print-study: ; @echo STUDY: $(STUDY)",
                    "print-study").stdout  # as Make sees it (run from `make test`, a sub-make)
    line = next(x for x in expanded.splitlines() if x.startswith("STUDY:"))
    assert line.split()[1:] == names
    assert not re.search(r"^\s*-\s*\S+\.ipynb", (ROOT / "_quarto.yml").read_text(encoding="utf-8"), re.M)  # none listed there


def test_the_answer_is_kept_until_a_source_changes(tmp_path):
    """deps.mk is written by every build: the sources are read again only when one of them changes."""
    import os

    from cinreport.build.sourcedeps import make_lines

    src = tmp_path / "src" / "cinreport"
    src.mkdir(parents=True)
    (src / "__init__.py").write_text("")
    (src / "render.py").write_text("")
    (src / "cli.py").write_text("".join(f"def {fn}():\n    from . import render\n" for fn in (
        "cmd_validate", "cmd_publish", "cmd_analyse", "cmd_findings", "cmd_national", "cmd_run_authority",
        "cmd_run_study", "cmd_book_config", "cmd_render")))
    cache = tmp_path / "sourcedeps.json"
    first = make_lines(tmp_path, cache)
    assert cache.is_file() and any("render.py" in line for line in first)
    assert make_lines(tmp_path, cache) == first  # the same sources: the kept answer
    (src / "extra.py").write_text("")
    (src / "render.py").write_text("from . import extra\n")
    os.utime(src / "render.py", ns=(1, 1))  # even with an old time: the size changed
    assert any("extra.py" in line for line in make_lines(tmp_path, cache))
