"""The committed notebooks: no outputs, typed parameters, thin; and each one executes on its own
(papermill, as the build runs it) on a tiny project."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from cinreport import scenarios, synth
from cinreport.pipeline import check_parameters, declared_parameters, run_notebook
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
