"""The committed notebooks: no outputs, typed parameters, thin."""

from __future__ import annotations

import nbformat
import pytest

from cinreport.pipeline import check_parameters, declared_parameters
from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").rglob("*.ipynb"))


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
