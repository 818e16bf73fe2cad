"""Measure ``cinreport validate`` on a large invalid file: time, peak memory and output size.

    python -m cinreport_dev.validate_bench --mb 200 [--mb 20 ...] [--max-memory-mb 500] [--keep DIR]
                                       [-- <extra cinreport validate options>]

Copies the project's ``params/`` and ``data/codebook.yml`` and demo authority ``la-a`` into a temporary
folder, appends to its ``case_files.csv`` rows until the file is ``--mb`` megabytes, every appended row
with two defects (an age of 18, outside 0-17, and the gender code 7, not in the list), runs
``cinreport validate --authority la-a`` there under ``/usr/bin/time -v`` and prints one line of results
per size: wall time, CPU time, peak resident memory (and memory per megabyte of file), output size.

Memory is the figure this benchmark watches: validation streams each file in chunks of rows
(:data:`cinreport.data.validate.CHUNK_ROWS`) and keeps only counts, the first problems of each rule and the
key columns the rules across rows and files need, so peak memory should hardly grow with the file
(measured 2026-11-30 on the shared 2-core machine: 298 MB for 200 MB, where reading the whole file took
2,527 MB). Give two sizes to see it; ``--max-memory-mb`` makes the run fail (exit 1) when a peak is
above the bound. A measurement, not a test: times depend on the machine and its load (README,
Validation, records them).
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path.cwd()


def write_invalid_case_files(path: Path, megabytes: float | None = None, rows: int | None = None) -> int:
    """Append rows with two defects each (age 18, gender 7) until ``path`` is ``megabytes`` MB, or
    ``rows`` of them; return how many were appended. Case ids stay unique (BENCH-00000000, ...), so each
    appended row gives exactly two problems."""
    with open(path, encoding="utf-8", newline="") as f:
        header, *clean = list(csv.reader(f))
    age, gender, case_id = (header.index(c) for c in ("age_at_plan_start", "gender", "case_id"))
    target = None if megabytes is None else int(megabytes * 1_000_000)
    size = path.stat().st_size
    n = 0
    with open(path, "a", encoding="utf-8", newline="") as out:
        while (target is not None and size < target) or (rows is not None and n < rows):
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="\n")
            for _ in range(10_000 if rows is None else min(10_000, rows - n)):
                row = list(clean[n % len(clean)])
                row[case_id], row[age], row[gender] = f"BENCH-{n:08d}", "18", "7"
                writer.writerow(row)
                n += 1
            text = buf.getvalue()
            out.write(text)
            size += len(text.encode("utf-8"))
    return n


def make_project(folder: Path, megabytes: float, root: Path = ROOT) -> Path:
    shutil.copytree(root / "params", folder / "params")
    for other in (folder / "params" / "authorities").glob("*.yml"):
        if other.stem != "la-a":
            other.unlink()
    (folder / "data").mkdir()
    shutil.copy(root / "data" / "codebook.yml", folder / "data" / "codebook.yml")
    shutil.copytree(root / "data" / "la-a", folder / "data" / "la-a")
    return folder / "data" / "la-a" / "case_files.csv"


def measure(project: Path, extra: list[str]) -> dict[str, float]:
    """Run ``cinreport validate --authority la-a`` in ``project`` under ``/usr/bin/time -v``."""
    cli = Path(sys.executable).with_name("cinreport")
    out, err = project / "validate.out", project / "validate.err"
    start = time.monotonic()
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.run(["/usr/bin/time", "-v", "-o", str(project / "time.txt"), str(cli), "validate",
                               "--authority", "la-a", *extra], cwd=project, stdout=o, stderr=e)
    elapsed = time.monotonic() - start
    report = (project / "time.txt").read_text()
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", report)
    if found is None:
        raise RuntimeError(f"/usr/bin/time -v reported no peak memory: {report[:200]!r}")
    rss_kb = int(found.group(1))
    times = [re.search(rf"{kind} time \(seconds\): ([0-9.]+)", report) for kind in ("User", "System")]
    cpu = sum(float(t.group(1)) for t in times if t is not None)
    with open(err, "rb") as e:
        lines = sum(1 for _ in e)
    return {"exit": proc.returncode, "seconds": elapsed, "cpu_seconds": cpu, "peak_rss_mb": rss_kb / 1024,
            "output_bytes": out.stat().st_size + err.stat().st_size, "output_lines": lines}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cinreport_dev.validate_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, action="append",
                        help="size of the invalid case_files.csv in MB (default 200); give it again for more sizes")
    parser.add_argument("--max-memory-mb", type=float,
                        help="fail (exit 1) if validation's peak resident memory is above this at any size")
    parser.add_argument("--keep", help="build the project in this folder and keep it (default: a temporary one; "
                                       "with several sizes, one subfolder each)")
    args, extra = parser.parse_known_args(argv)
    extra = [a for a in extra if a != "--"]
    sizes = args.mb or [200]
    over = []
    for mb in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            project = Path(args.keep or tmp)
            if args.keep and len(sizes) > 1:
                project = project / f"{mb:g}mb"
            project.mkdir(parents=True, exist_ok=True)
            path = make_project(project, mb)
            rows = write_invalid_case_files(path, mb)
            size = path.stat().st_size / 1_000_000
            result = measure(project, extra)
        peak = result["peak_rss_mb"]
        print(f"cinreport validate on a {size:.0f} MB case_files.csv ({rows:,} rows with 2 problems each): "
              f"exit {result['exit']}, {result['seconds']:.1f} s ({result['cpu_seconds']:.1f} s CPU), "
              f"peak memory {peak:,.0f} MB ({peak / size:.1f} MB per MB of file), "
              f"output {result['output_bytes']:,} bytes in {result['output_lines']:,} lines", flush=True)
        if args.max_memory_mb is not None and peak > args.max_memory_mb:
            over.append(f"{size:.0f} MB file: peak memory {peak:,.0f} MB is above {args.max_memory_mb:,.0f} MB")
    for line in over:
        print(line, file=sys.stderr)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
