"""Show Markdown in a notebook. Numbers in words come from the build's store
(:class:`cinreport.disclosure.publication.Published`: ``words``, ``percent``, ``proportion``), never from raw counts."""

from __future__ import annotations


def show(markdown: str) -> None:
    """Display Markdown as a notebook output (rendered by Quarto and by the Pandoc fallback)."""
    from IPython.display import Markdown, display

    display(Markdown(markdown))
