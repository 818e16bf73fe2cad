"""Foundations every stage uses: atomic writes, inert text, the project layout, open-data tables, engines."""
