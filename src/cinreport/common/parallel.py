"""Running independent pieces of work on a thread per core."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor


def in_parallel(function, items: list) -> list:
    """``[function(item) for item in items]`` on a thread per core, for work that releases the GIL
    (subprocesses, NumPy). Results keep their order; the first failure (in item order) is raised."""
    workers = min(len(items), os.cpu_count() or 1)
    if workers <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(function, items))
