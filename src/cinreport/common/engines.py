"""Which engines render the book, and their versions (for the provenance chapter and the log).

Quarto where it is installed; otherwise Pandoc (pypandoc-binary) and Typst, the engines Quarto
itself drives (see :mod:`cinreport.render.renderer`). Kept apart from the renderer so the chapters that name
the engines do not depend on the renderer's code.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess


def detect_renderer() -> str:
    return "quarto" if shutil.which("quarto") else "pandoc-typst"


def renderer_description(renderer: str | None = None) -> str:
    renderer = renderer or detect_renderer()
    if renderer == "quarto":
        try:
            version = subprocess.run(
                ["quarto", "--version"], capture_output=True, text=True, check=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            version = "(version unknown)"
        return f"Quarto {version}"
    import pypandoc

    text = (
        f"Pandoc {pypandoc.get_pandoc_version()} and "
        f"Typst {importlib.metadata.version('typst')}"
    )
    return text if shutil.which("quarto") else text + " (Quarto not installed)"
