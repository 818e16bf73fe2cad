"""Which package sources each build step runs: Make's view of the code, step by step.

A step (validation, the disclosure pass, the findings' tests, an authority's chapter, a study
chapter, the render, the national reader) is one ``cinreport`` command, and a chapter is also its
notebook. What the step can run is the closure of the package modules imported — at the top of a
module or inside a function — by that command's function in :mod:`cinreport.cli` and by the
notebook's code cells. ``cinreport deps`` writes one Make variable per step with those files, so
editing the renderer re-renders the book and executes no notebook, while editing a measure
re-executes what reads it.

Only the import statements are read (:mod:`ast`); nothing is imported. Imports by name
(``importlib``) are not seen: the package's only one is the warm server's preload
(:data:`cinreport.build.warm.PRELOAD`), which loads modules before forking and runs none of them.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

PACKAGE = "cinreport"
CLI = f"{PACKAGE}.cli"

#: Make variable -> (the cli command's function, the notebooks whose imports count too)
STEPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "PKG_VALIDATE": ("cmd_validate", ()),
    "PKG_PUBLISH": ("cmd_publish", ()),
    "PKG_ANALYSE": ("cmd_analyse", ()),
    "PKG_FINDINGS": ("cmd_findings", ()),
    "PKG_NATIONAL": ("cmd_national", ()),
    "PKG_AUTHORITY": ("cmd_run_authority", ("notebooks/authority.ipynb",)),
    "PKG_STUDY": ("cmd_run_study", ("notebooks/study/*.ipynb",)),
    "PKG_RENDER": ("cmd_render", ()),
}


def _imported(tree: ast.AST, module: str) -> set[str]:
    """Package modules that the statements in ``tree`` import (``module``: where they are written)."""
    found: set[str] = set()
    package = module.rsplit(".", 1)[0] if "." in module else module
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name == PACKAGE or a.name.startswith(PACKAGE + ".")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            if origin != PACKAGE and not origin.startswith(PACKAGE + "."):
                continue
            found.add(origin)
            found |= {f"{origin}.{a.name}" for a in node.names}  # `from . import x`: x may be a module
    return found


def _file_of(module: str, src: Path) -> Path | None:
    parts = module.split(".")[1:]
    candidates = [src.joinpath(*parts).with_suffix(".py"), src.joinpath(*parts, "__init__.py")] if parts \
        else [src / "__init__.py"]
    return next((p for p in candidates if p.is_file()), None)


def closure(entries: set[str], src: Path) -> set[Path]:
    """The package's source files that ``entries`` (module names) import, directly or not, with the
    package ``__init__`` files on the way."""
    seen: set[Path] = set()
    todo = set(entries) | {PACKAGE}
    while todo:
        module = todo.pop()
        parts = module.split(".")
        for i in range(1, len(parts)):  # importing a.b.c runs a/__init__ and a/b/__init__ first
            todo.add(".".join(parts[:i]))
        path = _file_of(module, src)
        if path is None or path in seen:
            continue
        seen.add(path)
        if module == CLI:  # the command line: each step's own function is read by step_sources
            continue
        name = module if path.name != "__init__.py" else module + ".__init__"
        todo |= _module_imports(path, name) - {module}
    return seen


_PARSED: dict[tuple[str, str, int, int], frozenset[str]] = {}


def _module_imports(path: Path, name: str) -> frozenset[str]:
    """:func:`_imported` of a whole module, parsed once per content (by size and time) in a process."""
    st = path.stat()
    key = (str(path), name, st.st_size, st.st_mtime_ns)
    if key not in _PARSED:
        _PARSED[key] = frozenset(_imported(ast.parse(path.read_text(encoding="utf-8"), str(path)), name))
    return _PARSED[key]


def _function(tree: ast.Module, name: str) -> ast.AST | None:
    return next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name), None)


def _notebook_imports(path: Path) -> set[str]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    code = "\n".join("".join(c.get("source", "")) for c in doc.get("cells", []) if c.get("cell_type") == "code")
    lines = [line for line in code.splitlines() if not line.lstrip().startswith(("%", "!"))]  # magics
    try:
        return _imported(ast.parse("\n".join(lines)), PACKAGE)
    except SyntaxError:  # a notebook that does not parse fails when run; depend on the whole package
        src = path.parents[1] / "src" / PACKAGE
        return {".".join((PACKAGE, *p.relative_to(src).with_suffix("").parts)) for p in src.rglob("*.py")}


def step_sources(root: Path | str = ".") -> dict[str, list[str]]:
    """Per Make variable of :data:`STEPS`, the package files (relative to ``root``, sorted) that step
    runs. Empty when the project has no ``src/cinreport`` (an installed package: Make then depends
    on the installed environment's stamp only)."""
    root = Path(root)
    src = root / "src" / PACKAGE
    cli = src / "cli.py"
    if not cli.is_file():
        return {var: [] for var in STEPS}
    tree = ast.parse(cli.read_text(encoding="utf-8"), str(cli))
    top = ast.Module(body=[n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))], type_ignores=[])
    out: dict[str, list[str]] = {}
    for var, (function, notebooks) in STEPS.items():
        node = _function(tree, function)
        if node is None:
            raise ValueError(f"{cli}: no function {function} (the build step behind {var})")
        entries = (_imported(node, CLI) | _imported(top, CLI)) - {CLI}
        for pattern in notebooks:
            for nb in sorted(root.glob(pattern)):
                entries |= _notebook_imports(nb)
        files = closure(entries, src) | {cli}  # cli.py itself: the entry of every step (its other
        # functions' imports are not this step's)
        out[var] = sorted(str(p.relative_to(root)) for p in files)
    return out


def assets(root: Path | str = ".") -> list[str]:
    """The package's files that are not Python (templates, styles, filters): the render's too."""
    src = Path(root) / "src" / PACKAGE
    return sorted(str(p.relative_to(root)) for p in src.rglob("*")
                  if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
                  and ".egg-info" not in str(p))


def _inputs_key(root: Path) -> str:
    """The names, sizes and times (modified and changed) of every file the answer depends on (stat only)."""
    files = sorted([*(root / "src" / PACKAGE).rglob("*"), *(root / "notebooks").rglob("*.ipynb")])
    parts = []
    for f in files:
        if f.is_file() and "__pycache__" not in f.parts:
            st = f.stat()
            parts.append(f"{f.relative_to(root)}\t{st.st_size}\t{st.st_mtime_ns}\t{st.st_ctime_ns}")  # ctime: cannot be set back
    return "\n".join(parts)


def make_lines(root: Path | str = ".", cache: Path | str | None = None) -> list[str]:
    """deps.mk's lines for the sources of every step. ``cache``: a file keeping the last answer with
    the names, sizes and times of the sources it was read from (a no-op build then reads nothing)."""
    root = Path(root)
    key = _inputs_key(root)
    if cache is not None and Path(cache).is_file():
        try:
            saved = json.loads(Path(cache).read_text(encoding="utf-8"))
            if saved.get("key") == key:
                return list(saved["lines"])
        except (ValueError, KeyError, TypeError):
            pass
    lines = []
    for var, files in step_sources(root).items():
        extra = assets(root) if var == "PKG_RENDER" else []
        lines.append(f"{var} := {' '.join(files + extra)}")
    if cache is not None:
        from cinreport.common.atomic import write_json

        write_json(cache, {"key": key, "lines": lines})
    return lines
