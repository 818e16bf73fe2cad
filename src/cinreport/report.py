"""Shared helpers for chapter text: show Markdown in a notebook, format shares, counts and days."""

from __future__ import annotations

from .stats import wilson_interval


def show(markdown: str) -> None:
    """Display Markdown as a notebook output (rendered by Quarto and by the Pandoc fallback)."""
    from IPython.display import Markdown, display

    display(Markdown(markdown))


def pct(k: int, n: int, decimals: int = 0) -> str:
    """'45%' (or 'n/a' when n is 0)."""
    if not n:
        return "n/a"
    return f"{100 * k / n:.{decimals}f}%"






def count_text(k: int, threshold: int) -> str:
    """A count for text: 'fewer than 5' when it is from 1 to threshold - 1."""
    return f"fewer than {threshold}" if 0 < k < threshold else f"{k:,}"


def share_text(k: int, n: int, threshold: int) -> str:
    """'12 of 20 (60%)' for text, suppressed as 'fewer than 5 of 20' when the count is small."""
    if 0 < k < threshold:
        return f"fewer than {threshold} of {n}" if n >= threshold else "a small number"
    return f"{k} of {n} ({pct(k, n)})"


def proportion_values(k: int, n: int, threshold: int, symbol: str = "c") -> tuple[str, str, str]:
    """(per cent, lower, upper) of a 95% Wilson interval, whole numbers as text; all three the
    symbol when k or n - k is small (the complement would reveal a small count), 'z' when n is 0."""
    if not n:
        return ("z", "z", "z")
    if 0 < k < threshold or 0 < n - k < threshold:
        return (symbol, symbol, symbol)
    lo, hi = wilson_interval(k, n)
    return (f"{100 * k / n:.0f}", f"{100 * lo:.0f}", f"{100 * hi:.0f}")


def proportion_cell(k: int, n: int, threshold: int, symbol: str = "c") -> str:
    """'45% (26% to 66%)' with a 95% Wilson interval; the symbol when k or n - k is small.

    The complement is checked too: with n published, a share of 95% would reveal a small count.
    """
    p, lo, hi = proportion_values(k, n, threshold, symbol)
    return p if p in ("z", symbol) else f"{p}% ({lo}% to {hi}%)"


def days_text(q: dict) -> str:
    """'median 120 days (IQR 80 to 200)' from a quantiles mapping."""
    if not q or not q.get("n"):
        return "no ended plans"
    return f"median {q['median']:.0f} days (IQR {q['q1']:.0f} to {q['q3']:.0f})"



