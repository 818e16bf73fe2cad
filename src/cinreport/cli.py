"""Command line: ``cinreport <command>``. The Makefile calls these; users may too."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from cinreport.common import layout
from cinreport.common.atomic import write_bytes, write_if_changed, write_text


def cmd_synth(args: argparse.Namespace) -> int:
    from cinreport.data import synth
    from cinreport.data.config import load_report

    report = load_report(args.params)
    seed = args.seed if args.seed is not None else report.seed
    period = (report.period_start, report.period_end)
    if args.authorities is not None:  # fictional la-001, la-002, ...: data and params files
        codes = synth.write_many(Path(args.out).parent, args.authorities, seed, period, start=args.start)
        print(f"wrote {len(codes)} fictional authorities: {', '.join(codes[:3])}{' ...' if len(codes) > 3 else ''}")
        return 0
    written = synth.generate(args.out, seed, period)
    for code, files in written.items():
        print(f"{code}: {', '.join(p.name for p in files)}")
    return 0


def cmd_synth_like(args: argparse.Namespace) -> int:
    """Synthetic data for a new authority that looks like a real English LA, plus its params file."""
    import tempfile

    from cinreport.data import synth
    from cinreport.data.config import AUTHORITY_CODE, ParamsError, load_report
    from cinreport.national.data import NationalData, build

    if not AUTHORITY_CODE.fullmatch(args.code):
        raise ParamsError([f"{args.code!r} is not a valid authority code (lower-case letters, digits and single "
                           "hyphens, e.g. la-e)"])
    params_file = Path(args.params) / "authorities" / f"{args.code}.yml"
    if params_file.exists():
        raise ParamsError([f"{params_file} already exists: choose a new code or remove it first"])
    report = load_report(args.params)
    with tempfile.TemporaryDirectory() as tmp:
        status = build(report.national, tmp)
        if not status["available"]:
            raise ValueError(f"cannot draw a profile from national data: {status['reason']}")
        data = NationalData.load(tmp)
    profile = synth.profile_like(data, args.like)
    la = data.la(args.like)
    assert la is not None  # profile_like refused a code that is not in the national data
    seed = args.seed if args.seed is not None else report.seed
    tables = synth.generate_authority(args.code, profile, seed, (report.period_start, report.period_end))
    written = synth.write_authority(Path(args.out) / args.code, tables, synth.load_codebook())
    write_text(params_file, (
        f"# Synthetic demo authority drawn from the published profile of {la['name']} ({args.like}):\n"
        f"# its data are synthetic (cinreport synth-like), its national comparison uses the real LA's figures.\n"
        f'name: "{la["name"]} (synthetic demo)"\n'
        f"data_dir: {(Path(args.out) / args.code).as_posix()}\n"
        f"new_la_code: {args.like}\n"))
    print(f"{args.code}: {', '.join(p.name for p in written)} in {Path(args.out) / args.code}; {params_file}")
    return 0


def _own_problem(problem: str, params: str, codes: set[str] | None) -> bool:
    """Whether a params problem belongs to one of ``codes``' params files (None: to any valid
    authority's file); other problems (report.yml, misnamed or hidden files) concern the whole study."""
    from cinreport.data.config import AUTHORITY_CODE

    folder = Path(params) / "authorities"
    file = Path(problem.split(": ", 1)[0])
    if file.parent != folder or file.suffix != ".yml" or not AUTHORITY_CODE.fullmatch(file.stem):
        return False
    return codes is None or file.stem in codes


def authorities_to_validate(params: str, codes: list[str] | None):
    """The authorities to validate and the params problems that concern them: every authority and
    every problem, or with ``codes`` only theirs (plus the study-wide ones), so that one authority's
    params never stop another's validation and a build reports each authority's problems once."""
    from cinreport.data.config import ParamsError, load_authorities, load_authority, load_report

    if not codes:
        try:
            return load_authorities(params), []
        except ParamsError as exc:
            return [], list(exc.problems)
    problems: list[str] = []
    try:
        load_authorities(params, check_data=False)
    except ParamsError as exc:
        problems += [p for p in exc.problems if _own_problem(p, params, set(codes)) or not _own_problem(p, params, None)]
    try:
        report = load_report(params)
    except ParamsError:
        report = None  # its problems are in the list already
    authorities = []
    for code in sorted(set(codes)):
        path = Path(params) / "authorities" / f"{code}.yml"
        if not path.is_file():
            problems.append(f"unknown authority: {code} (no {path})")
            continue
        try:
            authorities.append(load_authority(path, report, check_data=True))
        except ParamsError as exc:
            problems += exc.problems
    return authorities, list(dict.fromkeys(problems))


def cmd_validate(args: argparse.Namespace) -> int:
    from cinreport.data.codebook import load_codebook
    from cinreport.data.config import load_report
    from cinreport.data.validate import Problems, validate_authority

    authorities, params_problems = authorities_to_validate(args.params, args.authority)
    if params_problems:
        print(f"{len(params_problems)} problem(s) in params:", file=sys.stderr)
        for p in params_problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    try:
        codebook = load_codebook()
    except FileNotFoundError as exc:
        print(f"codebook not found: {exc.filename} (run cinreport from the project folder)", file=sys.stderr)
        return 1
    limit = args.max_per_rule or None
    problems, valid = Problems(limit=limit), {}
    for a in authorities:
        tables, found = validate_authority(a, codebook, limit, keep_tables=args.measure)
        problems.merge(found)
        if not found:
            valid[a.code] = tables
    if not args.authority:  # the study-wide sources (roundtables), optional; `cinreport findings` checks it too
        from cinreport.data.validate import validate_study_sources

        report = load_report(args.params)
        problems += validate_study_sources(codebook.path.parent / "sources.csv",
                                           (report.period_start, report.period_end), codebook)[1]
    if problems or problems.more:
        for line in problems.lines():
            print(line, file=sys.stderr)
        return 1
    if args.measure:
        from cinreport.chapters.authority import measure
        from cinreport.data.validate import LINE

        report = load_report(args.params)
        for a in authorities:
            tables = {name: t.drop(columns=[LINE]) for name, t in valid[a.code].items()}
            measure(a, report, codebook, tables, Path(args.build) / "authorities" / a.code)
    if not args.quiet:
        print(f"valid: {', '.join(a.code for a in authorities)}")
    return 0


def _at_least_zero(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is below 0")
    return value


def cmd_run_authority(args: argparse.Namespace) -> int:
    from cinreport.build.pipeline import run_notebook
    from cinreport.data.config import AUTHORITY_CODE, ParamsError, load_authority, load_report

    code = args.code
    params_file = Path(args.params) / "authorities" / f"{code}.yml"
    if not AUTHORITY_CODE.fullmatch(code):  # checked before the code is used in any path or parameter
        raise ParamsError([f"{code!r} is not a valid authority code "
                           "(lower-case letters, digits and single hyphens, e.g. la-a)"])
    if not params_file.is_file():
        raise ParamsError([f"unknown authority {code!r}: {params_file} does not exist"])
    authority = load_authority(params_file, load_report(args.params), check_data=False)
    out_dir = Path(args.build) / "authorities" / code
    published = (Path(args.build) / "published" / "authorities" / f"{code}.json").read_bytes()  # what the chapter will read
    run_notebook(layout.AUTHORITY_NOTEBOOK, out_dir / "authority.ipynb",
                 {"authority": code, "params_dir": args.params, "out_dir": out_dir.as_posix()},
                 failed_dir=Path(args.build) / "failed", label=code,
                 subject=f"authority {code} ({authority.name})")
    write_bytes(out_dir / "published.json", published)  # the numbers this chapter was executed with (Makefile)
    return 0


def cmd_run_study(args: argparse.Namespace) -> int:
    from cinreport.build.pipeline import run_notebook

    notebook = layout.study_notebook(args.name)
    if args.name not in layout.study_chapters() or not notebook.is_file():
        raise ValueError(f"unknown study notebook {args.name!r} (not in cinreport.common.layout, or no {notebook})")
    out_dir = Path(args.build) / "study"
    run_notebook(notebook, out_dir / f"{args.name}.ipynb",
                 {"params_dir": args.params, "build_dir": args.build, "out_dir": out_dir.as_posix()},
                 failed_dir=Path(args.build) / "failed", label=f"study-{args.name}",
                 subject=f"study chapter {args.name}")
    return 0


def book_profile(codes: list[str], build: str = layout.BUILD, root: Path | str = ".") -> str:
    """The Quarto profile of the book's chapters (:data:`cinreport.common.layout.BOOK_PROFILE`): every
    chapter of :func:`cinreport.common.layout.book_chapters`, with the build folder's paths."""
    import yaml

    head = ("# Generated by `cinreport book-config` (every build and render runs it) from cinreport.common.layout\n"
            f"# and the authorities' params files, for the build folder {layout.book_folder(build, root)}: do not edit.\n")
    return head + yaml.safe_dump({"book": layout.book_chapters(codes, build, root)}, sort_keys=False,
                                 allow_unicode=True, width=1000)


def write_book_profile(params: str, build: str, root: Path | str = ".") -> bool:
    """Write ``_quarto-<BOOK_PROFILE>.yml`` in ``root`` when its content changes; True when it did."""
    from cinreport.data.config import authority_files

    codes = [p.stem for p in authority_files(params)]
    return write_if_changed(Path(root) / f"_quarto-{layout.BOOK_PROFILE}.yml", book_profile(codes, build, root))


def cmd_book_config(args: argparse.Namespace) -> int:
    write_book_profile(args.params, args.build)
    return 0


def cmd_deps(args: argparse.Namespace) -> int:
    """Make's view of the inputs, run first by every build: the content stamps under
    ``<build>/stamps/`` (rewritten only when an input's content changes, whatever its file time),
    the removal of what the build holds for authorities that are gone, and ``deps.mk`` (the list of
    authorities, and the package sources each step runs). Make's rules depend on the stamps, never on
    data files directly, so a missing or replaced data file is reported by validation in the
    project's words."""
    from cinreport.build.stamps import refresh
    from cinreport.data.config import ParamsError, load_authorities

    try:
        load_authorities(args.params, check_data=False)
    except ParamsError as exc:  # an authority's own problems are reported by its validation
        study_wide = [p for p in exc.problems if not _own_problem(p, args.params, None)]
        if study_wide:
            print(f"{len(study_wide)} problem(s) in params:", file=sys.stderr)
            for p in study_wide:
                print(f"  - {p}", file=sys.stderr)
            return 1
    state = refresh(args.params, args.build)
    for path in state["removed"]:
        print(f"[cinreport] removed {path}: its authority is no longer in {args.params}/authorities",
              file=sys.stderr)
    from cinreport.build.sourcedeps import make_lines

    write_book_profile(args.params, args.build)  # the book's chapters, for this build folder
    lines = ["# Generated by `cinreport deps`: do not edit.",
             f"AUTHORITY_CODES := {' '.join(state['codes'])}",
             "# The study notebooks to execute (cinreport.common.layout)",
             f"STUDY := {' '.join(layout.study_chapters())}",
             "# The package sources each step runs (cinreport.build.sourcedeps)",
             *make_lines(".", Path(args.build) / "stamps" / "sourcedeps.json")]
    write_if_changed(Path(args.out or Path(args.build) / "deps.mk"), "\n".join(lines) + "\n")
    return 0


def cmd_import_qdpx(args: argparse.Namespace) -> int:
    """themes.csv from a REFI-QDA project export, through a mapping file (cinreport.data.qda)."""
    from cinreport.data.codebook import load_codebook
    from cinreport.data.qda import import_qdpx

    out = Path(args.out) if args.out else authority_data_dir(args.params, args.authority) / "themes.csv"
    _, lines = import_qdpx(Path(args.project), Path(args.mapping), out, load_codebook(), args.ignore_unmapped)
    print(f"{out}: " + "\n".join(lines))
    return 0


def authority_data_dir(params: str, code: str) -> Path:
    """An authority's data folder: ``data_dir`` in its params file, else data/<code>/."""
    import yaml

    from cinreport.data.config import AUTHORITY_CODE, ParamsError

    if not AUTHORITY_CODE.fullmatch(code):
        raise ParamsError([f"{code!r} is not a valid authority code (lower-case letters, digits and single "
                           "hyphens, e.g. la-a)"])
    params_file = Path(params) / "authorities" / f"{code}.yml"
    data = yaml.safe_load(params_file.read_text(encoding="utf-8-sig")) if params_file.is_file() else None
    if isinstance(data, dict) and isinstance(data.get("data_dir"), str) and data["data_dir"]:
        return Path(data["data_dir"])
    return Path("data") / code


def pdf_excluded_chapters(params: str, build: str = layout.BUILD, root: Path | str = ".") -> set[str]:
    """Authority chapters left out of the PDF by ``pdf_profiles`` in report.yml (HTML keeps all), as
    the book lists them (:func:`cinreport.common.layout.authority_chapter`)."""
    from cinreport.data.config import authority_files, load_report

    codes = [p.stem for p in authority_files(params)]
    keep = set(load_report(params).pdf_profile_codes(codes))
    return {layout.authority_chapter(c, build, root) for c in codes if c not in keep}


def cmd_publish(args: argparse.Namespace) -> int:
    """The single disclosure pass over everything the build publishes.

    Writes ``<build>/published/``: ``store.json`` (every published number, shown or suppressed),
    ``authorities/<code>.json`` per authority (rewritten only when it changes, so an authority chapter runs
    again only when its published numbers change) and ``output-log.csv`` (the output-checking
    log). A publication that would disclose a count stops here, before any chapter or the book is
    touched.
    """
    import time

    from cinreport.build.pipeline import _say
    from cinreport.chapters.study import Study

    started = time.monotonic()
    study = Study.load("findings", params_dir=args.params, build_dir=args.build)
    _say(f"[cinreport] disclosure pass over everything {len(study.authorities)} authorities publish "
         f"-> {study.published_dir}")
    study.publish()
    _say(f"[cinreport] disclosure pass done in {time.monotonic() - started:.1f} s")
    return 0


def cmd_analyse(args: argparse.Namespace) -> int:
    """The findings' tests, robustness and sources (the costly part of the key findings, which does
    not read the store: make runs it beside the disclosure pass) -> ``<build>/study/analysis.pickle``."""
    import time

    from cinreport.build.pipeline import _say
    from cinreport.chapters.study import Study

    started = time.monotonic()
    study = Study.load("findings", params_dir=args.params, build_dir=args.build)
    _say(f"[cinreport] testing the findings of {len(study.authorities)} authorities -> {study.analysis_path}")
    study.save_analysis()
    _say(f"[cinreport] findings tested in {time.monotonic() - started:.1f} s")
    return 0


def cmd_findings(args: argparse.Namespace) -> int:
    """The key findings in words, from the tests (``cinreport analyse``) and the published store
    (``cinreport publish``) -> ``<build>/study/evaluated-findings.json``. Either is made first
    when missing or out of date."""
    import time

    from cinreport.build.pipeline import _say
    from cinreport.chapters.study import Study

    started = time.monotonic()
    study = Study.load("findings", params_dir=args.params, build_dir=args.build)
    if not (study.published_dir / "store.json").is_file():
        study.publish()
    study.save_analysis()  # a no-op when saved for the same inputs
    study.save_findings()
    _say(f"[cinreport] findings of {len(study.authorities)} authorities evaluated in "
         f"{time.monotonic() - started:.1f} s -> {study.evaluation_path}")
    return 0


def cmd_national(args: argparse.Namespace) -> int:
    """Read the DfE national files once into <build>/national/ (or record why they are absent)."""
    from cinreport.data.config import load_report
    from cinreport.national.data import build

    status = build(load_report(args.params).national, Path(args.build) / "national")
    if status["available"]:
        print(f"national context: {len(status['files'])} DfE files read from {status['folder']}")
    else:
        print(f"national context not included: {status['reason']}", file=sys.stderr)
    return 0


def cmd_national_data(args: argparse.Namespace) -> int:
    """Download the DfE national files from Explore Education Statistics into national.dir."""
    from cinreport.data.config import load_report
    from cinreport.national.data import fetch_national

    report = load_report(args.params)
    for path in fetch_national(report.national):
        print(f"fetched {path}")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from cinreport.data.config import load_report
    from cinreport.render.renderer import render_book

    write_book_profile(args.params, args.build)  # the chapters of this build folder (also when run alone)
    result = render_book(Path("."), Path(args.out), cache_dir=Path(args.build) / "render-cache",
                         pdf_exclude=pdf_excluded_chapters(args.params, args.build),
                         synthetic=load_report(args.params).synthetic_data, build_dir=Path(args.build),
                         params_dir=Path(args.params))
    print(f"rendered with {result.renderer}: {result.html_index} and {result.pdf}")
    return 0


def cmd_import_cin_census(args: argparse.Namespace) -> int:
    from cinreport.data.cin_census import run_cli

    return run_cli(args)


def _terminate_cleanly() -> None:
    """Turn SIGTERM (and SIGHUP: a closed terminal, a laptop's session ending) into SystemExit, so
    temporary files are removed and notebook kernels shut down, as on Ctrl-C."""
    def handler(signum, frame):
        raise SystemExit(128 + signum)

    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            try:
                signal.signal(getattr(signal, name), handler)
            except ValueError:  # not the main thread (e.g. called from a test runner's thread)
                pass


def main(argv: list[str] | None = None) -> int:
    from cinreport.build import warm

    if os.environ.get(warm.SOCKET_ENV):  # inside a build with a warm server: run there
        code = warm.client_run(list(sys.argv[1:] if argv is None else argv))
        if code is not None:
            return code
    parser = argparse.ArgumentParser(prog="cinreport", description=__doc__)
    parser.add_argument("--params", default=layout.PARAMS, help=f"params folder (default: {layout.PARAMS})")
    parser.add_argument("--build", default=layout.BUILD, help=f"build folder (default: {layout.BUILD})")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("synth", help="write the seeded synthetic demo data")
    p.add_argument("--out", default="data")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--authorities", type=int, default=None, metavar="N",
                   help="instead of the demo: N fictional authorities la-001 ... with varied profiles, "
                        "data under --out and params files in the folder beside it (params/authorities/)")
    p.add_argument("--start", type=int, default=1, help="number of the first fictional authority (default 1)")
    p.set_defaults(func=cmd_synth)
    p = sub.add_parser("synth-like", help="synthetic data and params for a new authority like a real English LA")
    p.add_argument("code", help="code for the new authority, e.g. la-e")
    p.add_argument("--like", required=True, help="the real LA's new_la_code, e.g. E08000003")
    p.add_argument("--out", default="data")
    p.add_argument("--seed", type=int, default=None)
    p.set_defaults(func=cmd_synth_like)
    p = sub.add_parser("validate", help="check params and data against the codebook")
    p.add_argument("--authority", action="append", help="only this authority (repeatable)")
    p.add_argument("--quiet", action="store_true", help="say nothing when the data are valid")
    p.add_argument("--max-per-rule", type=_at_least_zero, default=20, metavar="N",
                   help="list at most N problems of each rule (on one column) in each file, then one line with "
                        "how many more there are (default 20; 0 lists every problem)")
    p.add_argument("--measure", action="store_true",
                   help="also write each valid authority's measures to <build>/authorities/<code>/ "
                        "(metrics.json, cases.csv), for the disclosure pass")
    p.set_defaults(func=cmd_validate)
    p = sub.add_parser("run-authority", help="execute the authority notebook for one authority")
    p.add_argument("code")
    p.set_defaults(func=cmd_run_authority)
    p = sub.add_parser("run-study", help="execute one study notebook")
    p.add_argument("name")
    p.set_defaults(func=cmd_run_study)
    p = sub.add_parser("book-config", help=f"write the book's chapters for the build folder (_quarto-{layout.BOOK_PROFILE}.yml)")
    p.set_defaults(func=cmd_book_config)
    p = sub.add_parser("deps", help="write the Make dependency fragment")
    p.add_argument("--out", default=None, help="file to write (default: <build>/deps.mk)")
    p.set_defaults(func=cmd_deps)
    p = sub.add_parser("import", help="write an authority's data files from the forms data come in "
                                      "(cinreport import FORMAT --help)")
    imports = p.add_subparsers(dest="format", required=True, metavar="FORMAT")
    q = imports.add_parser("qdpx", help="themes.csv from a REFI-QDA project export (.qdpx) and a mapping file")
    q.add_argument("project", help="the .qdpx file (NVivo, ATLAS.ti, MAXQDA: export as REFI-QDA project)")
    q.add_argument("--authority", required=True, help="authority code, e.g. la-a")
    q.add_argument("--mapping", required=True, help="YAML mapping project codes to themes and sources to ids")
    q.add_argument("--out", help="file to write (default: themes.csv in the authority's data_dir)")
    q.add_argument("--ignore-unmapped", action="store_true",
                   help="write the mapped segments even if some codes or sources are not in the mapping "
                        "(they are still listed)")
    q.set_defaults(func=cmd_import_qdpx)
    p = sub.add_parser("publish", help="the disclosure pass over every published number -> <build>/published/")
    p.set_defaults(func=cmd_publish)
    p = sub.add_parser("analyse", help="the key findings' tests and robustness -> <build>/study/analysis.pickle")
    p.set_defaults(func=cmd_analyse)
    p = sub.add_parser("findings", help="the key findings in words, from the tests and the published store")
    p.set_defaults(func=cmd_findings)
    p = sub.add_parser("national", help="read the DfE national files into <build>/national/")
    p.set_defaults(func=cmd_national)
    p = sub.add_parser("national-data", help="download the DfE national files (needs a network)")
    p.set_defaults(func=cmd_national_data)
    p = sub.add_parser("render", help="render the book (Quarto, or Pandoc + Typst)")
    p.add_argument("--out", default=layout.BOOK, help=f"folder for the book (default: {layout.BOOK})")
    p.set_defaults(func=cmd_render)
    q = imports.add_parser("cin-census", help="admin.csv from a CIN census XML return (validated, pseudonymised)")
    q.add_argument("xml", metavar="RETURN.xml")
    q.add_argument("--authority", required=True, help="authority code, e.g. la-a")
    q.add_argument("--out", help="file to write (default: admin.csv in the authority's data_dir, or data/CODE/)")
    q.add_argument("--key-file", help="file holding the pseudonymisation key, outside the project "
                                      "(default: $CINREPORT_PSEUDONYM_KEY)")
    q.add_argument("--schema", help="CIN census XSD (default: ../shared/data/cin-census-xml/CIN_schema_2024.xsd)")
    q.add_argument("--period-start", help="study period start, YYYY-MM-DD (default: the authority's params)")
    q.add_argument("--period-end", help="study period end, YYYY-MM-DD (default: the authority's params)")
    q.add_argument("--census-year", type=int, help="the collection year the return must have (e.g. 2025 for "
                                                   "2024-25); needed for years other than 2024 and 2025")
    q.add_argument("--strict", action="store_true", help="treat rule errors that leave plans out as fatal")
    q.set_defaults(func=cmd_import_cin_census)
    args = parser.parse_args(argv)
    _terminate_cleanly()
    try:
        return args.func(args)
    except KeyboardInterrupt:  # temporary files are already removed; outputs are untouched
        print(f"cinreport {args.command}: interrupted (unfinished outputs discarded)", file=sys.stderr)
        return 130
    except Exception as exc:  # one clear line for users; the traceback is not their problem
        from cinreport.build.pipeline import NotebookFailed
        from cinreport.data.config import ParamsError
        from cinreport.data.validate import ValidationError
        from cinreport.disclosure.publication import DisclosureError
        from cinreport.render.renderer import RenderError

        if isinstance(exc, (ParamsError, NotebookFailed, RenderError, ValidationError, ValueError,
                            DisclosureError)):
            print(f"cinreport {args.command}: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
