"""Studies with a known truth, run through the real pipeline (for tests and for checking rules).

:func:`study_from_profiles` generates synthetic data for a set of :class:`~cinreport.data.synth.Profile`
objects, writes it as CSV, validates it against the codebook and measures it with exactly the
functions the authority notebook uses. The results are what ``build/authorities/<code>/``
would hold (``metrics.json`` and ``cases.csv``), read back through JSON and CSV, so findings
evaluated on them behave as they do in a real build.

:func:`write_study` lays the same results out as a project (``params/``, ``data/``, ``build/``)
so that :meth:`cinreport.chapters.study.Study.load` can read it.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pandas as pd

from cinreport.analysis import measures
from cinreport.common.atomic import dumps_json, write_csv, write_json, write_text
from cinreport.data import synth
from cinreport.data.codebook import Codebook, load_codebook
from cinreport.data.config import REPORT_DEFAULTS, Authority
from cinreport.data.validate import load_validated

DEFAULT_PERIOD = (dt.date(2020, 4, 1), dt.date(2021, 3, 31))
CODEBOOK_PATH = Path(__file__).resolve().parents[1] / "data" / "codebook.yml"


def _codebook(codebook: Codebook | None) -> Codebook:
    return codebook or load_codebook(CODEBOOK_PATH)


def authority_name(code: str) -> str:
    """A display name for a scenario authority code (``la-a`` → ``Authority A``)."""
    return "Authority " + code.split("-")[-1].upper()


def measure_authority(authority: Authority, codebook: Codebook, wait_days: float
                      ) -> tuple[dict[str, Any], pd.DataFrame]:
    """Validate and measure one authority as the authority notebook does; JSON/CSV round-tripped."""
    tables = load_validated(authority, codebook)
    metrics = measures.authority_metrics(tables, codebook, authority.period_end, wait_days)
    metrics["atoms"] = measures.authority_atoms(tables, codebook, authority.period_end, wait_days)
    metrics["authority"] = {"code": authority.code, "name": authority.name,
                            "period_start": authority.period_start.isoformat(),
                            "period_end": authority.period_end.isoformat()}
    cases = measures.case_measures(tables["case_files"], pd.Timestamp(authority.period_end))
    # Same serialisation as metrics.json / cases.csv, read back the way Study.load reads them.
    metrics = json.loads(dumps_json(metrics))
    cases = pd.read_csv(io.StringIO(cases.to_csv(index=False, lineterminator="\n", float_format="%.6g")))
    return metrics, cases


def study_from_profiles(profiles: dict[str, synth.Profile], seed: int,
                        period: tuple[dt.date, dt.date] = DEFAULT_PERIOD,
                        workdir: Path | str = ".", *, codebook: Codebook | None = None,
                        wait_days: float | None = None
                        ) -> tuple[dict[str, dict[str, Any]], dict[str, pd.DataFrame]]:
    """Generate, write, validate and measure every authority in ``profiles``.

    Data go to ``<workdir>/data/<code>/``. Returns ``(metrics, cases)`` keyed by authority code
    (sorted), the inputs of :func:`cinreport.chapters.findings.evaluate`. ``wait_days`` defaults to the
    report default for ``mental_health_wait_days``.
    """
    cb = _codebook(codebook)
    wait = REPORT_DEFAULTS["findings"]["mental_health_wait_days"] if wait_days is None else wait_days
    metrics: dict[str, dict[str, Any]] = {}
    cases: dict[str, pd.DataFrame] = {}
    for code, profile in sorted(profiles.items()):
        data_dir = Path(workdir) / "data" / code
        synth.write_authority(data_dir, synth.generate_authority(code, profile, seed, period), cb)
        authority = Authority(code=code, name=authority_name(code), data_dir=data_dir, period_start=period[0],
                              period_end=period[1], params_file=Path(workdir) / "params" / "authorities"
                              / f"{code}.yml")
        metrics[code], cases[code] = measure_authority(authority, cb, wait)
    return metrics, cases


def write_study(workdir: Path | str, profiles: dict[str, synth.Profile], seed: int,
                period: tuple[dt.date, dt.date] = DEFAULT_PERIOD, *,
                findings: dict[str, float] | None = None, codebook: Codebook | None = None
                ) -> tuple[dict[str, dict[str, Any]], dict[str, pd.DataFrame]]:
    """A complete small project under ``workdir`` that :meth:`Study.load` can read.

    Writes ``params/report.yml`` (with ``findings`` overriding the default thresholds),
    ``params/authorities/<code>.yml``, ``data/codebook.yml``, ``data/<code>/*.csv`` and
    ``build/authorities/<code>/metrics.json`` + ``cases.csv``. Returns ``(metrics, cases)``.
    """
    workdir = Path(workdir)
    thresholds = {**REPORT_DEFAULTS["findings"], **(findings or {})}
    cb = _codebook(codebook)
    write_text(workdir / "data" / "codebook.yml", Path(cb.path).read_text(encoding="utf-8"))
    metrics, cases = study_from_profiles(profiles, seed, period, workdir, codebook=cb,
                                         wait_days=thresholds["mental_health_wait_days"])
    report = {"title": "Scenario study", "period_start": period[0].isoformat(),
              "period_end": period[1].isoformat(), "synthetic_data": True, "seed": seed, "findings": thresholds}
    write_text(workdir / "params" / "report.yml", json.dumps(report, indent=2) + "\n")  # JSON is YAML
    for code in metrics:
        spec = {"name": authority_name(code), "data_dir": f"data/{code}"}
        write_text(workdir / "params" / "authorities" / f"{code}.yml", json.dumps(spec, indent=2) + "\n")
        out = workdir / "build" / "authorities" / code
        write_json(out / "metrics.json", metrics[code])
        write_csv(out / "cases.csv", cases[code])
    return metrics, cases
