"""Render the book: Quarto where installed, otherwise Pandoc (HTML) + Typst (PDF).

Both renderers read the chapter list from ``_quarto.yml`` (plus the default profile file, e.g.
``_quarto-authorities.yml``) and consume the same executed notebooks and static chapters; neither
executes code.

The fallback is deliberately small glue around Pandoc:

* each chapter is read on its own into Pandoc's JSON AST (Pandoc cannot read several ``.ipynb``
  files at once); notebooks go ipynb -> Markdown (Pandoc picks the richest output of each cell for
  Markdown, so ``text/markdown`` outputs survive as Markdown) -> JSON;
* the AST is filtered in Python: code-cell sources, stderr streams and bare object reprs are
  dropped, everything else (Markdown text, tables, figures, stdout) is kept;
* chapters and their sections are numbered ("1", "1.2", appendices "A", "A.1"); figures and tables
  with ``fig-``/``tbl-`` ids are numbered per chapter and ``@fig-...``-style cross-references are
  resolved;
* local images are copied into ``<out>/figures/<page>/`` and their targets rewritten;
* HTML: one page per chapter (Pandoc HTML fragment inside a page shell built here: sidebar nav,
  on-this-page contents, previous/next links, footer naming the renderer);
* PDF: all chapters joined into one document, written as Typst by Pandoc with a small template
  (title page, contents, running header, page numbers) and compiled with the ``typst`` module;
* Quarto's conditional content is honoured where it depends on metadata or profiles
  (``::: {.content-visible when-meta="synthetic-data"}``, ``content-hidden``, ``unless-meta``,
  ``when-profile``), with the book's metadata and what the build sets (see
  :func:`render_metadata`); a condition on the output format is left as it is (shown in both);
* with a cache folder, conversions and prepared chapters are reused (see :class:`PandocCache`) and
  Pandoc runs on a thread per core; the book is the same, byte for byte, with or without it.

Rendering is atomic: output is built in a temporary sibling folder and swapped into place only
when everything succeeded; on failure the previous output folder is untouched.
"""
from __future__ import annotations

import argparse
import functools
import html
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

import yaml

from .atomic import recover_folder, replace_folder
from .parallel import in_parallel

__all__ = [
    "Chapter",
    "RenderError",
    "RenderResult",
    "book_chapters",
    "book_config",
    "detect_renderer",
    "main",
    "page_names",
    "render_book",
    "renderer_description",
]

PDF_NAME = "cinreport.pdf"
DATA_DIR = "data"  # the open data (CSV) in the book, written by opendata.publish
RENDERERS = ("quarto", "pandoc-typst")


class RenderError(RuntimeError):
    """The book could not be rendered; the message names the file that failed."""


@dataclass(frozen=True)
class Chapter:
    path: Path  # relative to the book root
    part: str | None  # title of the enclosing ``- part:`` entry
    appendix: bool
    number: int | None  # ordinal among numbered chapters (or among appendices); None = unnumbered
    label: str  # displayed number: "1", "A", or "" when unnumbered


@dataclass
class RenderResult:
    renderer: str
    html_index: Path
    pdf: Path
    pages: list[Path] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Book configuration


def _merge(base, extra):
    """Quarto-style merge: mappings merge recursively, arrays are appended, scalars replaced."""
    if isinstance(base, dict) and isinstance(extra, dict):
        merged = dict(base)
        for key, value in extra.items():
            merged[key] = _merge(base[key], value) if key in base else value
        return merged
    if isinstance(base, list) and isinstance(extra, list):
        return base + extra
    return extra


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RenderError(f"Cannot read book configuration {path}: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RenderError(f"Book configuration {path} is not a YAML mapping")
    return data


def _profiles(config: dict) -> list[str]:
    """The active Quarto profiles: QUARTO_PROFILE, else the configuration's profile.default."""
    profiles = os.environ.get("QUARTO_PROFILE") or (config.get("profile") or {}).get("default")
    if isinstance(profiles, str):
        profiles = [p.strip() for p in profiles.split(",")]
    return [str(p) for p in profiles or [] if p]


def book_config(root: Path) -> dict:
    """``_quarto.yml`` merged with the active profile files (QUARTO_PROFILE or profile.default)."""
    root = Path(root)
    config_path = root / "_quarto.yml"
    if not config_path.is_file():
        raise RenderError(f"Book configuration not found: {config_path}")
    config = _read_yaml(config_path)
    for name in _profiles(config):
        profile_path = root / f"_quarto-{name}.yml"
        if profile_path.is_file():
            config = _merge(config, _read_yaml(profile_path))
    return config


# Metadata the build sets from params/report.yml, for both renderers (Quarto: ``-M key:value``).
SYNTHETIC_META = "synthetic-data"  # true when synthetic_data: true; chapters use when-meta on it
SYNTHETIC_LABEL = "Synthetic data"
WEAKENED_META = "suppression-weakened"  # true when the threshold is below 3 (disclosure.allow_low_threshold)
WEAKENED_LABEL = "Suppression weakened"
WEAKENED_NOTE = ("Disclosure control is weaker than the project's rules: the threshold in params/report.yml is "
                 "below 3 (disclosure.allow_low_threshold). Not for publication without an output checker's approval.")
SYNTHETIC_NOTE = ("The figures in this report come from synthetic data for fictional authorities. "
                  "They describe no real child, family or authority.")


def render_metadata(root: Path, synthetic: bool | None = None) -> dict[str, bool]:
    """Metadata the render adds to every chapter: ``synthetic-data`` from ``synthetic_data`` in
    ``<root>/params/report.yml`` (false where there is no such file), unless ``synthetic`` is given.

    Quarto receives it as ``-M synthetic-data:true|false``; the fallback renderer evaluates
    ``when-meta``/``unless-meta`` against it and puts the flag on the PDF's cover and running
    header."""
    weakened = False
    if (Path(root) / "params" / "report.yml").is_file():
        from .config import ParamsError, load_report

        try:
            report = load_report(Path(root) / "params")
        except ParamsError as exc:
            raise RenderError(f"Cannot read synthetic_data from params/report.yml: {exc}") from exc
        weakened = report.suppression_weakened
        if synthetic is None:
            synthetic = report.synthetic_data
    return {SYNTHETIC_META: bool(synthetic), WEAKENED_META: bool(weakened)}


_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n(?:---|\.\.\.)\s*\n", re.S)
_UNNUMBERED_H1 = re.compile(r"^#\s+[^\n]*\{[^}\n]*(?:\.unnumbered|(?<![\w-])-(?![\w-]))[^}\n]*\}\s*$", re.M)


def _front_matter(text: str) -> dict:
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def _is_unnumbered(root: Path, rel: str) -> bool:
    if Path(rel).stem == "index" and len(Path(rel).parts) == 1:
        return True
    if Path(rel).suffix not in (".qmd", ".md"):
        return False
    try:
        text = (root / rel).read_text(encoding="utf-8")
    except OSError:
        return False
    meta = _front_matter(text)
    if meta.get("number-sections") is False or "unnumbered" in str(meta.get("title-block-classes", "")):
        return True
    body = text[_FRONT_MATTER.match(text).end():] if _FRONT_MATTER.match(text) else text
    first_h1 = re.search(r"^#\s[^\n]*$", body, re.M)
    return bool(first_h1 and _UNNUMBERED_H1.match(first_h1.group(0)))


def _part_title(root: Path, part: str) -> str:
    """A part is a title string or (Quarto also allows) a file whose title names the part."""
    candidate = root / part
    if part.endswith((".qmd", ".md")) and candidate.is_file():
        text = candidate.read_text(encoding="utf-8")
        title = _front_matter(text).get("title")
        if title:
            return str(title)
        heading = re.search(r"^#\s+(.+?)\s*(\{.*\})?\s*$", text, re.M)
        if heading:
            return heading.group(1)
    return str(part)


def book_chapters(root: Path) -> list[Chapter]:
    """The book's chapters in reading order: base chapters, profile chapters, then appendices."""
    root = Path(root)
    book = book_config(root).get("book") or {}
    entries: list[tuple[str, str | None, bool]] = []

    def walk(items, appendix: bool, part: str | None) -> None:
        for item in items or []:
            if isinstance(item, str):
                entries.append((item, part, appendix))
            elif isinstance(item, dict) and "part" in item:
                walk(item.get("chapters"), appendix, _part_title(root, str(item["part"])))
            elif isinstance(item, dict) and ("href" in item or "file" in item):
                entries.append((str(item.get("href") or item.get("file")), part, appendix))
            else:
                raise RenderError(f"Unrecognised book chapter entry in _quarto.yml: {item!r}")

    walk(book.get("chapters"), False, None)
    walk(book.get("appendices"), True, None)
    if not entries:
        raise RenderError(f"No chapters listed under book: chapters: in {root / '_quarto.yml'}")

    chapters: list[Chapter] = []
    n_chapter = n_appendix = 0
    for rel, part, appendix in entries:
        if not (root / rel).is_file():
            raise RenderError(
                f"Chapter file not found: {rel} (listed in {root / '_quarto.yml'} or its profile)"
            )
        if _is_unnumbered(root, rel):
            number, label = None, ""
        elif appendix:
            n_appendix += 1
            number, label = n_appendix, _letters(n_appendix)
        else:
            n_chapter += 1
            number, label = n_chapter, str(n_chapter)
        chapters.append(Chapter(Path(rel), part, appendix, number, label))
    return chapters


def _letters(n: int) -> str:
    out = ""
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(ord("A") + rem) + out
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-") or "chapter"


# Stems that say nothing about the chapter: its folder names it (build/authorities/<code>/).
_GENERIC_STEMS = {"authority", "index"}


def page_names(chapters: list[Chapter]) -> list[str]:
    """HTML file names: index.html for the first chapter, then the file stem, or the parent
    folder name when stems repeat (build/authorities/la-a/authority.ipynb -> la-a.html)."""
    stems = [c.path.stem for c in chapters]
    names: list[str] = []
    for i, chapter in enumerate(chapters):
        if i == 0:
            base = "index"
        elif stems.count(chapter.path.stem) > 1 or chapter.path.stem in _GENERIC_STEMS:
            parent = chapter.path.parent.name
            base = parent if parent and parent not in stems else f"{parent}-{chapter.path.stem}"
        else:
            base = chapter.path.stem
        base = _slug(base)
        name, k = base, 2
        while f"{name}.html" in names:
            name, k = f"{base}-{k}", k + 1
        names.append(f"{name}.html")
    return names


# --------------------------------------------------------------------------------------------
# Renderer choice: cinreport.engines (the provenance chapter names the engines without importing
# the renderer, so a renderer edit re-renders and executes no notebook)

from .engines import detect_renderer, renderer_description  # noqa: E402


# --------------------------------------------------------------------------------------------
# Public entry point


def render_book(root: Path, out_dir: Path, renderer: str | None = None, cache_dir: Path | None = None,
                pdf_exclude: frozenset[str] | set[str] = frozenset(), synthetic: bool | None = None) -> RenderResult:
    """Render the book in ``root`` into ``out_dir`` atomically (all or nothing).

    ``cache_dir``: keep Pandoc's conversions there, keyed by content (see :class:`PandocCache`), so a
    re-render converts only the chapters that changed. ``pdf_exclude``: chapter paths (relative to
    ``root``, POSIX) left out of the PDF (the HTML book keeps every chapter). ``synthetic``: whether
    the data are synthetic; None reads ``synthetic_data`` from ``<root>/params/report.yml`` (see
    :func:`render_metadata`). It drives the chapters' ``when-meta="synthetic-data"`` content, the
    PDF's cover and running header and the open data's flags.
    """
    root = Path(root).resolve()
    out_dir = Path(out_dir).resolve()
    renderer = renderer or detect_renderer()
    if renderer not in RENDERERS:
        raise ValueError(f"renderer must be one of {RENDERERS}, not {renderer!r}")
    chapters = book_chapters(root)  # fails before anything is written
    metadata = render_metadata(root, synthetic)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    recover_folder(out_dir)
    tmp = out_dir.parent / f".tmp-{out_dir.name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        from .opendata import publish  # the book's open data (data/), swapped in with the book

        flagged = metadata[SYNTHETIC_META]
        if renderer == "quarto":
            _render_quarto(root, tmp, metadata)
            publish(root / "build", tmp / "data", synthetic=flagged, weakened=metadata[WEAKENED_META])
        else:
            publish(root / "build", tmp / "data", synthetic=flagged, weakened=metadata[WEAKENED_META])
            cache = PandocCache(Path(cache_dir)) if cache_dir else None
            _render_fallback(root, chapters, tmp, cache, frozenset(pdf_exclude), metadata)
            if cache:
                cache.prune()
        pages = sorted(p.relative_to(tmp) for p in tmp.glob("*.html"))  # chapters (data/ has its own index)
        if not (tmp / "index.html").is_file() or not (tmp / PDF_NAME).is_file():
            raise RenderError(f"{renderer} finished but index.html or {PDF_NAME} is missing")
        from .atomic import fsync

        for path in tmp.rglob("*"):  # on disk before the book is swapped in (power loss)
            if path.is_file():
                fsync(path)
        replace_folder(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return RenderResult(
        renderer=renderer,
        html_index=out_dir / "index.html",
        pdf=out_dir / PDF_NAME,
        pages=[out_dir / p for p in pages],
    )


# --------------------------------------------------------------------------------------------
# Quarto


def _quarto_command(output_dir: str, metadata: dict | None = None) -> list[str]:
    """``quarto render`` of the project, with the build's metadata as ``-M key:value`` (Quarto reads
    the value as YAML, so true and false are booleans that ``when-meta`` can test)."""
    command = ["quarto", "render", "--output-dir", output_dir]
    for key, value in (metadata or {}).items():
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        command += ["-M", f"{key}:{text}"]
    return command


def _render_quarto(root: Path, out: Path, metadata: dict | None = None) -> None:
    try:
        output_dir = os.path.relpath(out, root)
    except ValueError:  # different drive on Windows
        output_dir = str(out)
    try:
        proc = subprocess.run(
            _quarto_command(output_dir, metadata),
            cwd=root,
            capture_output=True,
            text=True,
        )
    except OSError as exc:
        raise RenderError(f"Cannot run quarto: {exc}") from exc
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        progress = re.findall(r"^\s*\[\s*\d+/\d+\]\s+(\S+)", log, re.M)
        where = f" while rendering chapter {progress[-1]}" if progress else ""
        tail = "\n".join(log.strip().splitlines()[-20:])
        raise RenderError(f"quarto render failed (exit {proc.returncode}){where}:\n{tail}")
    pdfs = sorted(out.glob("*.pdf"))
    if not pdfs:
        raise RenderError("quarto render produced no PDF (is the typst format enabled?)")
    if not (out / PDF_NAME).exists():
        # Copy rather than rename so the HTML book's download link keeps working.
        shutil.copyfile(pdfs[0], out / PDF_NAME)


# --------------------------------------------------------------------------------------------
# Fallback: Pandoc AST helpers

_REPR = re.compile(r"<[\w.]+(?: object| at 0x[0-9a-f]+|\s+size\s+\d+x\d+)[^<>]*>(?:\s*<[^<>]*>)*", re.S)
_URL_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def _el(t: str, c=None) -> dict:
    return {"t": t} if c is None else {"t": t, "c": c}


def _str_inlines(text: str) -> list:
    out: list = []
    for i, word in enumerate(text.split()):
        if i:
            out.append(_el("Space"))
        out.append(_el("Str", word))
    return out


def _nodes(obj) -> list:
    """Every AST element (dict with "t") inside obj, depth first (in document order).

    A list, built with an explicit stack: a recursive generator costs a frame per level for every
    node, and the book's documents have millions of nodes at 153 authorities. Nodes added to the
    tree while the caller goes through the list are not in it."""
    found: list = []
    stack = [obj]
    pop, push = stack.pop, stack.extend
    while stack:
        node = pop()
        if isinstance(node, dict):
            if "t" in node:
                found.append(node)
            children = [v for v in node.values() if isinstance(v, (dict, list))]
        elif isinstance(node, list):
            children = [v for v in node if isinstance(v, (dict, list))]
        else:
            continue
        push(reversed(children))
    return found


def _copy_ast(obj):
    """A deep copy of a Pandoc JSON AST (dicts, lists and immutable leaves): several times faster
    than :func:`copy.deepcopy`, which tracks shared references the AST never has."""
    if isinstance(obj, dict):
        return {k: _copy_ast(v) if isinstance(v, (dict, list)) else v for k, v in obj.items()}
    return [_copy_ast(v) if isinstance(v, (dict, list)) else v for v in obj]


def _stringify(obj) -> str:
    parts: list[str] = []

    def go(node):
        if isinstance(node, list):
            for item in node:
                go(item)
        elif isinstance(node, dict):
            t = node.get("t")
            if t == "Str":
                parts.append(node["c"])
            elif t in ("Space", "SoftBreak", "LineBreak"):
                parts.append(" ")
            elif t in ("Code", "Math"):
                parts.append(node["c"][1])
            elif t in ("Note", "RawInline"):
                return
            elif t == "Quoted":
                parts.append("\u201c")
                go(node["c"][1])
                parts.append("\u201d")
            elif t in ("Link", "Image", "Span"):
                go(node["c"][1])
            elif "c" in node:
                go(node["c"])

    go(obj)
    return re.sub(r"\s+", " ", "".join(parts)).strip()


def _header_blocks(blocks: list):
    """Headers at top level or inside Divs (callouts, sections), in document order."""
    for block in blocks:
        if block["t"] == "Header":
            yield block
        elif block["t"] == "Div":
            yield from _header_blocks(block["c"][1])


@functools.lru_cache(maxsize=1)
def _pandoc_path() -> str:
    import pypandoc

    return pypandoc.get_pandoc_path()  # the binary pypandoc-binary ships, else the one on PATH


def _pandoc(what: str, args: list[str], text: str | None = None) -> str:
    """Run Pandoc directly (one process per conversion: pypandoc would also list Pandoc's formats
    twice on every call) and return its output; a failure names ``what`` it was converting."""
    try:
        proc = subprocess.run([_pandoc_path(), *args], input=text, capture_output=True, encoding="utf-8")
    except OSError as exc:
        raise RenderError(f"Pandoc failed on {what}: {exc}") from exc
    if proc.returncode != 0:
        raise RenderError(f"Pandoc failed on {what} (exit {proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


# --------------------------------------------------------------------------------------------
# Fallback: reading and preparing chapters


@dataclass
class _Doc:
    chapter: Chapter
    page: str  # e.g. "reasons.html"
    title: str  # plain text, including number
    blocks: list | None  # None: not loaded yet (see :func:`_blocks`)
    toc: list[tuple[int, str, str]]  # (level, id, text)
    targets: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # its own ids -> (kind, number, page)
    refs: dict[str, list[str]] = field(default_factory=dict)  # the ids it cites and chapter files it links
    key: str | None = None  # cache key of the prepared document; None when it is not cached
    resolved: bool = False  # links resolved (see :func:`_resolve_links`)
    api: list | None = None  # Pandoc's API version of the document
    load: object = None  # loads ``blocks`` from the cache when they are needed


class PandocCache:
    """Pandoc's conversions kept between renders, keyed by a hash of their whole input.

    A key covers the Pandoc version, the conversion and the exact bytes converted, so an entry is
    reused only for identical input: a chapter whose notebook did not change is not read again, and
    an HTML page whose document (numbering and links included) did not change is not converted
    again. Each chapter is also kept *prepared* (numbered, its images listed, the ids and chapter
    files its links point to recorded), keyed by what it was read from and its place in the book:
    an unchanged chapter is then not even loaded unless its page (because a link of it now resolves
    differently) or the PDF must be converted again. The key also covers this module's source, so
    any change to the renderer (to how it prepares a document for Pandoc, say) starts afresh.
    Entries are written atomically; :meth:`prune` drops those the last render did not use.
    """

    def __init__(self, folder: Path):
        import hashlib

        import pypandoc

        self.folder = folder
        self.version = (str(pypandoc.get_pandoc_version()) + "\0"
                        + hashlib.sha256(Path(__file__).read_bytes()).hexdigest())
        self.used: set[str] = set()
        self._remove_stale_temps()

    def _remove_stale_temps(self) -> None:
        """Temporary files of writers that were killed (``.<key>.<pid>.<random>.tmp``)."""
        from .atomic import pid_alive

        if not self.folder.is_dir():
            return
        for path in self.folder.glob(".*.tmp"):
            parts = path.name.split(".")
            if len(parts) >= 5 and parts[-3].isdigit() and int(parts[-3]) != os.getpid() \
                    and not pid_alive(int(parts[-3])):
                path.unlink(missing_ok=True)

    def key(self, kind: str, data: bytes) -> str:
        import hashlib

        return hashlib.sha256(f"{kind}\0{self.version}\0".encode() + data).hexdigest()

    def get(self, key: str) -> str | None:
        path = self.folder / key
        if path.is_file():
            self.used.add(key)
            return path.read_text(encoding="utf-8")
        return None

    def has(self, key: str) -> bool:
        """Whether an entry is there (kept by :meth:`prune`, like one read), without reading it."""
        if (self.folder / key).is_file():
            self.used.add(key)
            return True
        return False

    def put(self, key: str, text: str) -> None:
        from .atomic import write_text

        write_text(self.folder / key, text)
        self.used.add(key)

    def prune(self) -> None:
        if self.folder.is_dir():
            for path in self.folder.iterdir():
                if path.is_file() and path.name not in self.used and not path.name.startswith("."):
                    path.unlink(missing_ok=True)


_INCLUDE = re.compile(r"^[ \t]*\{\{<\s*include\s+(\S+?)\s*>\}\}[ \t]*$", re.MULTILINE)


def expand_includes(source: Path, _depth: int = 0) -> str:
    """A Markdown chapter's text with Quarto's ``{{< include file >}}`` shortcodes (on a line of their
    own) replaced by the file's text, as Quarto does before it reads the chapter; paths are relative to
    the including file.  The landing page includes the generated summary this way."""
    text = source.read_text(encoding="utf-8")

    def include(m: re.Match) -> str:
        target = source.parent / m.group(1)
        if not target.is_file():
            raise RenderError(f"Chapter {source.name} includes {m.group(1)}, which does not exist "
                              "(make report writes the generated parts before rendering)")
        if _depth >= 8:
            raise RenderError(f"Chapter {source.name}: includes nested more than 8 deep")
        return expand_includes(target, _depth + 1).rstrip("\n")

    return _INCLUDE.sub(include, text)


def _read_key(source: Path, media_dir: Path, cache: PandocCache) -> tuple[str, Path, bytes]:
    """The cache key of reading a chapter, and the file and bytes Pandoc would read (a Markdown
    chapter's with its includes expanded)."""
    data = source.read_bytes() if source.suffix == ".ipynb" else expand_includes(source).encode("utf-8")
    if source.suffix == ".ipynb":
        normal = _stable_notebook(data)
        if normal is not None:  # Pandoc reads the stable form, so the key covers all it reads
            data = normal.encode("utf-8")
            source = media_dir.with_suffix(".ipynb")
    return cache.key(f"read{source.suffix}", data), source, data


def _read_chapter(source: Path, media_dir: Path, what: str, cache: PandocCache | None = None,
                  key: tuple[str, Path, bytes] | None = None) -> tuple[dict, bool]:
    """A chapter as Pandoc's JSON AST, and whether it is cached; cached only when the notebook
    embeds no media (the AST of one that does points into this render's temporary folder)."""
    if cache is None:
        return _read_chapter_uncached(source, media_dir, what), False
    read_key, reads, data = key or _read_key(source, media_dir, cache)
    cached = cache.get(read_key)
    if cached is not None:
        return json.loads(cached), True
    if reads != source:  # the stable form of a notebook, written for Pandoc to read
        reads.parent.mkdir(parents=True, exist_ok=True)
        reads.write_bytes(data)
        source = reads
    doc = _read_chapter_uncached(source, media_dir, what)
    if not (media_dir.exists() and any(media_dir.rglob("*"))):
        cache.put(read_key, json.dumps(doc))
        return doc, True
    return doc, False


def _stable_notebook(data: bytes) -> str | None:
    """An executed notebook without what changes on every run but is never shown (papermill's
    times and durations, execution timing), so a chapter re-executed to the same outputs is not
    converted again; None when it is not readable JSON (the reader then reports it)."""
    try:
        nb = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(nb, dict):
        return None
    (nb.get("metadata") or {}).pop("papermill", None)
    for cell in nb.get("cells") or []:
        if isinstance(cell, dict) and isinstance(cell.get("metadata"), dict):
            cell["metadata"].pop("papermill", None)
            cell["metadata"].pop("execution", None)
    return json.dumps(nb, sort_keys=True, ensure_ascii=False)


def _read_chapter_uncached(source: Path, media_dir: Path, what: str) -> dict:
    if source.suffix == ".ipynb":
        try:
            json.loads(source.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RenderError(f"Chapter {what} is not a readable notebook: {exc}") from exc
        # Through Markdown, so that cells are read with all of Pandoc's Markdown extensions
        # (cross-references, fenced divs, table captions), as Quarto reads them.
        markdown = _pandoc(what, ["--from=ipynb", "--to=markdown", f"--extract-media={media_dir}", str(source)])
        text = _pandoc(what, ["--from=markdown", "--to=json"], markdown)
    else:
        text = _pandoc(what, ["--from=markdown", "--to=json"], expand_includes(source))
    return json.loads(text)


def _filter_cells(blocks: list) -> list:
    """Drop notebook code: keep markdown cells and the displayable outputs of code cells."""
    out: list = []
    for block in blocks:
        if block["t"] != "Div" or "cell" not in block["c"][0][1]:
            out.append(block)
            continue
        classes, content = block["c"][0][1], block["c"][1]
        if "markdown" in classes:
            out.extend(content)
        elif "code" in classes:
            for item in content:
                if item["t"] != "Div" or "output" not in item["c"][0][1]:
                    continue  # the cell's source code
                kinds = item["c"][0][1]
                if "stderr" in kinds or "error" in kinds:
                    continue
                for inner in item["c"][1]:
                    is_repr = inner["t"] == "CodeBlock" and _REPR.fullmatch(inner["c"][1].strip())
                    if is_repr and "stream" not in kinds:
                        continue  # bare object repr such as <Figure size 640x480 with 1 Axes>
                    out.append(inner)
        # raw cells are dropped
    return out


# Quarto's conditional content (``.content-visible`` / ``.content-hidden`` with conditions).
_CONDITIONAL = ("content-visible", "content-hidden")
_CONDITIONS = ("when-meta", "unless-meta", "when-profile", "unless-profile", "when-format", "unless-format")
# Book configuration keys that are structure, not document metadata (book: holds the chapter list,
# which changes when an authority joins: keeping it out keeps the render cache of other chapters).
_STRUCTURAL_KEYS = ("project", "book", "profile", "website")


@dataclass(frozen=True)
class _Conditions:
    """What conditional content is tested against: the book's metadata (``_quarto.yml`` without its
    structure), the metadata the build sets (it wins, as Quarto's ``-M`` does) and the profiles."""

    book: dict
    build: dict
    profiles: tuple[str, ...] = ()

    def fingerprint(self) -> str:
        return json.dumps([self.book, self.build, self.profiles], sort_keys=True, default=str)

    def meta(self, doc_meta: dict | None = None) -> dict:
        """Book metadata, then the chapter's own (front matter), then the build's."""
        merged = dict(self.book)
        for key, value in (doc_meta or {}).items():
            merged[key] = _meta_value(value)
        merged.update(self.build)
        return merged


def _conditions(root: Path, build_meta: dict | None = None) -> _Conditions:
    config = book_config(root)
    book = {k: v for k, v in config.items() if k not in _STRUCTURAL_KEYS}
    return _Conditions(book, dict(build_meta or {}), tuple(_profiles(_read_yaml(Path(root) / "_quarto.yml"))))


def _meta_value(value):
    """A Pandoc JSON metadata value as plain Python (MetaBool -> bool, MetaMap -> dict, ...)."""
    t = value.get("t") if isinstance(value, dict) else None
    if t == "MetaBool" or t == "MetaString":
        return value["c"]
    if t == "MetaMap":
        return {k: _meta_value(v) for k, v in value["c"].items()}
    if t == "MetaList":
        return [_meta_value(v) for v in value["c"]]
    if t in ("MetaInlines", "MetaBlocks"):
        return _stringify(value["c"])
    return value


def _meta_true(meta: dict, path: str) -> bool:
    """Quarto's when-meta test: the value at ``path`` (keys separated by ".") is boolean true."""
    value = meta
    for key in path.split("."):
        if not isinstance(value, dict):
            return False
        value = value.get(key)
    return value is True


def _condition(attrs: dict, meta: dict, profiles: tuple[str, ...]) -> bool | None:
    """Whether an element's conditions all hold, as Quarto tests them; None where that turns on the
    output format (the fallback makes HTML and PDF from one document) and nothing else says no."""
    depends_on_format = False
    for key, value in attrs.items():
        if key in ("when-format", "unless-format"):
            depends_on_format = True
            continue
        if key in ("when-meta", "unless-meta"):
            holds = _meta_true(meta, value)
        elif key in ("when-profile", "unless-profile"):
            holds = value in profiles
        else:
            continue
        if holds == key.startswith("unless-"):
            return False
    return None if depends_on_format else True


def _has_conditional(blocks: list) -> bool:
    return any(n["t"] in ("Div", "Span", "CodeBlock") and any(c in _CONDITIONAL for c in n["c"][0][1])
               for n in _nodes(blocks))


def _conditional_content(node, meta: dict, profiles: tuple[str, ...] = ()):
    """Quarto's conditional content: an element with ``.content-visible`` (``.content-hidden``) is
    kept where its conditions hold (do not hold) and dropped otherwise; a kept Div is replaced by
    its content, a kept Span or CodeBlock loses the classes and conditions. Returns a new tree."""
    if isinstance(node, dict):
        return {k: _conditional_content(v, meta, profiles) if isinstance(v, (dict, list)) else v
                for k, v in node.items()}
    if not isinstance(node, list):
        return node
    out: list = []
    for item in node:
        if isinstance(item, dict) and item.get("t") in ("Div", "Span", "CodeBlock"):
            attr = item["c"][0]
            behaviour = next((c for c in attr[1] if c in _CONDITIONAL), None)
            if behaviour:
                match = _condition(dict(attr[2]), meta, profiles)
                visible = match if behaviour == "content-visible" or match is None else not match
                if visible is False:
                    continue
                if visible is True:
                    item = _conditional_content(item, meta, profiles)
                    attr = item["c"][0]
                    attr[1] = [c for c in attr[1] if c not in _CONDITIONAL]
                    attr[2] = [kv for kv in attr[2] if kv[0] not in _CONDITIONS]
                    if item["t"] == "Div":
                        out.extend(item["c"][1])
                    else:
                        out.append(item)
                    continue
        out.append(_conditional_content(item, meta, profiles))
    return out


CALLOUT_KINDS = {"note": "Note", "tip": "Tip", "important": "Important", "warning": "Warning",
                 "caution": "Caution"}


def _callouts(blocks: list) -> None:
    """Quarto callouts (``::: {.callout-note title="..."}``, or a heading as the first element
    giving the title) become ``Div.callout.callout-<kind>`` holding a ``Div.callout-title`` and a
    ``Div.callout-body``: HTML styles them (report/style.css), the PDF turns them into Typst
    ``#callout`` boxes."""
    for node in list(_nodes(blocks)):
        if node["t"] != "Div":
            continue
        attr, content = node["c"]
        if "callout" in attr[1]:
            continue
        kind = next((c[len("callout-"):] for c in attr[1]
                     if c.startswith("callout-") and c[len("callout-"):] in CALLOUT_KINDS), None)
        if kind is None:
            continue
        options = dict(attr[2])
        if options.get("title"):
            title = _str_inlines(options["title"])
        elif content and content[0]["t"] == "Header":
            title = content.pop(0)["c"][2]
        else:
            title = _str_inlines(CALLOUT_KINDS[kind])
        attr[1] = ["callout", f"callout-{kind}"] + [c for c in attr[1] if c != f"callout-{kind}"]
        attr[2] = [kv for kv in attr[2] if kv[0] not in ("title", "appearance", "icon", "collapse")]
        node["c"][1] = [_el("Div", [["", ["callout-title"], []], [_el("Plain", title)]]),
                        _el("Div", [["", ["callout-body"], []], content])]


def _prepare(doc: dict, chapter: Chapter, page: str, conditions: _Conditions | None = None) -> _Doc:
    blocks = _filter_cells(doc["blocks"])
    if _has_conditional(blocks):
        conditions = conditions or _Conditions({}, {})
        blocks = _conditional_content(blocks, conditions.meta(doc.get("meta")), conditions.profiles)
    _callouts(blocks)
    meta_title = doc.get("meta", {}).get("title")
    if meta_title:
        if meta_title["t"] == "MetaInlines":
            title_inlines = meta_title["c"]
        else:
            title_inlines = _str_inlines(_stringify(meta_title))
        blocks.insert(0, _el("Header", [1, [_slug(_stringify(title_inlines)), [], []], title_inlines]))
    first_h1 = next((i for i, b in enumerate(blocks) if b["t"] == "Header" and b["c"][0] == 1), None)
    if first_h1:  # e.g. an intro markdown cell before the title: the title goes first
        blocks.insert(0, blocks.pop(first_h1))
    headers = list(_header_blocks(blocks))
    if not any(h["c"][0] == 1 for h in headers):
        title_inlines = _str_inlines(chapter.path.stem.replace("_", " ").replace("-", " ").capitalize())
        blocks.insert(0, _el("Header", [1, [_slug(chapter.path.stem), [], []], title_inlines]))
        headers = list(_header_blocks(blocks))

    label, counters, title, toc = chapter.label, [0] * 6, "", []
    seen_title = False
    for header in headers:
        level, attr, inlines = header["c"]
        if level == 1 and not seen_title:
            seen_title, number = True, label
        else:
            level = max(level, 2)
            number = ""
            if label and "unnumbered" not in attr[1] and "-" not in attr[1]:
                counters[level - 2] += 1
                counters[level - 1:] = [0] * (6 - level + 1)
                number = ".".join([label] + [str(n) for n in counters[: level - 1]])
        header["c"][0] = level
        if number:
            span = _el("Span", [["", ["header-section-number"], []], [_el("Str", number)]])
            header["c"][2] = [span, _el("Space")] + inlines
            attr[2] = [kv for kv in attr[2] if kv[0] != "number"] + [["number", number]]
        text = _stringify(header["c"][2])
        if level == 1:
            title = text
        elif level <= 3 and attr[0]:
            toc.append((level, attr[0], text))
    return _Doc(chapter, page, title, blocks, toc)


def _number_floats(doc: _Doc) -> dict[str, tuple[str, str, str]]:
    """Number a chapter's fig-/tbl- figures and tables; return its id -> (kind, number, page)."""
    targets: dict[str, tuple[str, str, str]] = {}
    counts = {"Figure": 0, "Table": 0}
    for node in _nodes(doc.blocks):
        if node["t"] == "Header" and node["c"][1][0].startswith("sec-"):
            number = dict(node["c"][1][2]).get("number", "")
            kind = "Chapter" if node["c"][0] == 1 else "Section"
            targets[node["c"][1][0]] = (kind, number or _stringify(node["c"][2]), doc.page)
        if node["t"] not in ("Figure", "Table"):
            continue
        ident = node["c"][0][0]
        kind = "Figure" if ident.startswith("fig-") else "Table" if ident.startswith("tbl-") else None
        if kind is None:
            continue
        counts[kind] += 1
        number = f"{doc.chapter.label}.{counts[kind]}" if doc.chapter.label else str(counts[kind])
        targets[ident] = (kind, number, doc.page)
        caption_blocks = node["c"][1][1]
        prefix = [_el("Str", kind), _el("Space"), _el("Str", f"{number}:"), _el("Space")]
        if caption_blocks and caption_blocks[0]["t"] in ("Plain", "Para"):
            caption_blocks[0]["c"] = prefix + caption_blocks[0]["c"]
        else:
            caption_blocks.insert(0, _el("Plain", prefix[:-1]))
    return targets


def _refs(doc: _Doc) -> dict[str, list[str]]:
    """What :func:`_resolve_links` reads in a chapter: the ids it cites and its relative links."""
    cites: list[str] = []
    links: list[str] = []
    for node in _nodes(doc.blocks):
        if node["t"] == "Cite":
            cites += [c["citationId"] for c in node["c"][0]]
        elif node["t"] == "Link" and not (_URL_SCHEME.match(node["c"][2][0]) or node["c"][2][0].startswith("#")):
            links.append(node["c"][2][0])
    return {"cites": cites, "links": links}


def _resolution(doc: _Doc, targets: dict, chapter_pages: dict[Path, str], root: Path) -> list:
    """Everything the resolved links of a chapter depend on, beyond its own prepared document."""
    return [[targets.get(i) for i in doc.refs.get("cites", [])],
            [chapter_pages.get(_link_target(doc, href, root)) for href in doc.refs.get("links", [])]]


def _link_target(doc: _Doc, href: str, root: Path) -> Path:
    return (root / doc.chapter.path.parent / unquote(href.partition("#")[0])).resolve()


def _blocks(doc: _Doc, targets: dict, chapter_pages: dict[Path, str], root: Path) -> list:
    """The chapter's document, loaded from the cache if need be, with its links resolved."""
    if doc.blocks is None:
        doc.blocks = doc.load()
    if not doc.resolved:
        _resolve_links(doc, targets, chapter_pages, root)
        doc.resolved = True
    return doc.blocks


def _resolve_links(doc: _Doc, targets: dict, chapter_pages: dict[Path, str], root: Path) -> None:
    """@fig-x references -> links; links to other chapter files -> their pages."""
    for node in _nodes(doc.blocks):
        if node["t"] == "Cite":
            ids = [c["citationId"] for c in node["c"][0]]
            if ids and all(i in targets for i in ids):
                inlines: list = []
                for i, ident in enumerate(ids):
                    kind, number, page = targets[ident]
                    if i:
                        inlines += [_el("Str", ","), _el("Space")]
                    href = f"#{ident}" if page == doc.page else f"{page}#{ident}"
                    text = _str_inlines(f"{kind} {number}")
                    inlines.append(_el("Link", [["", ["quarto-xref"], []], text, [href, ""]]))
                node["t"], node["c"] = "Span", [["", [], []], inlines]
        elif node["t"] == "Link":
            href = node["c"][2][0]
            if _URL_SCHEME.match(href) or href.startswith("#"):
                continue
            fragment = href.partition("#")[2]
            page = chapter_pages.get(_link_target(doc, href, root))
            if page:
                node["c"][2][0] = page + (f"#{fragment}" if fragment else "")


def _link_or_copy(src: Path, dest: Path) -> None:
    """A hard link where the file system allows (outputs are only ever replaced by rename, never
    written in place, so the book keeps the bytes it was rendered with), else a copy."""
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)


def _copy_images(doc: _Doc, source_dir: Path, out: Path) -> list[list[str]]:
    """Copy local images into out/figures/<page>/ and point the AST at the copies; return the
    copies made, as [source relative to ``source_dir``, destination in the book, url in the chapter]."""
    folder = f"figures/{Path(doc.page).stem}"
    used: dict[str, Path] = {}
    copies: list[list[str]] = []
    for node in _nodes(doc.blocks):
        if node["t"] == "Figure":
            caption = _stringify(node["c"][1][1])
            for img in _nodes(node["c"][2]):
                if img["t"] == "Image" and not img["c"][1] and caption:
                    img["c"][1] = _str_inlines(caption)  # alt text defaults to the caption
        if node["t"] != "Image":
            continue
        attr, _, (url, _) = node["c"]
        alt = dict(attr[2]).get("fig-alt")
        if alt:
            node["c"][1] = _str_inlines(alt)
            attr[2] = [kv for kv in attr[2] if kv[0] != "fig-alt"]
        if not node["c"][1]:  # e.g. a plot embedded in the notebook without a caption
            node["c"][1] = _str_inlines(f"Figure from chapter {doc.title}")
        if not url or _URL_SCHEME.match(url):
            continue
        src = Path(unquote(url))
        src = src if src.is_absolute() else source_dir / src
        if not src.is_file():
            raise RenderError(f"Chapter {doc.chapter.path}: image not found: {url} (looked for {src})")
        src = src.resolve()
        name, k = src.name, 2
        while name in used and used[name] != src:
            name, k = f"{src.stem}-{k}{src.suffix}", k + 1
        if name not in used:
            used[name] = src
            (out / folder).mkdir(parents=True, exist_ok=True)
            _link_or_copy(src, out / folder / name)
            copies.append([os.path.relpath(src, source_dir.resolve()), f"{folder}/{name}", url])
        node["c"][2][0] = f"{folder}/{name}"
    return copies


def _chapter_doc(root: Path, chapter: Chapter, page: str, work: Path, out: Path,
                 cache: PandocCache | None, conditions: _Conditions | None = None) -> _Doc:
    """A chapter read, prepared (cells filtered, callouts, numbered headings), its images copied
    into the book and its figures and tables numbered.

    With a cache, the prepared chapter is kept too, keyed by what it was read from and where it
    sits in the book; an unchanged chapter then costs its images' links and a small index, and its
    document is loaded only if its page or the PDF needs converting again."""
    source = root / chapter.path
    media = work / "media" / Path(page).stem
    what = str(chapter.path)
    read = _read_key(source, media, cache) if cache else None
    key = None
    if cache and read:
        place = json.dumps([read[0], chapter.path.as_posix(), chapter.label, page,
                            conditions.fingerprint() if conditions else None])
        key = cache.key("prepared", place.encode())
        index = cache.get(key)
        entry = json.loads(index) if index is not None else None
        if entry is not None and cache.has(entry["blocks"]):
            for rel, dest, url in entry["images"]:
                src = (source.parent / rel).resolve()
                if not src.is_file():
                    raise RenderError(f"Chapter {chapter.path}: image not found: {url} (looked for {src})")
                (out / dest).parent.mkdir(parents=True, exist_ok=True)
                _link_or_copy(src, out / dest)
            cache.has(read[0])  # kept too: a chapter that moves in the book is prepared again, not read again
            return _Doc(chapter, page, entry["title"], None, [tuple(t) for t in entry["toc"]],
                        {k: tuple(v) for k, v in entry["targets"].items()}, entry["refs"], key,
                        api=entry["api"], load=lambda: json.loads(cache.get(entry["blocks"])))
    raw, cacheable = _read_chapter(source, media, what, cache, read)
    doc = _prepare(raw, chapter, page, conditions)
    images = _copy_images(doc, source.parent, out)
    doc.targets = _number_floats(doc)
    doc.refs = _refs(doc)
    doc.api = raw["pandoc-api-version"]
    if cache and cacheable:
        blocks_key = cache.key("prepared-blocks", key.encode())
        cache.put(blocks_key, json.dumps(doc.blocks))  # the document first, then the index naming it
        cache.put(key, json.dumps({"title": doc.title, "toc": doc.toc, "targets": doc.targets, "refs": doc.refs,
                                   "images": images, "blocks": blocks_key, "api": doc.api}))
        doc.key = key
    return doc


# --------------------------------------------------------------------------------------------
# Fallback: HTML

_BASE_CSS = """\
:root { --fg: #1d1d1f; --muted: #4a4f55; --accent: #005ea5; --line: #d0d7de; --bg-side: #f6f8fa; --focus: #ffbf47; }
* { box-sizing: border-box; }
html { scroll-padding-top: 1rem; }
body { margin: 0; color: var(--fg); background: #fff; font: 16px/1.6 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; }
a { color: var(--accent); }
a:hover { color: #003e70; }
a:focus-visible, [tabindex]:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; box-shadow: 0 0 0 5px var(--fg); }
.skip-link { position: absolute; left: -999px; top: .5rem; }
.skip-link:focus { left: 1rem; background: #fff; padding: .5rem 1rem; z-index: 10; }
.book-header { display: flex; flex-wrap: wrap; align-items: baseline; justify-content: space-between; gap: .3rem 1.5rem;
  padding: .8rem 1.5rem; border-bottom: 1px solid var(--line); }
.book-header .book-title { font-weight: 700; font-size: 1.15rem; text-decoration: none; color: var(--fg); }
.book-header .book-subtitle { display: block; color: var(--muted); font-size: .95rem; }
.downloads { font-size: .95rem; }
.downloads ul { display: inline; list-style: none; margin: 0; padding: 0; }
.downloads li { display: inline-block; margin-left: .8rem; }
.downloads a { display: inline-block; padding: .15rem 0; font-weight: 600; }
.layout { display: grid; grid-template-columns: 17rem minmax(0, 1fr); grid-template-rows: auto 1fr;
  grid-template-areas: "side toc" "side main"; align-items: start; }  /* a page with no contents box has no blank band */
.sidebar { grid-area: side; align-self: stretch; background: var(--bg-side); border-right: 1px solid var(--line); padding: 1rem; font-size: .92rem; }
.sidebar ul { list-style: none; margin: 0; padding: 0; }
.sidebar ul ul { padding-left: .8rem; }
.sidebar li { margin: .1rem 0; }
.sidebar .part-title { display: block; margin-top: .8rem; font-weight: 700; color: var(--muted); }
.sidebar a { display: inline-block; padding: .2rem 0; text-decoration: none; }
.sidebar a:hover { text-decoration: underline; }
.sidebar a[aria-current="page"] { font-weight: 700; color: var(--fg); border-left: 3px solid var(--accent); padding-left: .4rem; }
main { grid-area: main; padding: 0 2rem 3rem; max-width: 62rem; min-width: 0; }
.page-toc { grid-area: toc; margin: 1rem 2rem 0; max-width: 58rem; border: 1px solid var(--line); border-radius: 4px; padding: .5rem 1rem; font-size: .92rem; }
.page-toc .toc-title { font-weight: 700; margin: .2rem 0; }
.page-toc ul { margin: 0; padding-left: 1.2rem; }
.page-toc a { display: inline-block; padding: .15rem 0; }
@media (min-width: 90rem) {
  .layout { grid-template-columns: 17rem minmax(0, 1fr) 16rem; grid-template-rows: auto; grid-template-areas: "side main toc"; }
  .page-toc { margin: 1.5rem 1rem 0 0; border-width: 0 0 0 1px; border-radius: 0; }
}
h1, h2, h3, h4 { line-height: 1.25; }
h1 { margin-top: 1.2rem; }
.header-section-number { margin-right: .3em; }
figure { margin: 1.5rem 0; }
img { max-width: 100%; height: auto; }
figure img { display: block; max-height: 32rem; width: auto; margin: 0 auto; }  /* tall charts stay on screen */
figcaption { color: var(--muted); font-size: .92rem; }
.table-wrap { overflow-x: auto; max-width: 100%; margin: 1rem 0; }
table { border-collapse: collapse; margin: 0; }
th, td { border-bottom: 1px solid var(--line); padding: .3rem .7rem; text-align: left; vertical-align: top; }
thead th { border-bottom: 2px solid var(--fg); }
caption { caption-side: top; text-align: left; color: var(--muted); padding-bottom: .3rem; }
pre { background: var(--bg-side); padding: .7rem; overflow-x: auto; }
.pager { display: flex; justify-content: space-between; gap: 1rem; margin-top: 3rem; border-top: 1px solid var(--line); padding-top: 1rem; }
.pager a { display: inline-block; padding: .2rem 0; }
.book-footer { border-top: 1px solid var(--line); color: var(--muted); font-size: .85rem; padding: .8rem 1.5rem; }
@media (max-width: 50rem) {
  .layout { display: block; }
  .sidebar { border-right: 0; border-bottom: 1px solid var(--line); }
  main { padding: 0 1rem 2rem; }
  .page-toc { margin: 1rem; }
}
.visually-hidden { position: absolute !important; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
@media print { .sidebar, .pager, .page-toc, .skip-link, .downloads { display: none; } .layout { display: block; } }
"""


def _html_blocks(blocks: list) -> list:
    """A copy of the chapter for HTML: each table sits in a keyboard-focusable region labelled by
    its caption (or, without one, the section it is in), so a table wider than the page scrolls
    inside it (WCAG 2.1.1) and each region has its own name."""
    section = ["Table"]
    used: set[str] = set()

    def wrap(node):  # copies as it goes: the chapter's own blocks are left as they are
        if isinstance(node, list):
            return [wrap(item) for item in node]
        if not isinstance(node, dict):
            return node
        if node.get("t") == "Header":
            section[0] = f"Table in {_stringify(node['c'][2])}"
        if node.get("t") == "Table":
            label = base = _stringify(node["c"][1][1]) or section[0]
            k = 2
            while label in used:
                label, k = f"{base} ({k})", k + 1
            used.add(label)
            attrs = [["role", "region"], ["tabindex", "0"], ["aria-label", label]]
            return _el("Div", [["", ["table-wrap"], attrs], [_copy_ast(node)]])
        return {key: wrap(value) for key, value in node.items()}

    return wrap(blocks)


NAV_FOLD = 12  # a part with more chapters than this is folded in the sidebar unless it holds the page


def _nav_group(doc: _Doc) -> str | None:
    return "Appendices" if doc.chapter.appendix else doc.chapter.part


def _nav_html(docs: list[_Doc], current: _Doc) -> str:
    e = html.escape
    lines = ['<nav class="sidebar" aria-label="Chapters">', "<ul>"]
    sizes: dict[str | None, int] = {}
    for doc in docs:
        sizes[_nav_group(doc)] = sizes.get(_nav_group(doc), 0) + 1
    open_group: str | None = None
    folded = False
    for doc in docs:
        group = _nav_group(doc)
        if group != open_group:
            if open_group is not None:
                lines.append("</ul></details></li>" if folded else "</ul></li>")
            folded = group is not None and sizes[group] > NAV_FOLD
            if folded:  # e.g. 153 authority profiles: one line until opened
                is_open = " open" if _nav_group(current) == group else ""
                lines.append(f'<li><details{is_open}><summary class="part-title">{e(group)} '
                             f'({sizes[group]})</summary><ul>')
            elif group is not None:
                lines.append(f'<li><span class="part-title">{e(group)}</span><ul>')
            open_group = group
        current_attr = ' aria-current="page"' if doc is current else ""
        lines.append(f'<li><a href="{e(doc.page)}"{current_attr}>{e(doc.title)}</a></li>')
    if open_group is not None:
        lines.append("</ul></details></li>" if folded else "</ul></li>")
    lines += ["</ul>", "</nav>"]
    return "\n".join(lines)


def _toc_html(doc: _Doc) -> str:
    if not doc.toc:
        return ""
    e = html.escape
    items, prev_level = [], 2
    for level, ident, text in doc.toc:
        if level > prev_level:
            items.append("<ul>" * (level - prev_level))
        elif level < prev_level:
            items.append("</li></ul>" * (prev_level - level) + "</li>")
        elif items:
            items.append("</li>")
        items.append(f'<li><a href="#{e(ident)}">{e(text)}</a>')
        prev_level = level
    items.append("</li>" + "</ul></li>" * (prev_level - 2))
    return (
        '<nav class="page-toc" aria-labelledby="toc-title">\n<p class="toc-title" id="toc-title">On this page</p>\n<ul>'
        + "".join(items)
        + "</ul>\n</nav>"
    )


def _downloads(out: Path) -> list[tuple[str, str]]:
    """The book's downloads: the PDF, and the open data where ``data/`` is in the book."""
    items = [(PDF_NAME, "PDF of the whole report")]
    data = out / DATA_DIR
    if (data / "index.html").is_file():
        items.append((f"{DATA_DIR}/index.html", "Open data (CSV)"))
    elif data.is_dir():
        items.append((f"{DATA_DIR}/", "Open data (CSV)"))
    return items


def _page_html(doc: _Doc, docs: list[_Doc], body: str, meta: dict, description: str,
               downloads: list[tuple[str, str]] | None = None) -> str:
    e = html.escape
    i = docs.index(doc)
    pager = []
    if i > 0:
        pager.append(f'<a rel="prev" href="{e(docs[i - 1].page)}"><span class="visually-hidden">Previous: </span>'
                     f'&larr; {e(docs[i - 1].title)}</a>')
    else:
        pager.append("<span></span>")
    if i + 1 < len(docs):
        pager.append(f'<a rel="next" href="{e(docs[i + 1].page)}"><span class="visually-hidden">Next: </span>'
                     f'{e(docs[i + 1].title)} &rarr;</a>')
    subtitle = f'<span class="book-subtitle">{e(meta["subtitle"])}</span>' if meta["subtitle"] else ""
    items = "".join(f'<li><a href="{e(href)}">{e(text)}</a></li>' for href, text in downloads or [(PDF_NAME, "PDF")])
    toc = _toc_html(doc)
    return f"""<!DOCTYPE html>
<html lang="{e(meta["lang"])}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="{e(description)}">
<title>{e(doc.title)} – {e(meta["title"])}</title>
<link rel="stylesheet" href="style.css">
</head>
<body>
<a class="skip-link" href="#main">Skip to main content</a>
<header class="book-header">
<div>
<a class="book-title" href="index.html">{e(meta["title"])}</a>
{subtitle}
</div>
<nav class="downloads" aria-label="Downloads">Downloads: <ul>{items}</ul></nav>
</header>
<div class="layout">
{_nav_html(docs, doc)}
{toc}
<main id="main">
{body}
<nav class="pager" aria-label="Previous and next chapter">
{chr(10).join(pager)}
</nav>
</main>
</div>
<footer class="book-footer">
<p>Rendered with {e(description)}.</p>
</footer>
</body>
</html>
"""


# --------------------------------------------------------------------------------------------
# Fallback: PDF

_TYPST_TEMPLATE = r"""
#let horizontalrule = line(start: (25%,0%), end: (75%,0%))
#show terms.item: it => block(breakable: false)[
  #text(weight: "bold")[#it.term]
  #block(inset: (left: 1.5em, top: -0.4em))[#it.description]
]
$if(highlighting-definitions)$
$highlighting-definitions$
$endif$
// Callouts (::: {.callout-note} in the chapters): a tinted box with a coloured rule and title.
#let callout-colors = (
  note: rgb("#0b4f8a"), tip: rgb("#1b6b3a"), important: rgb("#a4262c"),
  warning: rgb("#7a4300"), caution: rgb("#9a3b00"),
)
#let callout(kind: "note", title: none, body) = {
  let color = callout-colors.at(kind, default: callout-colors.note)
  block(
    width: 100%, breakable: true, above: 1.1em, below: 1.1em,
    fill: color.lighten(93%), stroke: (left: 2.5pt + color), radius: (right: 2pt),
    inset: (left: 10pt, right: 10pt, top: 7pt, bottom: 8pt),
  )[
    #if title != none [
      #block(below: 0.6em, sticky: true, text(weight: "bold", fill: color, title))
    ]
    #body
  ]
}
// The title of the chapter a page belongs to (the chapter starting on it, else the last one).
#let running-chapter() = {
  let page-number = here().page()
  let starting = query(heading.where(level: 1)).filter(h => h.location().page() == page-number)
  if starting.len() > 0 { return starting.first().body }
  let before = query(heading.where(level: 1).before(here()))
  if before.len() > 0 { before.last().body } else { none }
}
#set document(title: [$title$], date: none)
#set text(lang: "en", region: "GB", size: 10.5pt)
#set par(justify: true)
#set page(
  paper: "a4",
  margin: (x: 2.2cm, top: 2.6cm, bottom: 2.4cm),
  numbering: "1",
  header: context {
    set text(size: 8pt, fill: luma(80))
    grid(
      columns: (1fr, auto), column-gutter: 1em,
      align(left)[$shorttitle$$if(synthetic)$#h(0.8em)#text(weight: "bold", fill: rgb("#7a4300"))[$synthetic-label$]$endif$$if(weakened)$#h(0.8em)#text(weight: "bold", fill: rgb("#a00000"))[$weakened-label$]$endif$],
      align(right, running-chapter()),
    )
    v(-0.5em)
    line(length: 100%, stroke: 0.4pt + luma(160))
  },
  footer: context align(center, text(size: 9pt, counter(page).display(page.numbering))),
)
#set heading(numbering: none)
#show heading: set par(justify: false)
#show heading: set text(hyphenate: false)
#show heading.where(level: 1): it => block(above: 0.5em, below: 1.2em, text(size: 20pt, weight: "bold", it.body))
#show heading.where(level: 2): set text(size: 14pt)
#show heading.where(level: 3): set text(size: 12pt)
#set figure(numbering: none)
#show figure.caption: set text(size: 9pt)
#show figure.caption: set par(justify: false)
#show figure: set block(breakable: true)
// A chart and its caption are one unit: never split across pages (a caption alone at a page top).
#show figure.where(kind: image): set block(breakable: false)
#set table(inset: 4pt, stroke: (x, y) => if y == 0 { (bottom: 0.8pt) } else { (bottom: 0.3pt + luma(190)) })
#show table: set text(size: 8.5pt, hyphenate: false)  // labels break between words, never "dis-ability"
#set table.cell(breakable: false)  // a row is never split across pages
#show table: set par(justify: false)
#show figure.where(kind: table): set figure.caption(position: top)
// A table's caption stays on the page where its table starts.
#show figure.caption.where(position: top): it => block(sticky: true, it)
#show raw: set text(size: 8.5pt)
#show link: set text(fill: rgb("#005ea5"))
#show outline.entry.where(level: 1): it => { v(0.5em, weak: true); strong(it) }

#page(header: none, footer: none, numbering: none)[
  #set align(center)
  #set par(justify: false)
  #v(26%)
  #text(size: 24pt, weight: "bold", hyphenate: false)[$title$]
  $if(subtitle)$
  #v(1em)
  #text(size: 14pt, hyphenate: false)[$subtitle$]
  $endif$
  $if(author)$
  #v(3em)
  #text(size: 12pt)[$for(author)$$author$$sep$, $endfor$]
  $endif$
  $if(synthetic)$
  #v(3em)
  #block(width: 80%, inset: (x: 1.2em, y: 0.9em), radius: 2pt, stroke: 1.2pt + rgb("#7a4300"),
         fill: rgb("#7a4300").lighten(93%))[
    #text(size: 15pt, weight: "bold", fill: rgb("#7a4300"))[$synthetic-label$]
    #v(0.3em, weak: true)
    #text(size: 10pt)[$synthetic-note$]
  ]
  $endif$
  $if(weakened)$
  #v(1.5em)
  #block(width: 80%, inset: (x: 1.2em, y: 0.9em), radius: 2pt, stroke: 1.2pt + rgb("#a00000"),
         fill: rgb("#a00000").lighten(93%))[
    #text(size: 15pt, weight: "bold", fill: rgb("#a00000"))[$weakened-label$]
    #v(0.3em, weak: true)
    #text(size: 10pt)[$weakened-note$]
  ]
  $endif$
  #v(1fr)
  #text(size: 9pt, fill: luma(80))[$renderer$]
]
#set page(numbering: "i")
#counter(page).update(1)
#outline(title: [Contents], depth: 2)
#pagebreak(weak: true)
#set page(numbering: "1")
#counter(page).update(1)

$body$
"""


def _typst_raw(code: str) -> dict:
    return _el("RawBlock", ["typst", code])


def _typst_string(text: str) -> str:
    from .inert import typst_string

    return typst_string(text)  # a Typst string literal: content, never code


def _part_page(title: str) -> dict:
    return _typst_raw(
        "#pagebreak(weak: true)\n"
        "#page(header: none)[\n"
        "  #set align(center + horizon)\n"
        f"  #heading(level: 1, outlined: true, bookmarked: true, {_typst_string(title)})\n"
        "]"
    )


# A4 text width with the template's margins, and the tallest a figure may be, in cm.
_PDF_TEXT_WIDTH_CM = 21.0 - 2 * 2.2
_PDF_FIGURE_MAX_HEIGHT_CM = 10.5


def _png_size(path: Path) -> tuple[int, int] | None:
    """Width and height of a PNG file from its header, or None for anything else."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(24)
    except OSError:
        return None
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _pdf_image_width(path: Path | None) -> str:
    """Width of a figure in the PDF: the text width, narrower where that would make the figure
    taller than _PDF_FIGURE_MAX_HEIGHT_CM (tall charts would otherwise fill a page)."""
    size = _png_size(path) if path else None
    if not size or not size[1]:
        return "100%"
    width_cm = min(_PDF_TEXT_WIDTH_CM, _PDF_FIGURE_MAX_HEIGHT_CM * size[0] / size[1])
    return f"{round(100 * width_cm / _PDF_TEXT_WIDTH_CM)}%"


# Tables with at most this many body rows are kept on one page (moved to the next if need be).
_PDF_KEEP_TABLE_ROWS = 12


def _typst_callouts(blocks: list) -> list:
    """Callout Divs (see :func:`_callouts`) as Typst ``#callout(kind:, title:)[body]`` calls; short
    tables in an unbreakable block, so that a caption and a few rows are not left at a page foot."""
    out: list = []
    for block in blocks:
        if block["t"] == "Table" and sum(len(body[3]) for body in block["c"][4]) <= _PDF_KEEP_TABLE_ROWS:
            out += [_typst_raw("#block(breakable: false, width: 100%)["), block, _typst_raw("]")]
            continue
        if block["t"] != "Div":
            out.append(block)
            continue
        attr, content = block["c"]
        if "callout" not in attr[1]:
            out.append(_el("Div", [attr, _typst_callouts(content)]))
            continue
        kind = next((c[len("callout-"):] for c in attr[1] if c[len("callout-"):] in CALLOUT_KINDS), "note")
        title = next((_stringify(b["c"][1]) for b in content if b["t"] == "Div" and "callout-title" in b["c"][0][1]), "")
        body = [b for b in content if not (b["t"] == "Div" and "callout-title" in b["c"][0][1])]
        body = [inner for b in body for inner in (b["c"][1] if b["t"] == "Div" and "callout-body" in b["c"][0][1] else [b])]
        label = f" <{attr[0]}>" if attr[0] else ""
        out.append(_typst_raw(f"#callout(kind: {_typst_string(kind)}, title: {_typst_string(title) if title else 'none'})["))
        out.extend(_typst_callouts(body))
        out.append(_typst_raw("]" + label))
    return out


def _pdf_blocks(docs: list[_Doc], out: Path | None = None) -> list:
    """All chapters joined, each on a new page, with part pages. Ids are made unique across
    chapters and links are pointed at ids in the joined document (Typst rejects links to
    missing or repeated labels); a link whose target is not in the book keeps only its text."""
    copies = {doc.page: _copy_ast(doc.blocks) for doc in docs}
    renames: dict[str, dict[str, str]] = {}  # page -> {old id: id in the PDF}
    seen: set[str] = set()
    for doc in docs:
        renames[doc.page] = {}
        for node in _nodes(copies[doc.page]):
            if node["t"] not in ("Header", "Div", "Span", "Figure", "Table", "CodeBlock", "Image"):
                continue
            attr = node["c"][1] if node["t"] == "Header" else node["c"][0]
            old = attr[0]
            if old in seen:
                attr[0] = f"{Path(doc.page).stem}-{old}"
            if old:
                renames[doc.page][old] = attr[0]
                seen.add(attr[0])
    titles = {doc.page: next(h["c"][1][0] for h in _header_blocks(copies[doc.page]) if h["c"][0] == 1) for doc in docs}

    blocks: list = []
    group: str | None = None
    for doc in docs:
        for node in _nodes(copies[doc.page]):
            if node["t"] == "Link" and not _URL_SCHEME.match(node["c"][2][0]):
                page, _, fragment = node["c"][2][0].partition("#")
                page = page or doc.page
                ident = renames.get(page, {}).get(fragment) if fragment else titles.get(page)
                if ident:
                    node["c"][2][0] = f"#{ident}"
                else:
                    node["t"], node["c"] = "Span", [node["c"][0], node["c"][1]]
            elif node["t"] == "Table":  # columns sized by their content, not by a pipe table's dashes
                for spec in node["c"][2]:
                    spec[1] = {"t": "ColWidthDefault"}
            elif node["t"] == "Image" and not any(k in ("width", "height") for k, _ in node["c"][0][2]):
                node["c"][0][2].append(["width", _pdf_image_width(out / unquote(node["c"][2][0]) if out else None)])
        new_group = "Appendices" if doc.chapter.appendix else doc.chapter.part
        if new_group and new_group != group:
            blocks.append(_part_page(new_group))
        group = new_group
        blocks.append(_typst_raw(f"// chapter: {doc.chapter.path.as_posix()}\n#pagebreak(weak: true)"))
        blocks.extend(_typst_callouts(copies[doc.page]))
    return blocks


def _write_pdf(docs: list[_Doc], api_version, meta: dict, description: str, out: Path, work: Path) -> None:
    import typst

    doc_meta = {
        key: {"t": "MetaString", "c": str(value)}
        for key, value in (
            ("title", meta["title"]),
            ("subtitle", meta["subtitle"]),
            ("shorttitle", meta["short_title"]),
            ("renderer", f"Rendered with {description}"),
        )
        if value
    }
    if meta["author"]:
        doc_meta["author"] = {"t": "MetaList", "c": [{"t": "MetaString", "c": a} for a in meta["author"]]}
    if meta.get("synthetic"):  # the cover and the running header say so (see _TYPST_TEMPLATE)
        doc_meta["synthetic"] = {"t": "MetaBool", "c": True}
        doc_meta["synthetic-label"] = {"t": "MetaString", "c": SYNTHETIC_LABEL}
        doc_meta["synthetic-note"] = {"t": "MetaString", "c": SYNTHETIC_NOTE}
    if meta.get("weakened"):  # the cover and the running header say so too
        doc_meta["weakened"] = {"t": "MetaBool", "c": True}
        doc_meta["weakened-label"] = {"t": "MetaString", "c": WEAKENED_LABEL}
        doc_meta["weakened-note"] = {"t": "MetaString", "c": WEAKENED_NOTE}
    book = {"pandoc-api-version": api_version, "meta": doc_meta, "blocks": _pdf_blocks(docs, out)}
    template = work / "book-template.typst"
    template.write_text(_TYPST_TEMPLATE, encoding="utf-8")
    source = _pandoc("the joined book (Typst output)",
                     ["--from=json", "--to=typst", "--standalone", f"--template={template}"], json.dumps(book))
    typ = out / ".cinreport.typ"  # next to figures/ so image paths resolve; removed below
    typ.write_text(source, encoding="utf-8")
    try:
        typst.compile(str(typ), output=str(out / PDF_NAME), root=str(out))
    except Exception as exc:  # typst.TypstError and friends
        diagnostic = str(getattr(exc, "diagnostic", "") or "")
        match = re.search(r"\.cinreport\.typ:(\d+):", diagnostic)
        chapter = "unknown chapter"
        if match:
            before = source.splitlines()[: int(match.group(1))]
            markers = [line[len("// chapter: "):] for line in before if line.startswith("// chapter: ")]
            chapter = markers[-1] if markers else "the title page or contents"
        first = re.split(r"\n(?=error:)", diagnostic.strip())[0]  # later errors are usually knock-on
        raise RenderError(f"Typst failed to compile the PDF (in {chapter}): {exc}\n{first}") from exc
    finally:
        typ.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# Fallback: driver


def _book_meta(root: Path) -> dict:
    config = book_config(root)
    book = config.get("book") or {}
    author = book.get("author") or config.get("author") or []
    authors = [a if isinstance(a, str) else str(a.get("name", "")) for a in (author if isinstance(author, list) else [author])]
    title = str(book.get("title") or config.get("title") or "Report")
    return {
        "title": title,
        "subtitle": str(book.get("subtitle") or ""),
        "short_title": str(book.get("short-title") or title),
        "author": [a for a in authors if a],
        "lang": str(config.get("lang") or "en-GB"),
    }


def _html_fragment(doc: _Doc, api_version, cache: PandocCache | None, resolve, resolution) -> str:
    """The chapter's page body. ``resolve(doc)`` gives its document with links resolved; a chapter
    kept prepared in the cache is keyed by that entry and ``resolution(doc)`` (what its links
    resolve to) instead, so an unchanged page is not even loaded."""
    # Keyed on the document before the HTML-only changes below (they follow from it and from this
    # module's source, which the key covers), so an unchanged page costs no copy of its document.
    if cache is None:
        key = None
    elif doc.key is not None:
        key = cache.key("html-prepared", json.dumps([api_version, doc.key, resolution(doc)]).encode())
    else:
        key = cache.key("html", json.dumps([api_version, resolve(doc)]).encode())
    cached = cache.get(key) if cache else None
    if cached is not None:
        return cached
    fragment = json.dumps({"pandoc-api-version": api_version, "meta": {}, "blocks": _html_blocks(resolve(doc))})
    body = _pandoc(f"chapter {doc.chapter.path} (HTML output)",
                   ["--from=json", "--to=html5", "--mathml", "--section-divs"], fragment)
    if cache:
        cache.put(key, body)
    return body


def _render_fallback(root: Path, chapters: list[Chapter], out: Path, cache: PandocCache | None = None,
                     pdf_exclude: frozenset[str] = frozenset(), build_meta: dict | None = None) -> None:
    description = renderer_description("pandoc-typst")
    meta = _book_meta(root)
    meta["synthetic"] = bool((build_meta or {}).get(SYNTHETIC_META))
    meta["weakened"] = bool((build_meta or {}).get(WEAKENED_META))
    conditions = _conditions(root, build_meta)
    pages = page_names(chapters)
    chapter_pages = {(root / c.path).resolve(): p for c, p in zip(chapters, pages)}
    with tempfile.TemporaryDirectory(prefix="cinreport-render-") as tmp:
        work = Path(tmp)
        docs = in_parallel(lambda cp: _chapter_doc(root, cp[0], cp[1], work, out, cache, conditions),
                            list(zip(chapters, pages)))
        api_version = docs[-1].api if docs else None
        targets: dict[str, tuple[str, str, str]] = {}
        for doc in docs:
            targets.update(doc.targets)
        downloads = _downloads(out)

        def resolve(doc: _Doc) -> list:
            return _blocks(doc, targets, chapter_pages, root)

        def resolution(doc: _Doc) -> list:
            return _resolution(doc, targets, chapter_pages, root)

        for doc in docs:
            if doc.blocks is not None:  # read afresh: resolved now, before threads convert pages
                resolve(doc)
        bodies = in_parallel(lambda doc: _html_fragment(doc, api_version, cache, resolve, resolution), docs)
        for doc, body in zip(docs, bodies):
            (out / doc.page).write_text(_page_html(doc, docs, body, meta, description, downloads), encoding="utf-8")

        css = _BASE_CSS
        project_css = root / "report" / "style.css"
        if project_css.is_file():
            css += "\n/* ---- report/style.css ---- */\n" + project_css.read_text(encoding="utf-8")
        (out / "style.css").write_text(css, encoding="utf-8")

        pdf_docs = [d for d in docs if d.chapter.path.as_posix() not in pdf_exclude]
        for doc in pdf_docs:
            resolve(doc)
        _write_pdf(pdf_docs, api_version, meta, description, out, work)


# --------------------------------------------------------------------------------------------
# Command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cinreport.render",
        description="Render the report book (Quarto if installed, else Pandoc + Typst).",
    )
    parser.add_argument("root", type=Path, help="book root holding _quarto.yml")
    parser.add_argument("out", type=Path, help="output folder (replaced atomically)")
    parser.add_argument("--renderer", choices=RENDERERS, default=None, help="default: auto-detect")
    args = parser.parse_args(argv)
    try:
        result = render_book(args.root, args.out, args.renderer)
    except RenderError as exc:
        print(f"render failed: {exc}", file=sys.stderr)
        return 1
    print(f"Rendered {len(result.pages)} HTML pages and {result.pdf} with {renderer_description(result.renderer)}")
    print(f"HTML: {result.html_index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
