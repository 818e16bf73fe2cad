"""The package's layers, checked: ``python -m cinreport_dev.layers`` (run by ``make lint`` and the tests).

``cinreport`` is one subpackage per stage of the pipeline. Each may import only the subpackages
:data:`ALLOWED` lists for it, which makes the stages a stack read from the bottom up::

    common      files written atomically, inert text, the project layout, open-data tables, engines
    national    DfE national files: read, checked, measured
    data        the codebook, params, the coded data: read, validated, synthesised, imported
    analysis    measures and statistics of validated data
    disclosure  the single disclosure pass: what is published, checked by an attacker
    chapters    the chapters' tables, figures and words, from the published store
    build       the build machinery (warm server, lock, stamps, the build graph): beside the stages,
    render      and the renderer (Quarto, or Pandoc + Typst): they know nothing of the analysis
    cli         the command line, which wires them together (and ``__main__``)

On top of the table: no two modules import each other, directly or through others, whether the
import is at the top of a module or inside a function; and the runtime package imports nothing of
the developer tools (``cinreport_dev``). Imports are read from the source (:mod:`ast`); nothing is
imported.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "cinreport"
STAGES = ("common", "national", "data", "analysis", "disclosure", "chapters")
MACHINERY = ("build", "render")

#: subpackage (or top-level module) -> the subpackages it may import besides itself
ALLOWED: dict[str, frozenset[str]] = {
    **{stage: frozenset(STAGES[:i]) for i, stage in enumerate(STAGES)},
    **{m: frozenset(("common", "national", "data")) for m in MACHINERY},
    "cli": frozenset((*STAGES, *MACHINERY)),
    "__main__": frozenset(("cli", "build")),
    "__init__": frozenset(),
}
FORBIDDEN_PACKAGES = ("cinreport_dev",)


@dataclass(frozen=True)
class Import:
    source: str       # the importing module
    target: str       # the imported module (or the package, when the name is not a module)
    file: Path
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.source} imports {self.target}"


def module_name(path: Path, src: Path) -> str:
    parts = path.relative_to(src.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(src: Path) -> dict[str, Path]:
    """Every module of the package under ``src`` (the ``cinreport`` folder) by dotted name."""
    return {module_name(p, src): p for p in sorted(src.rglob("*.py"))}


def imports(src: Path) -> list[Import]:
    """Every import of a package module (or a forbidden package) by a package module."""
    known = modules(src)
    found: list[Import] = []
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    origin = ".".join(base + ([node.module] if node.module else []))
                else:
                    origin = node.module or ""
                # `from a import b`: b is a module when there is one by that name
                targets = [f"{origin}.{a.name}" if f"{origin}.{a.name}" in known or origin.split(".")[0] != PACKAGE
                           else origin for a in node.names]
            for target in targets:
                top = target.split(".")[0]
                if top == PACKAGE or top in FORBIDDEN_PACKAGES:
                    found.append(Import(name, target, path, getattr(node, "lineno", 0)))
    return found


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def cycles(edges: Iterable[tuple[str, str]]) -> list[list[str]]:
    """The import cycles: strongly connected components of more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        if a != b:
            graph.setdefault(a, set()).add(b)
            graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(graph) + 100))
    try:
        for v in sorted(graph):
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(limit)
    return found


def problems(src: Path) -> list[str]:
    """What breaks the layering of the package under ``src``; empty when nothing does."""
    out: list[str] = []
    known = modules(src)
    for name, path in known.items():
        if layer_of(name) not in ALLOWED:
            out.append(f"{path}: {name} is in no layer (add {layer_of(name)!r} to cinreport_dev.layers.ALLOWED "
                       f"and to README's layout)")
    found = imports(src)
    for imp in found:
        if imp.target.split(".")[0] in FORBIDDEN_PACKAGES:
            out.append(f"{imp}: the runtime package imports a developer tool")
            continue
        a, b = layer_of(imp.source), layer_of(imp.target)
        if a != b and a in ALLOWED and b not in ALLOWED[a]:
            allowed = ", ".join(sorted(ALLOWED[a]))
            out.append(f"{imp}: {a} may import " + (f"only {allowed}" if allowed else "nothing of the package"))
    edges = [(i.source, i.target) for i in found if i.target in known and i.source != i.target]
    for component in cycles(edges):
        out.append("import cycle: " + " <-> ".join(component))
    return out


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    src = Path(args[0]) if args else Path("src") / PACKAGE
    found = problems(src)
    for line in found:
        print(line, file=sys.stderr)
    if not found:
        print(f"layers: {len(modules(src))} modules of {src} import only what their layer allows, without cycles")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
