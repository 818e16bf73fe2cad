"""The package's layering (cinreport_dev.layers): the real package passes, and the check finds each kind
of break in a small package made to break it."""

from __future__ import annotations

import re
from pathlib import Path

from cinreport_dev import layers

SRC = Path(__file__).resolve().parents[1] / "src" / "cinreport"


def test_the_package_keeps_its_layers():
    assert layers.problems(SRC) == []


def test_every_subpackage_is_a_layer_and_the_readme_names_it():
    readme = (SRC.parents[1] / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Project layout"):].split("\n## ", 1)[0]
    folders = {p.name for p in SRC.iterdir() if (p / "__init__.py").is_file()}
    assert folders == set(layers.STAGES) | set(layers.MACHINERY)
    for folder in sorted(folders):
        assert re.search(rf"^  {folder}/ ", layout, re.M), f"README's layout does not describe src/cinreport/{folder}/"
    for module, path in layers.modules(SRC).items():
        if path.name != "__init__.py":
            assert re.search(rf"\b{re.escape(path.name)}\b", layout), f"README's layout does not list {module}"


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    src = tmp_path / "cinreport"
    for name, text in {"__init__.py": "", **files}.items():
        path = src / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for folder in {p.parent for p in src.rglob("*.py")} - {src}:
        (folder / "__init__.py").touch()
    return src


def test_an_import_up_the_stack_is_found(tmp_path):
    src = _package(tmp_path, {"data/config.py": "def f():\n    from cinreport.chapters import study\n",
                              "chapters/study.py": "from cinreport.data.config import f\n"})
    found = layers.problems(src)
    assert len(found) == 2  # the import up the stack, and the cycle it closes
    assert "config.py:2: cinreport.data.config imports cinreport.chapters.study: data may import only" in found[0]
    assert found[1] == "import cycle: cinreport.chapters.study <-> cinreport.data.config"


def test_machinery_importing_the_analysis_is_found(tmp_path):
    src = _package(tmp_path, {"render/renderer.py": "import cinreport.analysis.stats as s\n",
                              "build/warm.py": "from cinreport.disclosure import publication\n",
                              "analysis/stats.py": "", "disclosure/publication.py": ""})
    found = "\n".join(layers.problems(src))
    assert "cinreport.render.renderer imports cinreport.analysis.stats: render may import only" in found
    assert "cinreport.build.warm imports cinreport.disclosure.publication: build may import only" in found


def test_a_cycle_inside_one_layer_is_found(tmp_path):
    src = _package(tmp_path, {"data/a.py": "from cinreport.data import b\n",
                              "data/b.py": "from . import c\n", "data/c.py": "def g():\n    from .a import x\n"})
    assert layers.problems(src) == ["import cycle: cinreport.data.a <-> cinreport.data.b <-> cinreport.data.c"]


def test_a_new_folder_and_a_developer_tool_are_found(tmp_path):
    src = _package(tmp_path, {"extra/thing.py": "", "common/x.py": "from cinreport_dev import bench\n"})
    found = "\n".join(layers.problems(src))
    assert "cinreport.extra.thing is in no layer" in found
    assert "cinreport.common.x imports cinreport_dev.bench: the runtime package imports a developer tool" in found


def test_the_command_reports_and_fails(tmp_path, capsys):
    src = _package(tmp_path, {"common/a.py": "from cinreport.cli import main\n", "cli.py": ""})
    assert layers.main([str(src)]) == 1
    assert "common may import nothing of the package" in capsys.readouterr().err
    assert layers.main([str(SRC)]) == 0
