"""Quarto cell options (``#| label: tbl-…``, ``#| tbl-cap:``, ``#| fig-cap:``, ``#| fig-alt:``).

A chapter notebook labels each cell that shows a table or figure with Quarto's cell options, so
Quarto numbers, captions and cross-references it. The fallback renderer honours the same options
with a Pandoc Lua filter (:data:`FILTER`, run when an executed notebook is read); :func:`options`
reads them in Python (the notebook tests use it).
"""

from __future__ import annotations

from pathlib import Path

import yaml

FILTER = Path(__file__).parent / "assets" / "cell-options.lua"


def pandoc_args() -> list[str]:
    """Pandoc's arguments that apply the cell options when a notebook's Markdown is read."""
    return [f"--lua-filter={FILTER}"]


def options(source: str) -> dict:
    """The cell options at the top of a code cell's source (``#| key: value`` lines), as YAML reads them."""
    lines = []
    for line in source.splitlines():
        if not line.startswith("#|"):
            break
        lines.append(line[2:].removeprefix(" "))
    return (yaml.safe_load("\n".join(lines)) or {}) if lines else {}
