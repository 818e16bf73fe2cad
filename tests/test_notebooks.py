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
    assert {"characteristics", "reasons", "support", "needs_match", "key_findings", "implications"} <= names


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
    assert {"tbl-age-band", "fig-age-band", "tbl-primary-need-cases", "fig-plan-length", "tbl-themes"} <= set(seen)


def test_cell_captions_are_the_captions_that_title_the_open_data():
    """The notebook cells' captions and descriptions are the package's (which title the open data)."""
    from cinreport.chapters.study import ALT, CAPTIONS
    from cinreport.render.cell_options import options

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
