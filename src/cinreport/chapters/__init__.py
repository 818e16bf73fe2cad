"""The chapters' tables, figures and words, every number taken from the published store."""
