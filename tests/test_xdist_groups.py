"""The suite's own scheduling: `make test` relies on pytest-xdist's groups to make a costly module
fixture once (tests/conftest.py). Under pytest 9, pytest-xdist 3.8's groups silently have no effect."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("xdist")


def test_an_xdist_group_runs_in_one_process_and_makes_its_module_fixture_once(tmp_path):
    log = tmp_path / "built.log"
    (tmp_path / "test_grouped.py").write_text(textwrap.dedent(f"""
        import os, time, pytest

        @pytest.fixture(scope="module")
        def costly():
            with open({str(log)!r}, "a") as f:
                f.write(os.environ.get("PYTEST_XDIST_WORKER", "main") + "\\n")

        @pytest.mark.xdist_group("one")
        @pytest.mark.parametrize("i", range(6))
        def test_grouped(costly, i):
            time.sleep(0.2)  # long enough for the other process to ask for work

        @pytest.mark.parametrize("i", range(4))
        def test_other(i):
            pass
        """), encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")  # not the project's settings
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "2", "--dist", "loadgroup", "-p",
                           "no:cacheprovider", "-c", str(tmp_path / "pytest.ini"), str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    built = log.read_text(encoding="utf-8").split()
    assert len(built) == 1, f"the module fixture was made {len(built)} times ({built}): xdist_group had no effect"
