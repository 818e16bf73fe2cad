"""Measures and statistics of validated data (nothing here is published directly)."""
