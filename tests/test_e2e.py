"""End to end: the demo project built by `make -j2 report` in a temporary folder."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from cinreport.render.renderer import book_chapters
from conftest import edit_params, make

pytestmark = pytest.mark.e2e

RESEARCH_QUESTIONS = [
    "What are the characteristics of children and families of children who have Child in Need plans?",
    "What are the reasons children and young people have Child in Need plans?",
    "What support and activities are families of children who have Child in Need plans receiving?",
    "Does the support provided match the needs of families of children who have Child in Need plans?",
]


class Page(HTMLParser):
    """Collects text, image sources and links of one HTML page."""

    def __init__(self):
        super().__init__()
        self.text: list[str] = []
        self.images: list[dict] = []
        self.links: list[str] = []
        self.lang = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang")
        if tag == "img":
            self.images.append(a)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])

    def handle_data(self, data):
        self.text.append(data)


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def all_text(book: Path) -> str:
    return "\n".join(" ".join(parse(p).text) for p in sorted(book.glob("*.html")))


def test_book_has_every_authority_chapter(built_project):
    book = built_project / "_book"
    codes = sorted(p.stem for p in (built_project / "params" / "authorities").glob("*.yml"))
    text = all_text(book)
    for code in codes:
        page = book / f"{code}.html"
        assert page.exists(), f"no chapter page for {code}"
        name = re.search(r'name:\s*"([^"]+)"', (built_project / "params" / "authorities" / f"{code}.yml").read_text())
        assert name.group(1) in " ".join(parse(page).text)
    assert "synthetic" in text.lower()


def test_book_answers_every_research_question(built_project):
    text = " ".join(all_text(built_project / "_book").split())
    for question in RESEARCH_QUESTIONS:
        assert question in text, question
    for chapter in ("Key findings", "Implications", "Limitations", "Data dictionary", "Provenance"):
        assert chapter in text


def test_figures_exist_and_have_alt_text(built_project):
    book = built_project / "_book"
    seen = 0
    for html in book.glob("*.html"):
        for img in parse(html).images:
            assert (book / img["src"]).is_file(), f"{html.name}: missing image {img['src']}"
            assert len(img.get("alt", "")) > 20, f"{html.name}: image {img['src']} has no useful alt text"
            seen += 1
    assert seen >= 10


def test_internal_links_resolve(built_project):
    book = built_project / "_book"
    for html in book.glob("*.html"):
        for href in parse(html).links:
            if href.startswith(("http:", "https:", "mailto:", "#")):
                continue
            target = href.split("#")[0]
            assert (book / target).exists(), f"{html.name}: broken link {href}"


def test_no_code_and_no_parameters_shown(built_project):
    text = all_text(built_project / "_book")
    for leaked in ("from cinreport", "show(", "Study.load", "AuthorityChapter", "injected-parameters",
                   'params_dir: str =', 'authority = "', "Traceback"):
        assert leaked not in text, leaked


def test_pdf_has_several_pages(built_project):
    pdf = built_project / "_book" / "cinreport.pdf"
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", data))
    assert pages > 10


def test_renderer_is_stated(built_project):
    text = all_text(built_project / "_book")
    assert re.search(r"Rendered with (Quarto|Pandoc)", text)


def test_case_ids_never_published(built_project):
    ids = set()
    for csv in (built_project / "data").glob("*/*.csv"):
        frame = pd.read_csv(csv, dtype=str, keep_default_na=False)
        for col in ("case_id", "child_id", "support_id"):
            if col in frame:
                ids |= set(frame[col])
    assert ids
    published = [p for p in (built_project / "_book").rglob("*") if p.is_file() and p.suffix != ".png"]
    for path in published:
        content = path.read_bytes().decode("utf-8", errors="ignore")
        found = [i for i in ids if i in content]
        assert not found, f"{path.name} contains case ids {found[:3]}"
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(built_project / "_book" / "cinreport.pdf"), "-"],
                              capture_output=True, text=True, check=True).stdout
        assert not [i for i in ids if i in text]
        assert "Key findings" in text


def test_authority_outputs_on_disk(built_project):
    for code in ("la-a", "la-b", "la-c", "la-d"):
        out = built_project / "build" / "authorities" / code
        assert (out / "metrics.json").is_file()
        assert (out / "authority.ipynb").is_file()
        assert len(list((out / "figures").glob("*.png"))) >= 2  # a chart whose every share is suppressed is not drawn
        assert len(list((out / "tables").glob("*.csv"))) >= 4
    assert (built_project / "build" / "study" / "findings.json").is_file()


def test_chapter_list_comes_from_params(built_project):
    chapters = [c.path.as_posix() for c in book_chapters(built_project)]
    authority = [c for c in chapters if c.startswith("build/authorities/")]
    assert authority == [f"build/authorities/{c}/authority.ipynb" for c in ("la-a", "la-b", "la-c", "la-d")]
    assert chapters.index(authority[-1]) < chapters.index("build/study/data_dictionary.ipynb")


def test_second_build_is_a_no_op(built_project):
    assert make(built_project, "-q", "report", check=False).returncode == 0
    plan = make(built_project, "-n", "report").stdout
    assert "run-authority" not in plan and "run-study" not in plan and "render" not in plan


def _codes(project: Path) -> list[str]:
    return sorted(p.stem for p in (project / "params" / "authorities").glob("*.yml"))


def _slices(project: Path, codes: list[str]) -> dict[str, bytes]:
    """Each authority's published numbers from the disclosure pass (build/published/authorities/<code>.json)."""
    return {c: (project / "build" / "published" / "authorities" / f"{c}.json").read_bytes() for c in codes}


def _copies(project: Path, codes: list[str]) -> dict[str, bytes]:
    """The published numbers each authority chapter was executed with (kept by run-authority)."""
    return {c: (project / "build" / "authorities" / c / "published.json").read_bytes() for c in codes}


def _ran(stderr: str) -> list[str]:
    """Authorities whose chapter the build executed."""
    return re.findall(r"\[cinreport\] running (la-[a-z0-9-]+) ->", stderr)


def _kept(stderr: str) -> list[str]:
    """Authorities whose chapter the build kept (published numbers unchanged since it was executed)."""
    return re.findall(r"\[cinreport\] authority (la-[a-z0-9-]+) kept: its published numbers did not change", stderr)


def _validated(stdout: str) -> list[str]:
    return re.findall(r"validate --authority (\S+) --quiet --measure", stdout)


def test_touching_one_authority_reruns_only_it(built_project, tmp_path):
    """Editing la-b's params re-validates (and re-measures) only la-b, runs the one disclosure pass,
    executes la-b's chapter and keeps every other chapter whose published numbers did not change;
    an authority whose slice the pass changed (suppression links authorities) is executed again.
    Touching a file without changing it changes nothing (the build looks at content)."""
    project = tmp_path / "p"
    shutil.copytree(built_project, project, copy_function=shutil.copy2, symlinks=True)
    codes = _codes(project)
    others = [c for c in codes if c != "la-b"]
    assert _copies(project, codes) == _slices(project, codes)  # the built chapters used the current slices
    params = project / "params" / "authorities" / "la-b.yml"
    params.touch()
    (project / "data" / "la-c" / "case_files.csv").touch()
    assert _validated(make(project, "-n", "report").stdout) == []
    with params.open("a", encoding="utf-8") as f:
        f.write("# reviewed\n")
    plan = make(project, "-n", "report").stdout
    assert _validated(plan) == ["la-b"]
    assert "run-authority la-b" in plan  # the others' lines are conditional: only the real build can tell
    assert "run-study key_findings" in plan and "render" in plan

    slices = _slices(project, codes)
    notebooks = {c: (project / "build" / "authorities" / c / "authority.ipynb").read_bytes() for c in codes}
    before = _mtimes(project)
    proc = make(project, "-j2", "report")
    assert _validated(proc.stdout) == ["la-b"], proc.stdout
    assert proc.stderr.count("[cinreport] disclosure pass over everything") == 1, proc.stderr
    after = _slices(project, codes)
    changed = [c for c in others if after[c] != slices[c]]
    ran, kept = _ran(proc.stderr), _kept(proc.stderr)
    assert ran.count("la-b") == 1 and "la-b" not in kept  # its params file is newer than its chapter
    assert sorted(c for c in ran if c != "la-b") == changed, proc.stderr
    assert sorted(kept) == [c for c in others if c not in changed], proc.stderr
    for code in others:
        nb = f"build/authorities/{code}/authority.ipynb"
        if code not in changed:
            assert (project / nb).read_bytes() == notebooks[code], f"{code} was kept but its chapter changed"
        assert _mtimes(project)[nb] != before[nb]  # executed or touched: newer than the pass
    assert _copies(project, codes) == after  # every chapter now stands on the current slices
    study = sorted(p.stem for p in (project / "notebooks" / "study").glob("*.ipynb"))
    assert sorted(re.findall(r"\[cinreport\] running study-([a-z0-9_]+) ->", proc.stderr)) == study
    assert "render --out" in proc.stdout
    assert make(project, "-q", "report", check=False).returncode == 0


def test_bad_data_stops_build_and_keeps_last_report(built_project, tmp_path):
    project = tmp_path / "p"
    shutil.copytree(built_project, project, copy_function=shutil.copy2, symlinks=True)
    before = {p.relative_to(project).as_posix(): p.read_bytes()
              for d in ("build", "_book") for p in (project / d).rglob("*") if p.is_file()}
    cases = project / "data" / "la-c" / "case_files.csv"
    lines = cases.read_text().splitlines()
    fields = lines[3].split(",")
    fields[6] = "N12"
    lines[3] = ",".join(fields)
    cases.write_text("\n".join(lines) + "\n")
    proc = make(project, "report", check=False)
    assert proc.returncode != 0
    assert "data/la-c/case_files.csv, row 4, column 'primary_need', value 'N12'" in proc.stderr
    after = {p.relative_to(project).as_posix(): p.read_bytes()
             for d in ("build", "_book") for p in (project / d).rglob("*") if p.is_file()}
    # Make's record of what the inputs are (build/stamps/) follows the inputs; every output stays
    stamps = ("build/stamps/",)
    assert {k: v for k, v in after.items() if not k.startswith(stamps)} == \
        {k: v for k, v in before.items() if not k.startswith(stamps)}


def _mtimes(project: Path) -> dict[str, int]:
    build = project / "build"
    return {p.relative_to(project).as_posix(): p.stat().st_mtime_ns
            for p in sorted(build.glob("authorities/*/authority.ipynb")) + sorted(build.glob("study/*.ipynb"))}


def test_adding_an_authority_step_by_step(built_project, tmp_path):
    """README "Adding an authority": params file, data folder, make validate, make authority, make report."""
    from cinreport.data import synth
    from cinreport.data.config import load_report

    project = tmp_path / "p"
    shutil.copytree(built_project, project, copy_function=shutil.copy2, symlinks=True)
    code = "la-q"  # not one of the demo authorities
    assert not (project / "params" / "authorities" / f"{code}.yml").exists()
    report = load_report(project / "params")
    synth.generate(project / "data", report.seed, (report.period_start, report.period_end),
                   {code: synth.varied_profile(report.seed, code)})
    (project / "params" / "authorities" / f"{code}.yml").write_text(
        'name: "Authority Q"\ndata_dir: data/la-q\n', encoding="utf-8")

    checked = make(project, "validate")
    assert code in checked.stdout
    demo = [c for c in _codes(project) if c != code]
    before = _mtimes(project)
    book_before = (project / "_book" / "index.html").read_bytes()
    slices_before = _slices(project, demo)
    assert _copies(project, demo) == slices_before

    one = make(project, "authority", f"CODE={code}")
    assert _validated(one.stdout) == [code], one.stdout  # the others' validation is up to date
    assert one.stderr.count("[cinreport] disclosure pass over everything") == 1, one.stderr
    assert _ran(one.stderr) == [code] and _kept(one.stderr) == [], one.stderr
    after_one = _mtimes(project)
    assert f"build/authorities/{code}/authority.ipynb" in after_one
    assert {k: v for k, v in after_one.items() if k in before} == before  # nothing else re-ran
    assert (project / "_book" / "index.html").read_bytes() == book_before  # the book waits for make report
    assert _copies(project, [code]) == _slices(project, [code])
    slices_one = _slices(project, demo)
    changed = [c for c in demo if slices_one[c] != slices_before[c]]  # linked to la-q by suppression

    full = make(project, "-j2", "report")
    after = _mtimes(project)
    assert "disclosure pass" not in full.stderr  # already done by make authority
    assert _slices(project, demo) == slices_one
    assert sorted(_ran(full.stderr)) == changed, full.stderr  # la-q was already built
    assert sorted(_kept(full.stderr)) == [c for c in demo if c not in changed], full.stderr
    assert after[f"build/authorities/{code}/authority.ipynb"] == after_one[f"build/authorities/{code}/authority.ipynb"]
    for c in demo:
        if c not in changed:
            nb = project / "build" / "authorities" / c / "authority.ipynb"
            assert nb.read_bytes() == (built_project / "build" / "authorities" / c / "authority.ipynb").read_bytes()
    assert _copies(project, demo + [code]) == _slices(project, demo + [code])
    rerun = sorted(k for k, v in after.items() if after_one.get(k) != v)
    assert [k for k in rerun if k.startswith("build/study/")] == sorted(k for k in after if k.startswith("build/study/"))
    page = project / "_book" / f"{code}.html"
    assert "Authority Q" in " ".join(parse(page).text)
    assert "Authority Q" in " ".join(parse(project / "_book" / "profiles.html").text)
    assert make(project, "-q", "report", check=False).returncode == 0


def test_progress_is_one_line_per_notebook(built_project, tmp_path):
    """Every notebook the build's dry run plans gets one line: "executed in" with its place in the
    plan, or, for an authority chapter whose published numbers did not change, "kept" (which counts
    too, so the places of the executed ones are distinct and within the plan)."""
    project = tmp_path / "p"
    shutil.copytree(built_project, project, copy_function=shutil.copy2, symlinks=True)
    edit_params(project, "la-c")
    plan = make(project, "-n", "report").stdout
    planned_authorities = re.findall(r" run-authority (la-[a-z0-9-]+)", plan)
    planned_study = re.findall(r" run-study ([a-z0-9_]+)", plan)
    assert sorted(planned_authorities) == _codes(project)  # the pass reruns, so every chapter may run
    assert sorted(planned_study) == sorted(p.stem for p in (project / "notebooks" / "study").glob("*.ipynb"))
    total = len(planned_authorities) + len(planned_study)

    proc = make(project, "-j2", "report")
    lines = [line for line in proc.stderr.splitlines() if "executed in" in line]
    pattern = rf"\[ ?(\d+)/{total}\] (authority la-[a-z0-9-]+|study chapter [a-z0-9_]+) executed in \d+\.\d s " \
              r"\(elapsed \d+:\d\d\)"
    assert all(re.fullmatch(pattern, line) for line in lines), proc.stderr
    executed = [re.fullmatch(pattern, line).group(2) for line in lines]
    kept = _kept(proc.stderr)
    for code in planned_authorities:
        assert (executed.count(f"authority {code}"), kept.count(code)) in ((1, 0), (0, 1)), proc.stderr
    for name in planned_study:
        assert executed.count(f"study chapter {name}") == 1, proc.stderr
    assert len(executed) + len(kept) == total, proc.stderr
    assert "authority la-c" in executed  # its params file is newer than its chapter
    numbers = [int(re.match(r"\[ ?(\d+)/", line).group(1)) for line in lines]
    assert len(set(numbers)) == len(numbers) and all(1 <= n <= total for n in numbers), proc.stderr
