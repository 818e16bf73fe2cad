"""Figures: one seaborn theme, a colour-blind-safe palette, fixed sizes, deterministic PNGs.

Every figure is saved as PNG (for HTML and PDF) and described by Markdown that carries its
caption, label and alt text, so Quarto and the Pandoc fallback show the same thing.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from .atomic import write_bytes  # noqa: E402

# Okabe-Ito: distinguishable with every common colour-vision deficiency.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
SIZE_WIDE = (7.5, 4.0)       # inches; every figure is one of these sizes
SIZE_TALL = (7.5, 5.5)
DPI = 150


def set_theme() -> None:
    """Apply the report's single figure style."""
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE, font="DejaVu Sans",
                  rc={"figure.dpi": DPI, "savefig.dpi": DPI, "axes.titleweight": "bold",
                      "svg.hashsalt": "cinreport", "axes.spines.top": False, "axes.spines.right": False})


@dataclass(frozen=True)
class SavedFigure:
    """A saved figure and how to show it."""

    path: Path
    label: str
    caption: str
    alt: str

    def markdown(self, relative_to: Path) -> str:
        rel = Path(self.path).resolve().relative_to(Path(relative_to).resolve())
        alt = self.alt.replace('"', "'")
        return f'![{self.caption}]({rel.as_posix()}){{#{self.label} fig-alt="{alt}"}}'


def save(fig: plt.Figure, path: Path | str, label: str, caption: str, alt: str) -> SavedFigure:
    """Save ``fig`` as a PNG with no timestamps (byte-identical for the same data), atomically."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    write_bytes(path, buf.getvalue())
    return SavedFigure(Path(path), label, caption, alt)


def percent_bars(shares: pd.DataFrame, xlabel: str = "Per cent of children", size=SIZE_WIDE) -> plt.Figure:
    """Horizontal grouped bars: rows = categories, columns = groups, values = percentages.

    Missing values (suppressed) are drawn as no bar and marked 'c'.
    """
    set_theme()
    long = shares.reset_index(names="category").melt(id_vars="category", var_name="group", value_name="percent")
    fig, ax = plt.subplots(figsize=size)
    sns.barplot(data=long, y="category", x="percent", hue="group" if shares.shape[1] > 1 else None,
                ax=ax, orient="h", palette=PALETTE[: shares.shape[1]] if shares.shape[1] > 1 else None,
                color=PALETTE[0] if shares.shape[1] == 1 else None)
    for i, (cat, row) in enumerate(shares.iterrows()):
        if row.isna().any():
            ax.text(0.5, i, "c", va="center", fontsize=8, color="#333333")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("")
    ax.set_xlim(0, max(10.0, float(np.nanmax(shares.to_numpy(dtype=float))) * 1.1 if shares.size else 10.0))
    if shares.shape[1] > 1:
        ax.legend(title="", frameon=False, loc="lower right")
    fig.tight_layout()
    return fig


def box_by_group(values: pd.DataFrame, value: str, group: str, xlabel: str, size=SIZE_WIDE) -> plt.Figure:
    """Box plots of ``value`` by ``group`` (no individual points, so no single case is shown)."""
    set_theme()
    fig, ax = plt.subplots(figsize=size)
    sns.boxplot(data=values, y=group, x=value, ax=ax, orient="h", color=PALETTE[4], showfliers=False,
                width=0.5)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("")
    fig.tight_layout()
    return fig
