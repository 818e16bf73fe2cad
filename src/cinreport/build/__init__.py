"""Build machinery (warm server, lock, content stamps, the build graph): imports nothing of the analysis."""
