"""themes.csv from a REFI-QDA project export: a small .qdpx written here (the structure of the
standard's Project.xsd), mapped to the codebook's themes, counted, checked and validated."""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
import zipfile
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pytest

from cinreport import cli
from cinreport.data.codebook import load_codebook
from cinreport.data.config import Authority
from cinreport.data.qda import QdaError, import_qdpx, read_project
from cinreport.data.validate import validate_authority

ROOT = Path(__file__).resolve().parents[1]
CODEBOOK = load_codebook(ROOT / "data" / "codebook.yml")
NS = "urn:QDA-XML:project:1.0"


def guid(label: str) -> str:
    """A stable guid per label, so tests can name them."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, label)).upper()


# codes: (label, parent or None)
CODES = [("Parents", None), ("Working with parents", "Parents"), ("Parents as partners", "Parents"),
         ("Waits", None), ("CAMHS waits", "Waits"), ("Reflections", None), ("Memo-ish", None)]
TRANSCRIPT = "Interviewer: how did it go? Participant Q: we waited months for the appointment."


def source_xml(label: str, selections: list[list[str]], whole: list[str] = ()) -> str:
    """A TextSource with one PlainTextSelection per list of code labels (and whole-source codings)."""
    parts = [f'<TextSource guid="{guid(label)}" name={quoteattr(label)}>',
             f"<PlainTextContent>{TRANSCRIPT}</PlainTextContent>"]
    for i, codes in enumerate(selections):
        parts.append(f'<PlainTextSelection guid="{guid(f"{label}-sel{i}")}" name="{TRANSCRIPT[:20]}" '
                     f'startPosition="{i * 5}" endPosition="{i * 5 + 4}">')
        for code in codes:
            parts.append(f'<Coding guid="{guid(f"{label}-sel{i}-{code}")}"><CodeRef targetGUID="{guid(code)}"/></Coding>')
        parts.append("</PlainTextSelection>")
    for code in whole:
        parts.append(f'<Coding guid="{guid(f"{label}-whole-{code}")}"><CodeRef targetGUID="{guid(code)}"/></Coding>')
    parts.append("</TextSource>")
    return "".join(parts)


def code_xml(label: str) -> str:
    children = "".join(code_xml(c) for c, parent in CODES if parent == label)
    return f'<Code guid="{guid(label)}" name={quoteattr(label)} isCodable="true">{children}</Code>'


def project_xml(namespace: str = NS) -> str:
    sources = [
        source_xml("Focus group one, full transcript",
                   [["Working with parents"], ["Working with parents", "Parents as partners"], ["CAMHS waits"],
                    ["CAMHS waits", "Reflections"]]),
        source_xml("Family visit part 1", [["CAMHS waits"], ["Memo-ish"]]),
        source_xml("Family visit part 2", [["CAMHS waits"]], whole=["Parents as partners"]),
        source_xml("Review of case four", [["Working with parents"], ["Reflections"]]),
        source_xml("Uncoded note", []),
    ]
    cases = (f'<Cases><Case guid="{guid("Family 3")}" name="Family 3">'
             f'<SourceRef targetGUID="{guid("Family visit part 1")}"/>'
             f'<SourceRef targetGUID="{guid("Family visit part 2")}"/></Case></Cases>')
    codes = "".join(code_xml(c) for c, parent in CODES if parent is None)
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<Project xmlns="{namespace}" name="Study" origin="test">'
            f'<Users><User guid="{guid("user")}" name="coder"/></Users>'
            f"<CodeBook><Codes>{codes}</Codes></CodeBook>{cases}<Sources>{''.join(sources)}</Sources></Project>")


def write_qdpx(path: Path, xml: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("project.qde", xml or project_xml())
        archive.writestr("Sources/transcript.txt", TRANSCRIPT)
    return path


MAPPING = f"""\
codes:
  Parents/Working with parents: collaboration_with_parents
  Parents as partners: collaboration_with_parents
  "{{{guid('CAMHS waits').lower()}}}": mental_health_waits
  Memo-ish: null
sources:
  Focus group one, full transcript: {{id: LAA-FG1, type: focus_group}}
  Family 3: {{id: LAA-P1, type: parent_interview}}
  Review of case four: {{id: LAA-C004, type: case_discussion}}
"""


@pytest.fixture
def files(tmp_path):
    qdpx = write_qdpx(tmp_path / "study.qdpx")
    mapping = tmp_path / "mapping.yml"
    mapping.write_text(MAPPING, encoding="utf-8")
    return qdpx, mapping


def with_reflections_left_out(mapping: Path) -> Path:
    text = mapping.read_text(encoding="utf-8").replace("  Memo-ish: null\n", "  Memo-ish: null\n  Reflections: null\n")
    mapping.write_text(text, encoding="utf-8")
    return mapping


def test_project_is_read_with_codes_sources_cases_and_codings(files):
    project = read_project(files[0])
    assert project.codes[guid("CAMHS waits").lower()] == "Waits/CAMHS waits"
    assert len(project.sources) == 5
    assert project.case_sources[guid("Family 3").lower()] == [guid("Family visit part 1").lower(),
                                                            guid("Family visit part 2").lower()]
    assert len(project.codings) == 12


def test_segments_are_counted_per_source_and_theme(files, tmp_path):
    out = tmp_path / "themes.csv"
    result, lines = import_qdpx(files[0], with_reflections_left_out(files[1]), out, CODEBOOK)
    assert out.read_text(encoding="utf-8") == (
        "source_id,source_type,theme,segments\n"
        "LAA-C004,case_discussion,collaboration_with_parents,1\n"
        "LAA-FG1,focus_group,collaboration_with_parents,2\n"   # the selection coded twice counts once
        "LAA-FG1,focus_group,mental_health_waits,2\n"
        "LAA-P1,parent_interview,collaboration_with_parents,1\n"  # a whole-source coding, through the case
        "LAA-P1,parent_interview,mental_health_waits,2\n")       # two sources of one case, summed
    assert lines == [
        "read 7 codes, 5 sources, 12 codings; wrote 5 rows (8 coded segments) for 3 sources",
        "  left out (mapped to null): code 'Memo-ish': 1 segment(s)",
        "  left out (mapped to null): code 'Reflections': 2 segment(s)"]


def test_unmapped_codes_are_listed_with_counts_and_nothing_is_written(files, tmp_path):
    out = tmp_path / "themes.csv"
    with pytest.raises(QdaError) as exc:
        import_qdpx(files[0], files[1], out, CODEBOOK)
    assert str(exc.value).splitlines()[1:] == [
        "  left out (mapped to null): code 'Memo-ish': 1 segment(s)",
        f"  unmapped code 'Reflections' (guid {guid('Reflections').lower()}): 2 segment(s)"]
    assert not out.exists()


def test_ignore_unmapped_writes_the_mapped_segments_and_still_lists_the_rest(files, tmp_path):
    out = tmp_path / "themes.csv"
    result, lines = import_qdpx(files[0], files[1], out, CODEBOOK, ignore_unmapped=True)
    assert result.segments == 8
    assert f"  unmapped code 'Reflections' (guid {guid('Reflections').lower()}): 2 segment(s)" in lines


def test_unmapped_sources_are_listed(files, tmp_path):
    mapping = with_reflections_left_out(files[1])
    mapping.write_text(mapping.read_text(encoding="utf-8").replace(
        "  Review of case four: {id: LAA-C004, type: case_discussion}\n", ""), encoding="utf-8")
    with pytest.raises(QdaError) as exc:
        import_qdpx(files[0], mapping, tmp_path / "themes.csv", CODEBOOK)
    assert (f"  unmapped source 'Review of case four' (guid {guid('Review of case four').lower()}): "
            "1 coded segment(s)") in str(exc.value).splitlines()


def test_output_passes_validation_and_holds_no_names_or_text(files, tmp_path):
    data = shutil.copytree(ROOT / "data" / "la-a", tmp_path / "la-a")
    (data / "sources.csv").unlink()  # the demo's list names the demo's sources, not this project's (it is optional)
    import_qdpx(files[0], with_reflections_left_out(files[1]), data / "themes.csv", CODEBOOK)
    authority = Authority("la-a", "Authority A", data, dt.date(2019, 4, 1), dt.date(2021, 3, 31),
                          Path("params/authorities/la-a.yml"))
    tables, problems = validate_authority(authority, CODEBOOK)
    assert problems == []
    assert tables["themes"]["segments"].sum() == 8
    text = (data / "themes.csv").read_text(encoding="utf-8")
    for secret in ("Focus group one", "Family", "Review of case", "Participant", "waited", "Parents as partners"):
        assert secret not in text


def test_mapping_problems_name_key_and_value(files, tmp_path):
    mapping = tmp_path / "bad.yml"
    mapping.write_text("codes:\n  Waits: long_waits\nsources:\n  Family 3: {id: Smith family, type: parent}\n",
                       encoding="utf-8")
    with pytest.raises(QdaError) as exc:
        import_qdpx(files[0], mapping, tmp_path / "themes.csv", CODEBOOK)
    lines = str(exc.value).splitlines()
    assert lines[0] == f"{mapping}: 3 problem(s):"
    assert lines[1].startswith("  codes: 'Waits': 'long_waits' is not a theme of the codebook (allowed: ")
    assert lines[2] == ("  sources: 'Family 3': id 'Smith family' must be letters, digits, '-' and '_', at most "
                        "20 characters (a pseudonymous id, never a name)")
    assert lines[3] == ("  sources: 'Family 3': type 'parent' is not a source type (allowed: focus_group, "
                        "case_discussion, parent_interview, roundtable)")


def test_counts_over_the_codebook_limit_are_refused_before_writing(tmp_path):
    many = source_xml("Focus group one, full transcript", [["CAMHS waits"]] * 1001)
    xml = project_xml().replace(source_xml("Focus group one, full transcript",
                                           [["Working with parents"], ["Working with parents", "Parents as partners"],
                                            ["CAMHS waits"], ["CAMHS waits", "Reflections"]]), many)
    qdpx = write_qdpx(tmp_path / "big.qdpx", xml)
    mapping = tmp_path / "mapping.yml"
    mapping.write_text(MAPPING, encoding="utf-8")
    with_reflections_left_out(mapping)
    out = tmp_path / "themes.csv"
    with pytest.raises(QdaError) as exc:
        import_qdpx(qdpx, mapping, out, CODEBOOK)
    assert f"{out}, row 3, column 'segments', value '1001': must be between 1 and 1000" in str(exc.value)
    assert not out.exists()


def test_a_file_in_another_namespace_is_not_a_project(tmp_path, files):
    qdpx = write_qdpx(tmp_path / "other.qdpx", project_xml("urn:example:other"))
    with pytest.raises(QdaError, match="no codes found in namespace urn:QDA-XML:project:1.0"):
        import_qdpx(qdpx, files[1], tmp_path / "themes.csv", CODEBOOK)


def test_cli_writes_into_the_authority_data_dir(files, tmp_path, monkeypatch, capsys):
    project = tmp_path / "project"
    (project / "params" / "authorities").mkdir(parents=True)
    (project / "params" / "authorities" / "la-x.yml").write_text("name: X\ndata_dir: raw/x\n", encoding="utf-8")
    (project / "raw" / "x").mkdir(parents=True)
    (project / "data").mkdir()
    shutil.copy(ROOT / "data" / "codebook.yml", project / "data")
    monkeypatch.chdir(project)
    mapping = with_reflections_left_out(files[1])
    assert cli.main(["import", "qdpx", str(files[0]), "--authority", "la-x", "--mapping", str(mapping)]) == 0
    assert (project / "raw" / "x" / "themes.csv").read_text(encoding="utf-8").count("\n") == 6
    assert capsys.readouterr().out.startswith("raw/x/themes.csv: read 7 codes, 5 sources, 12 codings;")
    unmapped = tmp_path / "unmapped.yml"
    unmapped.write_text(MAPPING, encoding="utf-8")
    assert cli.main(["import", "qdpx", str(files[0]), "--authority", "la-y", "--mapping", str(unmapped)]) == 1
    assert "unmapped code 'Reflections'" in capsys.readouterr().err
    assert not (project / "data" / "la-y").exists()
