"""DfE national open data: read, checked and measured (below the coded data, which only names its folder)."""
