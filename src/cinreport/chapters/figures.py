"""Figures: one seaborn theme, a colour-blind-safe palette, fixed sizes, deterministic PNGs.

Every figure is saved as PNG (for HTML and PDF) and described by Markdown that carries its
caption, label and alt text, so Quarto and the Pandoc fallback show the same thing.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from cinreport.common.atomic import write_bytes  # noqa: E402
from cinreport.common.inert import markdown_attribute, markdown_text  # noqa: E402

# Okabe-Ito: distinguishable with every common colour-vision deficiency.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
SIZE_WIDE = (7.5, 4.0)       # inches; every figure is one of these sizes
SIZE_TALL = (7.5, 5.5)
DPI = 150


def set_theme() -> None:
    """Apply the report's single figure style."""
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE, font="DejaVu Sans",
                  rc={"figure.dpi": DPI, "savefig.dpi": DPI, "axes.titleweight": "bold",
                      "svg.hashsalt": "cinreport", "axes.spines.top": False, "axes.spines.right": False,
                      # labels are names and codebook text: a "$" is a dollar sign, never mathtext
                      "text.parse_math": False})


@dataclass(frozen=True)
class SavedFigure:
    """A saved figure and how to show it; ``caption`` and ``alt`` are text (escaped for Markdown here)."""

    path: Path
    label: str
    caption: str
    alt: str

    def markdown(self, relative_to: Path) -> str:
        rel = Path(self.path).resolve().relative_to(Path(relative_to).resolve())
        return (f"![{markdown_text(self.caption)}]({rel.as_posix()})"
                f'{{#{self.label} fig-alt="{markdown_attribute(self.alt)}"}}')

    def cell_markdown(self, relative_to: Path, alt: str | None = None) -> str:
        """The image alone, for a notebook cell whose options (``#| label: fig-…``, ``#| fig-cap:``,
        ``#| fig-alt:``) label and caption it; ``alt``, when the data change the description, wins
        over the cell's ``fig-alt``."""
        rel = Path(self.path).resolve().relative_to(Path(relative_to).resolve())
        return f"![]({rel.as_posix()})" + (f'{{fig-alt="{markdown_attribute(alt)}"}}' if alt else "")


def save(fig: plt.Figure, path: Path | str, label: str, caption: str, alt: str) -> SavedFigure:
    """Save ``fig`` as a PNG with no timestamps (byte-identical for the same data), atomically."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    write_bytes(path, buf.getvalue())
    return SavedFigure(Path(path), label, caption, alt)


def percent_bars(shares: pd.DataFrame, xlabel: str = "Per cent of children", size=SIZE_WIDE,
                 symbol: str = "c") -> plt.Figure:
    """Horizontal grouped bars: rows = categories, columns = groups, values = published percentages.

    Missing values (suppressed) are drawn as no bar and the category is marked with the symbol, so
    no bar's length gives back a suppressed count.
    """
    set_theme()
    long = shares.reset_index(names="category").melt(id_vars="category", var_name="group", value_name="percent")
    fig, ax = plt.subplots(figsize=size)
    sns.barplot(data=long, y="category", x="percent", hue="group" if shares.shape[1] > 1 else None,
                ax=ax, orient="h", palette=PALETTE[: shares.shape[1]] if shares.shape[1] > 1 else None,
                color=PALETTE[0] if shares.shape[1] == 1 else None)
    for i, (_, row) in enumerate(shares.iterrows()):
        if row.isna().any():
            ax.text(0.5, i, symbol, va="center", fontsize=8, color="#333333")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("")
    drawn = shares.to_numpy(dtype=float)
    drawn = drawn[~np.isnan(drawn)]
    ax.set_xlim(0, max(10.0, float(drawn.max()) * 1.1 if drawn.size else 10.0))
    if shares.shape[1] > 1:
        ax.legend(title="", frameon=False, loc="lower right")
    fig.tight_layout()
    return fig


def quartile_boxes(quartiles: pd.DataFrame, xlabel: str, size=SIZE_WIDE) -> plt.Figure:
    """A box per group from its published quartiles (columns q1, median, q3; index = group): the box
    spans the quartiles and the line is the median. No whiskers and no points, which would be the
    lengths of single plans."""
    set_theme()
    fig, ax = plt.subplots(figsize=size)
    stats = [{"label": str(g), "q1": r["q1"], "med": r["median"], "q3": r["q3"], "whislo": r["q1"], "whishi": r["q3"]}
             for g, r in quartiles.iterrows()]
    ax.bxp(stats, orientation="horizontal", showfliers=False, showcaps=False, widths=0.5, patch_artist=True,
           boxprops={"facecolor": PALETTE[4], "edgecolor": "#333333"}, medianprops={"color": "#000000"})
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_ylabel("")
    fig.tight_layout()
    return fig


def dot_distribution(values: pd.DataFrame, xlabel: str, reference: Mapping[str, float | None] | None = None,
                     highlights: pd.DataFrame | None = None, reference_label: str = "England",
                     size=SIZE_TALL, points_label: str = "Local authorities",
                     notes: dict[str, str] | None = None) -> plt.Figure:
    """One row per group (``values['group']``), a small grey dot per area (``values['value']``), a
    black bar for the reference value (England) and coloured markers for highlighted areas
    (``highlights`` with columns group, label, value) — the national distribution at a glance.

    ``notes`` adds a line under a group's label (e.g. DfE's symbols for the areas not drawn:
    "not published: 2 c, 1 x"). The legend sits above the plot, clear of the axis label."""
    set_theme()
    order = list(dict.fromkeys(values["group"]))
    pos = {g: i for i, g in enumerate(order)}
    fig, ax = plt.subplots(figsize=size)
    rng = np.random.default_rng(0)
    y = values["group"].map(pos).to_numpy(dtype=float) + rng.uniform(-0.18, 0.18, len(values))
    ax.scatter(values["value"], y, s=12, color="#8C8C8C", alpha=0.7, linewidths=0, label=points_label)
    if reference:
        ref = [(pos[g], v) for g, v in reference.items() if g in pos and v is not None and not np.isnan(v)]
        if ref:
            ax.scatter([v for _, v in ref], [p for p, _ in ref], marker="|", s=500, linewidths=2.5,
                       color="#000000", label=reference_label, zorder=3)
    if highlights is not None and len(highlights):
        markers = ["o", "D", "s", "^", "v", "P", "X", "*"]
        for i, (label, rows) in enumerate(highlights.groupby("label", sort=False)):
            rows = rows[rows["group"].isin(pos)]
            ax.scatter(rows["value"], rows["group"].map(pos), marker=markers[i % len(markers)], s=55,
                       color=PALETTE[i % len(PALETTE)], edgecolors="#000000", linewidths=0.6, label=label,
                       zorder=4)
    notes = notes or {}
    ax.set_yticks(range(len(order)), [f"{g}\n({notes[g]})" if notes.get(g) else str(g) for g in order])
    ax.set_ylim(len(order) - 0.5, -0.5)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("")
    entries = len(ax.get_legend_handles_labels()[1])
    ax.legend(frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=min(entries, 3), fontsize=8)
    fig.tight_layout()
    return fig


def trend_small_multiples(areas: pd.DataFrame, panels: pd.DataFrame, overall: pd.DataFrame | None, ylabel: str,
                          overall_label: str = "England", panel_label: str = "Region", size=SIZE_TALL,
                          sharey: bool = True, band: bool = False) -> plt.Figure:
    """Small multiples, one panel per ``panel``: thin grey lines for each area (``areas``: panel, area,
    year, value), the panel's own line (``panels``: panel, year, value) and the overall line
    (``overall``: year, value) dashed in every panel."""
    set_theme()
    names = list(dict.fromkeys(panels["panel"]))
    ncols = 3
    nrows = max(1, int(np.ceil(len(names) / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=size, sharex=True, sharey=sharey, squeeze=False)
    for ax, name in zip(axes.flat, names):
        own_areas = areas[areas["panel"] == name]
        if band:  # many areas: their middle half as a band, not a tangle of lines
            q = own_areas.groupby("year")["value"].quantile([0.25, 0.75]).unstack()
            ax.fill_between(q.index, q[0.25], q[0.75], color="#C8C8C8", linewidth=0)
        else:
            for _, line in own_areas.groupby("area", sort=True):
                ax.plot(line["year"], line["value"], color="#B0B0B0", linewidth=0.6)
        own = panels[panels["panel"] == name]
        ax.plot(own["year"], own["value"], color=PALETTE[0], linewidth=2)
        if overall is not None:
            ax.plot(overall["year"], overall["value"], color="#000000", linewidth=1.2, linestyle="--")
        ax.set_title(textwrap.fill(str(name), 28), fontsize=8)
        ax.tick_params(labelsize=7)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=4, integer=True))
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    fig.supylabel(ylabel, fontsize=9)
    handles = [plt.Rectangle((0, 0), 1, 1, color="#C8C8C8") if band else plt.Line2D([], [], color="#B0B0B0", linewidth=0.8),
               plt.Line2D([], [], color=PALETTE[0], linewidth=2)]
    labels = ["Middle half of local authorities" if band else "Local authorities", panel_label]
    if overall is not None:
        handles.append(plt.Line2D([], [], color="#000000", linestyle="--"))
        labels.append(overall_label)
    fig.legend(handles, labels, loc="lower center", ncol=3, frameon=False, fontsize=8)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig
