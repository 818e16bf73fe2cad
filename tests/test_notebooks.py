"""The committed notebooks: no outputs, typed parameters, thin; and each one executes on its own
(papermill, as the build runs it) on a tiny project."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import scenarios
from cinreport.build.pipeline import check_parameters, declared_parameters, run_notebook
from cinreport.data import synth
from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").rglob("*.ipynb"))
CLI = Path(sys.executable).with_name("cinreport")


def test_notebooks_exist_for_every_book_chapter():
    names = {p.stem for p in NOTEBOOKS}
    assert "authority" in names
    assert {"characteristics", "reasons", "support", "needs_match", "key_findings", "implications", "national",
            "profiles", "data_dictionary", "provenance", "summary"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_has_no_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: a code cell has outputs committed"
            assert cell.execution_count is None, f"{path.name}: execution counts committed"
    assert "papermill" not in nb.metadata


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_parameters_are_typed_literals(path):
    declared = declared_parameters(path)
    assert declared, f"{path.name} has no parameters cell"
    assert set(declared.values()) <= {"str", "int", "float", "bool"}, declared


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_thin(path):
    """Notebooks call the package; no cell holds more than a few lines of logic."""
    nb = nbformat.read(path, as_version=4)
    for cell in (c for c in nb.cells if c.cell_type == "code"):  # Markdown cells narrate: any length
        lines = [ln for ln in cell.source.splitlines() if ln.strip() and not ln.strip().startswith("#")]
        assert len(lines) <= 8, f"{path.name}: a cell has {len(lines)} lines; move the logic to src/cinreport"
        assert "os.chdir" not in cell.source


def test_check_parameters_rejects_unknown_and_mistyped():
    nb = ROOT / "notebooks" / "authority.ipynb"
    check_parameters(nb, {"authority": "la-a", "params_dir": "params"})
    with pytest.raises(ValueError, match="'colour' is not a parameter"):
        check_parameters(nb, {"colour": "red"})
    with pytest.raises(ValueError, match="'authority' must be str, got int 3"):
        check_parameters(nb, {"authority": 3})
    with pytest.raises(ValueError, match="must be str, got list"):
        check_parameters(nb, {"authority": ["__import__('os').system('true')"]})



# -- each notebook on its own, on a tiny project ------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_project(tmp_path_factory) -> Path:
    """Two small synthetic authorities (12 case files each, the demo's first two profiles), measured,
    through the disclosure pass and the findings, with the national context absent: what any notebook
    reads, made without executing a notebook."""
    project = tmp_path_factory.mktemp("tiny")
    profiles = dict(list(synth.scenario(n_cases=12, n_admin=60).items())[:2])
    scenarios.write_study(project, profiles, seed=3)
    for step in (["national"], ["publish"], ["findings"]):
        proc = subprocess.run([str(CLI), "--build", "build", *step], cwd=project, capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, f"cinreport {step[0]} failed:\n{proc.stdout}\n{proc.stderr}"
    return project


def _parameters(path: Path, out_dir: str) -> dict[str, str]:
    """The values the build passes, for the parameters this notebook declares (a new notebook that
    declares the same parameters is covered without editing this test)."""
    known = {"authority": "la-a", "params_dir": "params", "build_dir": "build", "out_dir": out_dir}
    declared = declared_parameters(path)
    unknown = set(declared) - set(known)
    assert not unknown, f"{path.name} declares parameters the build does not pass: {sorted(unknown)}"
    return {name: known[name] for name in declared}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT / "notebooks").as_posix())
@pytest.mark.slow
def test_notebook_executes_on_a_tiny_project(tiny_project, path):
    out_dir = "build/authorities/la-a" if path.parent.name == "notebooks" else "build/study"
    executed = tiny_project / out_dir / path.name
    run_notebook(path, executed, _parameters(path, out_dir), failed_dir=tiny_project / "build" / "failed",
                 cwd=str(tiny_project), label=path.stem)
    nb = nbformat.read(executed, as_version=4)
    assert not nb.metadata["papermill"].get("exception"), f"{path.name} raised"
    shown = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
             if o.get("output_type") in ("display_data", "execute_result")]
    assert shown, f"{path.name} executed but showed nothing"
    assert not [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                if o.get("output_type") == "error"]
# --- notebooks that narrate: labelled cells, one function each --------------------------------------

def _code_cells(path):
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def test_each_table_or_figure_cell_is_labelled_captioned_and_calls_one_function():
    """A cell labelled ``tbl-…`` has ``tbl-cap``; ``fig-…`` has ``fig-cap`` and ``fig-alt``; the cell
    shows the result of one named function; a label is used once in the book."""
    from cinreport.render.cell_options import options

    seen: dict[str, str] = {}
    for path in NOTEBOOKS:
        for cell in _code_cells(path):
            opts = options(cell.source)
            label = opts.get("label")
            if not label:
                continue
            assert label not in seen, f"{path.name}: label {label} is also in {seen[label]}"
            seen[label] = path.name
            kind = label.split("-")[0]
            assert kind in ("tbl", "fig"), f"{path.name}: label {label} is neither tbl- nor fig-"
            assert opts.get(f"{kind}-cap"), f"{path.name}: {label} has no {kind}-cap"
            if kind == "fig":
                assert opts.get("fig-alt"), f"{path.name}: {label} has no fig-alt"
            code = [ln for ln in cell.source.splitlines() if ln.strip() and not ln.startswith("#")]
            assert len(code) == 1 and re.fullmatch(r"show\((study|chapter)\.\w+\([^()]*\)\)", code[0]), \
                f"{path.name}: {label} should show one package function's result, not {code}"
    assert {"tbl-age-band", "fig-age-band", "tbl-primary-need-cases", "fig-plan-length", "tbl-themes",
            "tbl-profiles"} <= set(seen)


def test_cell_captions_are_the_captions_that_title_the_open_data():
    """The notebook cells' captions and descriptions are the package's (which title the open data)."""
    from cinreport.chapters import profiles, study
    from cinreport.render.cell_options import options

    CAPTIONS, ALT = {**study.CAPTIONS, **profiles.CAPTIONS}, study.ALT

    found = {}
    for path in NOTEBOOKS:
        for cell in _code_cells(path):
            opts = options(cell.source)
            if opts.get("label") in CAPTIONS:
                found[opts["label"]] = opts
    assert set(found) == set(CAPTIONS)
    for label, opts in found.items():
        assert opts[f"{label.split('-')[0]}-cap"] == CAPTIONS[label], label
        if label in ALT:
            assert opts["fig-alt"] == ALT[label], label


def test_markdown_cells_hold_static_text_only():
    """Markdown cells are the same for every build: no fenced divs (Pandoc's notebook reader does not
    read them as Quarto does; conditional notes are outputs), no HTML, and in the authority notebook
    (run once per authority) no heading ids, which would repeat in every authority's chapter."""
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "markdown":
                continue
            assert ":::" not in cell.source and "<" not in cell.source, f"{path.name}: {cell.source[:60]}"
            if path.name == "authority.ipynb":
                assert "{#" not in cell.source and not cell.source.lstrip().startswith("#"), path.name


STUDY_NOTEBOOKS = sorted((ROOT / "notebooks" / "study").glob("*.ipynb"))
# A cell after the notebook's set-up shows one package function's result, or calls one (write_findings):
# ``show(study.age_band_table())``, ``show(study.finding("id").sentence)``, ``show(chapter.table())  # a comment``.
_CALL = r"(study|chapter)\.\w+\([^()]*\)(\.\w+)?"
ONE_CALL = re.compile(rf"(show\({_CALL}\)|{_CALL})\s*(#.*)?")


@pytest.mark.parametrize("path", STUDY_NOTEBOOKS, ids=lambda p: p.name)
def test_study_notebook_narrates(path):
    """After the parameters and the set-up cell (imports, loading), every code cell calls one package
    function, with no loop over parts of the chapter; a chapter of the book opens with its heading (and
    its id) in a Markdown cell. The summary notebook is not a chapter: it writes the Markdown the
    landing page includes, headings and all."""
    cells = nbformat.read(path, as_version=4).cells
    code = [c for c in cells if c.cell_type == "code"]
    for cell in code[2:]:
        lines = [ln for ln in cell.source.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        assert len(lines) == 1 and ONE_CALL.fullmatch(lines[0]), f"{path.name}: one call per cell, not {lines}"
    if path.stem == "summary":
        return
    markdown = [c for c in cells if c.cell_type == "markdown"]
    assert markdown and re.match(r"# .+ \{#sec-[a-z-]+\}", markdown[0].source), \
        f"{path.name}: the chapter's heading should be a Markdown cell"


def test_cross_referenced_heading_ids_are_in_markdown_cells():
    """Other chapters refer to these sections (``@sec-national``, ``@sec-open-data``, ...): their ids
    stay in the chapters' Markdown cells, which every build has."""
    ids = {"national": ["sec-national"], "profiles": ["sec-profiles"],
           "data_dictionary": ["sec-data-dictionary", "sec-open-data"], "provenance": ["sec-provenance"]}
    for stem, wanted in ids.items():
        text = "\n".join(c.source for c in nbformat.read(ROOT / "notebooks" / "study" / f"{stem}.ipynb",
                                                          as_version=4).cells if c.cell_type == "markdown")
        for ident in wanted:
            assert f"{{#{ident}}}" in text, f"{stem}: {ident}"


def test_data_dictionary_names_the_open_data_rows_as_the_package_does():
    """The open-data note in the data dictionary's Markdown quotes ``la_name`` of the all-authorities rows."""
    from cinreport.chapters.study import ALL_AUTHORITIES

    nb = nbformat.read(ROOT / "notebooks" / "study" / "data_dictionary.ipynb", as_version=4)
    assert any(f"`la_name` *{ALL_AUTHORITIES}*" in c.source for c in nb.cells if c.cell_type == "markdown")


def test_national_chapter_without_dfe_files_says_only_that_it_is_not_included(tiny_project):
    """The tiny project has no DfE files: the chapter is its heading, its introduction and the note that
    national context is not included; every section's cell shows nothing."""
    path = ROOT / "notebooks" / "study" / "national.ipynb"
    executed = tiny_project / "build" / "study" / "national-absent.ipynb"
    run_notebook(path, executed, _parameters(path, "build/study"), failed_dir=tiny_project / "build" / "failed",
                 cwd=str(tiny_project), label="national")
    shown = [o["data"]["text/markdown"] for c in nbformat.read(executed, as_version=4).cells
             if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "display_data"]
    text = "\n\n".join(t for t in shown if t)
    assert "National context was not included in this edition" in text
    assert "## " not in text and "{#tbl-" not in text and "{#fig-" not in text
