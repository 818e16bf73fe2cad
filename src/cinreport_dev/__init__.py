"""Developer tools for cinreport: not part of the runtime package."""
