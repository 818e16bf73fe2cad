"""One definition of the project's layout (cinreport.common.layout), read by the command line, the
Makefile (through deps.mk), the book's configuration (the generated profile of chapters), the renderer
and the benchmark; and a build folder chosen with ``--build`` / ``BUILD=`` honoured by every step."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import yaml

from cinreport.common import layout
from cinreport.render import renderer
from conftest import ROOT, copy_project, make


def test_the_sidebar_folds_a_part_at_the_many_authorities_limit():
    """One limit: the part of authority profiles folds exactly when the tables show the spread and
    pdf_profiles: auto leaves the profiles out of the PDF (tests/test_bench.py checks the folding)."""
    assert renderer.NAV_FOLD is layout.MANY_AUTHORITIES


def test_the_makefile_and_the_quarto_config_name_the_layouts_folders_and_profile():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(rf"^BUILD \?= {re.escape(layout.BUILD)}$", makefile, re.M)
    assert re.search(rf"^BOOK_DIR \?= {re.escape(layout.BOOK)}$", makefile, re.M)
    assert re.search(rf"^BOOK_PROFILE := _quarto-{layout.BOOK_PROFILE}\.yml$", makefile, re.M)
    assert "wildcard notebooks/study" not in makefile  # the study chapters come from deps.mk
    config = yaml.safe_load((ROOT / "_quarto.yml").read_text(encoding="utf-8"))
    assert config["profile"]["default"] == layout.BOOK_PROFILE
    assert "chapters" not in config["book"] and "appendices" not in config["book"]  # all in the profile
    assert config["project"]["output-dir"] == layout.BOOK
    assert f"{{{{< include {layout.SUMMARY_INCLUDE} >}}}}" in (ROOT / "index.qmd").read_text(encoding="utf-8")
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert f"_quarto-{layout.BOOK_PROFILE}.yml" in ignored and layout.SUMMARY_INCLUDE in ignored


def test_the_book_lists_the_chapters_of_the_build_folder_given(tmp_path):
    inside = layout.book_chapters(["la-a"], "out/b", root=tmp_path)
    assert inside["chapters"][0] == "index.qmd" and inside["chapters"][1] == "out/b/study/methods.ipynb"
    assert inside["chapters"][-1] == {"part": layout.AUTHORITY_PART, "chapters": ["out/b/authorities/la-a/authority.ipynb"]}
    assert inside["appendices"] == [f"out/b/study/{n}.ipynb" for n in layout.APPENDICES]
    assert layout.book_chapters([], tmp_path / "x", root=tmp_path)["appendices"][0] == "x/study/data_dictionary.ipynb"
    outside = layout.book_chapters(["la-a"], tmp_path / "elsewhere", root=tmp_path / "project")
    assert outside["chapters"][1] == f"{(tmp_path / 'elsewhere').as_posix()}/study/methods.ipynb"  # absolute
    assert all(c["part"] != layout.AUTHORITY_PART for c in layout.book_chapters([], "build")["chapters"]
               if isinstance(c, dict))  # no authorities: no empty part


def test_deps_and_book_config_write_for_the_build_folder_given(tmp_path, monkeypatch):
    from cinreport.cli import main

    project = copy_project(tmp_path / "p")
    monkeypatch.chdir(project)
    assert main(["--build", "out/b", "deps"]) == 0
    deps = (project / "out" / "b" / "deps.mk").read_text(encoding="utf-8")
    assert f"STUDY := {' '.join(layout.study_chapters())}\n" in deps
    profile = yaml.safe_load((project / f"_quarto-{layout.BOOK_PROFILE}.yml").read_text(encoding="utf-8"))
    codes = sorted(p.stem for p in (project / "params" / "authorities").glob("*.yml"))
    assert profile == {"book": layout.book_chapters(codes, "out/b")}
    assert not (project / "build").exists()
    assert main(["book-config"]) == 0  # the default build folder: the profile follows
    profile = yaml.safe_load((project / f"_quarto-{layout.BOOK_PROFILE}.yml").read_text(encoding="utf-8"))
    assert profile["book"]["chapters"][1] == "build/study/methods.ipynb"


@pytest.mark.e2e
def test_make_report_with_build_elsewhere_writes_only_there_and_publishes_that_build(tmp_path):
    """`make report BUILD=<folder outside the project>`: every step (validation, the pass, the
    notebooks and their parameters, provenance, the book's chapters, its summary and open data) uses
    that folder; the project gains only the book and the book's generated configuration."""
    from cinreport.common.opendata import open_tables

    project = copy_project(tmp_path / "p")
    for extra in sorted((project / "params" / "authorities").glob("*.yml"))[2:]:  # two authorities: small
        extra.unlink()
    codes = sorted(p.stem for p in (project / "params" / "authorities").glob("*.yml"))
    before = {p.relative_to(project).as_posix() for p in project.rglob("*")}
    build = tmp_path / "b"
    make(project, "-j2", "report", f"BUILD={build}")
    added = {p.relative_to(project).parts[0] for p in project.rglob("*")
             if p.relative_to(project).as_posix() not in before}
    assert added == {layout.BOOK, f"_quarto-{layout.BOOK_PROFILE}.yml", layout.SUMMARY_INCLUDE}, added
    assert not (project / layout.BUILD).exists()
    # the notebooks were executed with that folder's parameters, and provenance records them
    for name in layout.study_chapters():
        nb = json.loads((build / "study" / f"{name}.ipynb").read_text(encoding="utf-8"))
        assert nb["metadata"]["papermill"]["parameters"]["build_dir"] == str(build), name
    for code in codes:
        nb = json.loads((build / "authorities" / code / "authority.ipynb").read_text(encoding="utf-8"))
        assert nb["metadata"]["papermill"]["parameters"]["out_dir"] == str(build / "authorities" / code)
    manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    assert [n["notebook"] for n in manifest["notebooks"]] == [
        str(build / "authorities" / code / "authority.ipynb") for code in codes]
    # the book: that build's chapters, its summary and its open data
    profile = yaml.safe_load((project / f"_quarto-{layout.BOOK_PROFILE}.yml").read_text(encoding="utf-8"))
    assert profile == {"book": layout.book_chapters(codes, build, project)}
    summary = (build / layout.SUMMARY).read_text(encoding="utf-8")
    assert (project / layout.SUMMARY_INCLUDE).read_text(encoding="utf-8") == summary
    published = sorted(p.name for p in (project / layout.BOOK / "data").glob("*.csv")
                       if p.name != "datasets.csv" and not p.name.endswith(".meta.csv"))
    assert published and published == sorted(p.name for p in open_tables(build))
    assert all((project / layout.BOOK / f"{code}.html").is_file() for code in codes)
    # nothing left to do for that build; `make clean BUILD=...` removes it and the book's inputs
    plan = make(project, "-n", "report", f"BUILD={build}").stdout
    assert "run-study" not in plan and "render --out" not in plan, plan
    make(project, "clean", f"BUILD={build}")
    assert not build.exists() and not (project / layout.BOOK).exists()
    assert not (project / layout.SUMMARY_INCLUDE).exists()
    shutil.rmtree(project)
