"""The renderer: Quarto where installed, else Pandoc + Typst; imports nothing of the analysis."""
