"""Every key in the Quarto config is one Quarto's own schemas know in that place.

Quarto cannot be installed here, so these tests read its schema files (see tests/quarto_schema.py)
from ``<repo>/../shared/reference/quarto-schema`` or ``$CINREPORT_QUARTO_SCHEMA``; they are skipped
when that folder is absent. The negative tests prove the checker rejects made-up keys at each
level, so the file tests cannot pass vacuously.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quarto_schema  # noqa: E402
from cinreport.cli import book_profile  # noqa: E402
from quarto_schema import ENV_VAR, QuartoSchema, front_matter, schema_dir  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
QUARTO_YML = REPO / "_quarto.yml"
PROFILE_FILES = sorted(REPO.glob("_quarto-*.yml"))
QMD_FILES = [p for p in [REPO / "index.qmd", *sorted((REPO / "report").glob("*.qmd"))]
             if p.is_file()]
# What `cinreport book-config` writes into _quarto-chapters.yml: every chapter, one per authority too.
PROFILE_SNIPPET = yaml.safe_load(book_profile(["la-a", "la-b"], "build"))


@pytest.fixture(scope="module")
def schema() -> QuartoSchema:
    folder = schema_dir(REPO)
    if not (folder / "project.yml").is_file():
        pytest.skip(f"Quarto schema folder not found at {folder}; check out the shared folder "
                    f"beside the repository or set {ENV_VAR} to quarto-cli's src/resources/schema")
    return QuartoSchema(folder)


def _report(problems: list[str]) -> str:
    return "Keys/values Quarto does not know in their place:\n  " + "\n  ".join(problems)


# --- the project's own files ----------------------------------------------------------------
def test_quarto_yml_has_only_known_options(schema):
    config = yaml.safe_load(QUARTO_YML.read_text(encoding="utf-8"))
    problems = schema.check_project_config(config)
    assert not problems, _report(problems)


@pytest.mark.parametrize("path", PROFILE_FILES, ids=lambda p: p.name)
def test_generated_profile_file_has_only_known_options(schema, path):
    problems = schema.check_project_config(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    assert not problems, _report(problems)


def test_profile_snippet_has_only_known_options(schema):
    assert schema.check_project_config(PROFILE_SNIPPET) == []


@pytest.mark.parametrize("path", QMD_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_front_matter_has_only_known_document_options(schema, path):
    problems = schema.check_front_matter(front_matter(path.read_text(encoding="utf-8")))
    assert not problems, _report(problems)


# --- the checker accepts what Quarto knows ...------------------------------------------------
def test_schema_files_are_loaded_not_empty(schema):
    assert len(schema.options(fmt="html")) > 150
    assert {"toc", "number-sections", "css"} <= set(schema.options(fmt="html"))
    assert {"toc", "number-sections", "papersize"} <= set(schema.options(fmt="typst"))
    assert "css" not in schema.options(fmt="typst")
    assert {"echo", "warning", "eval", "freeze"} <= set(schema.options("document-execute"))


def test_checker_accepts_known_options_everywhere(schema):
    config = {
        "project": {"type": "book", "output-dir": "_book", "pre-render": "make report"},
        "profile": {"default": "authorities", "group": [["a", "b"]]},
        "book": {"title": "T", "author": ["A", "B"], "search": True, "downloads": ["pdf"],
                 "chapters": ["index.qmd", {"part": "P", "chapters": ["a.ipynb"]},
                              {"href": "b.qmd", "text": "B"}],
                 "appendices": ["c.ipynb"], "repo-url": "https://example.org"},
        "lang": "en-GB", "toc": True, "echo": False, "date": yaml.safe_load("2026-01-31"),
        "execute": {"echo": False, "warning": False, "eval": True, "freeze": "auto"},
        "format": {"html": {"toc": True, "css": ["a.css"], "execute": {"echo": False}},
                   "typst": {"toc": True, "papersize": "a4", "number-sections": True},
                   "acm-pdf": {"toc": True}, "docx": "default"},
    }
    assert schema.check_project_config(config) == []
    assert schema.check_front_matter({"title": "x", "format": "typst", "echo": False}) == []


# --- ... and rejects what it does not, at every level -----------------------------------------
@pytest.mark.parametrize("config, expected", [
    ({"book": {"chapter": ["index.qmd"]}}, "book.chapter: not an option Quarto knows for book"),
    ({"format": {"html": {"tocc": True}}}, "format.html.tocc: not an option Quarto knows for html"),
    ({"format": {"typst": {"css": "a.css"}}},
     "format.typst.css: not an option Quarto knows for typst"),
    ({"format": {"htmll": {}}}, "format.htmll: not an output format Quarto knows"),
    ({"project": {"outdir": "_book"}}, "project.outdir: not an option Quarto knows for project"),
    ({"profile": {"defaults": "x"}}, "profile.defaults: not an option Quarto knows for profile"),
    ({"execute": {"ecko": False}}, "execute.ecko: not an execution option Quarto knows"),
    ({"titel": "x"}, "titel: not an option Quarto knows at the top of _quarto.yml"),
    ({"type": "book"}, "type: type key not supported at project type-level"),
    ({"format": {"html": {"toc": "yes"}}}, "format.html.toc: expected boolean, got 'yes'"),
    ({"book": {"downloads": ["mobi"]}}, "book.downloads[0]: 'mobi' is not one of"),
    ({"project": {"type": 3}}, "project.type: expected string, got 3"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_checker_rejects_unknown_keys_and_bad_values(schema, config, expected):
    problems = schema.check_project_config(config)
    assert len(problems) == 1 and problems[0].startswith(expected), problems


def test_checker_lists_every_problem(schema):
    config = {"book": {"chapter": []}, "format": {"typst": {"css": "a", "tocc": True}}}
    assert len(schema.check_project_config(config)) == 3


@pytest.mark.parametrize("meta, expected", [
    ({"project": {"type": "book"}}, "project: not a document option Quarto knows"),
    ({"tocc": True}, "tocc: not a document option Quarto knows"),
    ({"format": {"typst": {"css": "a.css"}}},
     "format.typst.css: not an option Quarto knows for typst"),
])
def test_front_matter_check_rejects_unknown_keys(schema, meta, expected):
    assert schema.check_front_matter(meta) == [expected]


# --- helpers that need no schema folder -------------------------------------------------------
def test_schema_dir_defaults_to_shared_beside_repo_and_env_overrides(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert schema_dir(REPO) == REPO.parent / "shared" / "reference" / "quarto-schema"
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert quarto_schema.schema_dir(REPO) == tmp_path


def test_front_matter_reads_leading_yaml_block_only():
    assert front_matter("---\ntitle: Methods\necho: false\n---\n\n# Body\n---\n") == {
        "title": "Methods", "echo": False}
    assert front_matter("# No front matter\n---\na: 1\n---\n") is None
