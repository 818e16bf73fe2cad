"""cinreport: regenerate a Child in Need plan research report from coded data.

The package holds all logic; notebooks only call it and display results.
"""

__version__ = "0.1.0"
