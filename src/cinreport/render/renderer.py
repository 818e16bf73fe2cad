"""Render the book: Quarto where installed, otherwise Pandoc (HTML) + Typst (PDF).

Both renderers read the chapter list from ``_quarto.yml`` plus the active profile files (the chapters
are in ``_quarto-chapters.yml``, generated for the build folder from :mod:`cinreport.common.layout`;
see :mod:`cinreport.render.book`) and consume the same executed notebooks and static chapters; neither
executes code. Before either runs, the build's summary is copied to where ``index.qmd`` includes it
(:data:`cinreport.common.layout.SUMMARY_INCLUDE`), and the open data are taken from the same build.

Quarto renders the project as it is, with the build's metadata (``-M``); when ``pdf_exclude`` leaves
chapters out of the PDF, it renders the HTML book and then the PDF with a generated profile that lists
only the PDF's chapters (see :func:`_quarto_commands`).

The fallback is glue around Pandoc; what it does to documents is in Pandoc's own terms, in
``assets/`` (package data):

* ``cell-options.lua`` applies Quarto's cell options of a notebook's code cells (``#| label: tbl-…``
  with ``#| tbl-cap:``, ``#| label: fig-…`` with ``#| fig-cap:`` and ``#| fig-alt:``) to their outputs,
  as Quarto does (see :mod:`cinreport.render.cell_options`);
* ``chapter.lua`` prepares each chapter, read on its own (Pandoc cannot read several ``.ipynb`` at
  once; notebooks go ipynb -> Markdown -> JSON so ``text/markdown`` outputs are read as Markdown): it
  keeps what a reader sees of a notebook, applies Quarto's conditional content and callouts, numbers
  the chapter, its sections ("1", "1.2", appendices "A", "A.1"), figures and tables, and points images
  at ``figures/<page>/`` (copied here);
* ``html.lua`` resolves ``@fig-...``-style references and links between chapters for a page, puts
  tables in named scrollable regions and gives the page's contents; ``fragment.html`` is the Pandoc
  template of a page body, ``page.html`` of the page around it (sidebar, contents, previous/next
  links, footer naming the renderer), filled for every page by one ``pandoc lua pages.lua``;
  ``book.css`` is the stylesheet (followed by the project's ``report/style.css``);
* ``typst.lua`` joins the chapters into one document for the PDF (ids unique across chapters, part
  pages, callouts, table and figure sizes), written by Pandoc with the template ``book.typ`` (title
  page, contents, running header, page numbers) and compiled with the ``typst`` module.

With a cache folder, conversions are reused (see :class:`PandocCache`) and Pandoc runs on a thread
per core; the book is the same, byte for byte, with or without it. Rendering is atomic: output is built
in a temporary sibling folder and swapped into place only when everything succeeded.
"""
from __future__ import annotations

import functools
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import yaml

from cinreport.common import layout
from cinreport.common.atomic import recover_folder, replace_folder, write_if_changed
from cinreport.common.engines import detect_renderer, renderer_description
from cinreport.common.parallel import in_parallel
from cinreport.render import cell_options
from cinreport.render.book import (
    Chapter,
    RenderError,
    active_profiles,
    book_chapters,
    book_config,
    entry_path,
    page_names,
    profile_config,
    read_yaml,
    slug,
)

__all__ = ["Chapter", "RenderError", "RenderResult", "book_chapters", "book_config", "detect_renderer",
           "page_names", "render_book", "renderer_description"]

PDF_NAME = "cinreport.pdf"
DATA_DIR = "data"  # the open data (CSV) in the book, written by opendata.publish
RENDERERS = ("quarto", "pandoc-typst")
ASSETS = Path(__file__).with_name("assets")
PDF_PROFILE = "cinreport-pdf"  # Quarto profile of the PDF's chapters, when some are left out of it


@dataclass
class RenderResult:
    renderer: str
    html_index: Path
    pdf: Path
    pages: list[Path] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Metadata and the public entry point (the renderer choice is cinreport.common.engines': the provenance
# chapter names the engines without importing the renderer, so a renderer edit executes no notebook)

# Metadata the build sets from params/report.yml, for both renderers (Quarto: ``-M key:value``).
SYNTHETIC_META = "synthetic-data"  # true when synthetic_data: true; chapters use when-meta on it
WEAKENED_META = "suppression-weakened"  # true when the threshold is below 3 (disclosure.allow_low_threshold)


def render_metadata(root: Path, synthetic: bool | None = None, params_dir: Path | None = None) -> dict[str, bool]:
    """Metadata the render adds to every chapter: ``synthetic-data`` from ``synthetic_data`` in
    ``<params_dir>/report.yml`` (default ``<root>/params``; false where there is no such file) unless
    ``synthetic`` is given, and ``suppression-weakened``. The fallback also puts them on the PDF's cover
    and running header."""
    weakened = False
    params = Path(root) / (params_dir if params_dir is not None else layout.PARAMS)
    if (params / "report.yml").is_file():
        from cinreport.data.config import ParamsError, load_report

        try:
            report = load_report(params)
        except ParamsError as exc:
            raise RenderError(f"Cannot read synthetic_data from {params / 'report.yml'}: {exc}") from exc
        weakened = report.suppression_weakened
        synthetic = report.synthetic_data if synthetic is None else synthetic
    return {SYNTHETIC_META: bool(synthetic), WEAKENED_META: bool(weakened)}


def render_book(root: Path, out_dir: Path, renderer: str | None = None, cache_dir: Path | None = None,
                pdf_exclude: frozenset[str] | set[str] = frozenset(), synthetic: bool | None = None,
                build_dir: Path | None = None, params_dir: Path | None = None) -> RenderResult:
    """Render the book in ``root`` into ``out_dir`` atomically (all or nothing).

    ``cache_dir``: keep Pandoc's conversions there, keyed by content (see :class:`PandocCache`), so a
    re-render converts only the chapters that changed. ``pdf_exclude``: chapter paths (relative to
    ``root``, POSIX) left out of the PDF (the HTML book keeps every chapter). ``synthetic``: whether
    the data are synthetic; None reads ``synthetic_data`` from ``<root>/params/report.yml`` (see
    :func:`render_metadata`). It drives the chapters' ``when-meta="synthetic-data"`` content, the
    PDF's cover and running header and the open data's flags. ``build_dir`` (default ``<root>/build``,
    relative paths from ``root``): the build whose open data and summary the book publishes; its chapters
    are the ones the book's configuration lists (``cinreport book-config`` writes them for it).
    ``params_dir`` (default ``<root>/params``): where report.yml is.
    """
    root, out_dir = Path(root).resolve(), Path(out_dir).resolve()
    build = root / (build_dir if build_dir is not None else layout.BUILD)
    renderer = renderer or detect_renderer()
    if renderer not in RENDERERS:
        raise ValueError(f"renderer must be one of {RENDERERS}, not {renderer!r}")
    if renderer == "quarto" and not build.resolve().is_relative_to(root):
        raise RenderError(f"Quarto renders only files inside the project ({root}), and the build folder {build} "
                          "is not: choose a build folder inside the project (e.g. --build build-2)")
    _summary_include(root, build)
    chapters = book_chapters(root)  # fails before anything is written
    metadata = render_metadata(root, synthetic, params_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    recover_folder(out_dir)
    tmp = out_dir.parent / f".tmp-{out_dir.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        from cinreport.common.opendata import publish  # the book's open data (data/), swapped in with the book

        if renderer == "quarto":
            _render_quarto(root, tmp, metadata, frozenset(pdf_exclude))
        def open_data() -> None:
            publish(build, tmp / DATA_DIR, synthetic=metadata[SYNTHETIC_META], weakened=metadata[WEAKENED_META])

        if renderer == "quarto":
            open_data()
        else:
            cache = PandocCache(Path(cache_dir)) if cache_dir else None
            _render_fallback(root, chapters, tmp, cache, frozenset(pdf_exclude), metadata, beside=open_data)
            if cache:
                cache.prune()
        pages = sorted(p.relative_to(tmp) for p in tmp.glob("*.html"))  # chapters (data/ has its own index)
        if not (tmp / "index.html").is_file() or not (tmp / PDF_NAME).is_file():
            raise RenderError(f"{renderer} finished but index.html or {PDF_NAME} is missing")
        os.sync()  # the new book on disk before it is swapped in (power loss): one call, not one per file
        replace_folder(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return RenderResult(renderer, out_dir / "index.html", out_dir / PDF_NAME, [out_dir / p for p in pages])


def _summary_include(root: Path, build: Path) -> None:
    """Copy the build's summary (``<build>/study/summary.md``) to ``<root>/_summary.md``, which
    ``index.qmd`` includes (a Quarto include names a fixed file, whatever the build folder); removed
    where the build has none, so the book never shows another build's summary."""
    source, target = build / layout.SUMMARY, root / layout.SUMMARY_INCLUDE
    if source.is_file():
        write_if_changed(target, source.read_text(encoding="utf-8"))
    else:
        target.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# Quarto


def _pdf_profile(root: Path, exclude: frozenset[str]) -> str:
    """Write ``_quarto-cinreport-pdf.yml``: the active profiles' configuration with the chapters left
    out of the PDF removed (an emptied part goes too). Rendered with ``--profile cinreport-pdf`` alone,
    Quarto merges it into ``_quarto.yml`` instead of the default profile. Chapters listed in
    ``_quarto.yml`` itself cannot be left out this way (the project's are all in the profile of
    chapters, :data:`cinreport.common.layout.BOOK_PROFILE`)."""
    from cinreport.common.atomic import write_if_changed

    def keep(items: list | None) -> list:
        kept = []
        for item in items or []:
            if isinstance(item, dict) and "part" in item:
                chapters = keep(item.get("chapters"))
                kept += [{**item, "chapters": chapters}] if chapters else []
            elif entry_path(item) not in exclude:
                kept.append(item)
        return kept

    config = profile_config(root)
    book = config.get("book") or {}
    for key in ("chapters", "appendices"):
        if key in book:
            book[key] = keep(book[key])
    write_if_changed(root / f"_quarto-{PDF_PROFILE}.yml",
                     "# Written by `cinreport render`: the PDF's chapters (pdf_profiles). Do not edit.\n"
                     + yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return PDF_PROFILE


def _quarto_commands(output_dir: str, metadata: dict | None = None, pdf_profile: str | None = None) -> list[list[str]]:
    """``quarto render`` of the project with the build's metadata as ``-M key:value`` (Quarto reads the
    value as YAML, so true and false are booleans that ``when-meta`` can test). With ``pdf_profile``,
    two renders: the HTML book (default profile), then the PDF with that profile into the same folder
    (``--no-clean`` keeps the HTML)."""
    options = ["--output-dir", output_dir]
    for key, value in (metadata or {}).items():
        options += ["-M", f"{key}:{('true' if value else 'false') if isinstance(value, bool) else value}"]
    if not pdf_profile:
        return [["quarto", "render", *options]]
    return [["quarto", "render", "--to", "html", *options],
            ["quarto", "render", "--to", "typst", "--profile", pdf_profile, "--no-clean", *options]]


def _render_quarto(root: Path, out: Path, metadata: dict | None = None,
                   pdf_exclude: frozenset[str] = frozenset()) -> None:
    try:
        output_dir = os.path.relpath(out, root)
    except ValueError:  # different drive on Windows
        output_dir = str(out)
    profile = _pdf_profile(root, pdf_exclude) if pdf_exclude else None
    for command in _quarto_commands(output_dir, metadata, profile):
        try:
            proc = subprocess.run(command, cwd=root, capture_output=True, text=True)
        except OSError as exc:
            raise RenderError(f"Cannot run quarto: {exc}") from exc
        log = proc.stdout + proc.stderr
        if proc.returncode != 0:
            progress = re.findall(r"^\s*\[\s*\d+/\d+\]\s+(\S+)", log, re.M)
            where = f" while rendering chapter {progress[-1]}" if progress else ""
            tail = "\n".join(log.strip().splitlines()[-20:])
            raise RenderError(f"{' '.join(command[:4])} failed (exit {proc.returncode}){where}:\n{tail}")
    pdfs = sorted(out.glob("*.pdf"))
    if not pdfs:
        raise RenderError("quarto render produced no PDF (is the typst format enabled?)")
    if not (out / PDF_NAME).exists():  # copied, so the HTML book's download link keeps working
        shutil.copyfile(pdfs[0], out / PDF_NAME)


# --------------------------------------------------------------------------------------------
# Fallback: Pandoc, its cache and the chapters


@functools.lru_cache(maxsize=1)
def _pandoc_path() -> str:
    import pypandoc

    return pypandoc.get_pandoc_path()  # the binary pypandoc-binary ships, else the one on PATH


def _pandoc(what: str, args: list[str], text: str | None = None, env: dict | None = None,
            cwd: Path | None = None) -> str:
    """Run Pandoc directly (one process per conversion: pypandoc would also list Pandoc's formats
    twice on every call) and return its output; a failure names ``what`` it was converting."""
    try:
        proc = subprocess.run([_pandoc_path(), *args], input=text, capture_output=True, encoding="utf-8",
                              env={**os.environ, **env} if env else None, cwd=cwd)
    except OSError as exc:
        raise RenderError(f"Pandoc failed on {what}: {exc}") from exc
    if proc.returncode != 0:
        raise RenderError(f"Pandoc failed on {what} (exit {proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


class PandocCache:
    """Pandoc's conversions kept between renders, keyed by a hash of their whole input.

    A key covers the Pandoc version, this module and its assets (filters, templates), the conversion
    and the exact bytes converted, so an entry is reused only for identical input: a chapter whose
    notebook and place in the book did not change is not read again, and a page whose document
    (numbering and links included) did not change is not converted again: an unchanged chapter costs
    reading its entry, unless a link of it now resolves differently or it is in the PDF. Entries are
    written atomically; :meth:`prune` drops those the last render did not use.
    """

    def __init__(self, folder: Path):
        import pypandoc

        self.folder = folder
        code = hashlib.sha256(Path(__file__).read_bytes())
        for asset in sorted(ASSETS.iterdir()):
            code.update(asset.name.encode() + b"\0" + asset.read_bytes())
        self.version = f"{pypandoc.get_pandoc_version()}\0{code.hexdigest()}"
        self.used: set[str] = set()
        self._remove_stale_temps()

    def _remove_stale_temps(self) -> None:
        """Temporary files of writers that were killed (``.<key>.<pid>.<random>.tmp``)."""
        from cinreport.common.atomic import pid_alive

        for path in self.folder.glob(".*.tmp") if self.folder.is_dir() else []:
            parts = path.name.split(".")
            if len(parts) >= 5 and parts[-3].isdigit() and int(parts[-3]) != os.getpid() \
                    and not pid_alive(int(parts[-3])):
                path.unlink(missing_ok=True)

    def key(self, kind: str, data: bytes) -> str:
        return hashlib.sha256(f"{kind}\0{self.version}\0".encode() + data).hexdigest()

    def get(self, key: str) -> str | None:
        return (self.folder / key).read_text(encoding="utf-8") if self.has(key) else None

    def has(self, key: str) -> bool:
        """Whether an entry is there (kept by :meth:`prune`, like one read), without reading it."""
        if (self.folder / key).is_file():
            self.used.add(key)
            return True
        return False

    def put(self, key: str, text: str) -> None:
        from cinreport.common.atomic import write_text

        write_text(self.folder / key, text)
        self.used.add(key)

    def prune(self) -> None:
        for path in self.folder.iterdir() if self.folder.is_dir() else []:
            if path.is_file() and path.name not in self.used and not path.name.startswith("."):
                path.unlink(missing_ok=True)


_INCLUDE = re.compile(r"^[ \t]*\{\{<\s*include\s+(\S+?)\s*>\}\}[ \t]*$", re.MULTILINE)


def expand_includes(source: Path, _depth: int = 0) -> str:
    """A Markdown chapter's text with Quarto's ``{{< include file >}}`` shortcodes (on a line of their
    own) replaced by the file's text, as Quarto does before it reads the chapter; paths are relative to
    the including file.  The landing page includes the generated summary this way."""
    def include(m: re.Match) -> str:
        target = source.parent / m.group(1)
        if not target.is_file():
            raise RenderError(f"Chapter {source.name} includes {m.group(1)}, which does not exist "
                              "(make report writes the generated parts before rendering)")
        if _depth >= 8:
            raise RenderError(f"Chapter {source.name}: includes nested more than 8 deep")
        return expand_includes(target, _depth + 1).rstrip("\n")

    return _INCLUDE.sub(include, source.read_text(encoding="utf-8"))


def _stable_notebook(data: bytes) -> str | None:
    """An executed notebook without what changes on every run but is never shown (papermill's
    times and durations, execution timing), so a chapter re-executed to the same outputs is not
    converted again; None when it is not readable JSON."""
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


@dataclass
class _Doc:
    """A chapter as ``chapter.lua`` prepared it: ``info`` holds its title, its cross-reference targets
    (id -> [kind, number]), the ids it cites, its links to files and its images."""

    chapter: Chapter
    page: str  # e.g. "reasons.html"
    info: dict
    api: list  # Pandoc's API version of the document
    blocks: str  # the document's blocks as JSON text (passed to Pandoc, never parsed here)
    key: str | None = None  # cache key of the prepared chapter; None when it is not cached

    @property
    def title(self) -> str:  # plain text, including its number
        return self.info["title"]


def _chapter_doc(root: Path, chapter: Chapter, page: str, context: dict, work: Path, out: Path,
                 cache: PandocCache | None) -> _Doc:
    """A chapter read and prepared by ``chapter.lua``, its images copied into ``out``. With a cache,
    kept there, keyed by what it was read from and its place in the book; not kept when the notebook
    embeds images (they are extracted into this render's temporary folder)."""
    source, what, stem = root / chapter.path, str(chapter.path), chapter.path.stem
    context_json = json.dumps({**context, "label": chapter.label, "page": page, "slug": slug(stem),
                               "fallback_title": stem.replace("_", " ").replace("-", " ").capitalize()},
                              sort_keys=True, default=str)
    if source.suffix == ".ipynb":
        text = _stable_notebook(source.read_bytes())
        if text is None:
            raise RenderError(f"Chapter {what} is not a readable notebook (not JSON)")
    else:
        text = expand_includes(source)
    key = cache.key("chapter" + source.suffix, context_json.encode() + b"\0" + text.encode()) if cache else None
    read = cache.key("markdown", text.encode()) if cache and source.suffix == ".ipynb" else None
    cached = cache.get(key) if cache and key else None
    if cached:  # one line of JSON (its info), then its blocks
        head, _, blocks = cached.partition("\n")
        entry = json.loads(head)
        if cache and read:
            cache.has(read)  # kept too: a chapter that moves in the book is prepared again, not read again
    else:
        media = work / "media" / Path(page).stem
        if source.suffix == ".ipynb":  # through Markdown, so cells are read with all of its extensions;
            # Markdown cells with citations and smart punctuation, as outputs are (@tbl-x is a reference)
            text = (cache.get(read) if cache and read else None) or _pandoc(
                what, ["--from=ipynb+citations+smart", "--to=markdown", f"--extract-media={media}"], text)
        prepared = json.loads(_pandoc(what, ["--from=markdown", "--to=json", *cell_options.pandoc_args(),
                                             f"--lua-filter={ASSETS / 'chapter.lua'}"],
                                      text, env={"CINREPORT_CHAPTER": context_json}))
        entry = {"info": json.loads(prepared["meta"]["cinreport"]["c"]), "api": prepared["pandoc-api-version"]}
        blocks = json.dumps(prepared["blocks"])
        if cache and key and not (media.exists() and any(media.rglob("*"))):
            cache.put(key, json.dumps(entry) + "\n" + blocks)
            if read:
                cache.put(read, text)
        else:
            key = None
    for url, dest in entry["info"]["images"] or []:
        src = Path(unquote(url))
        src = src if src.is_absolute() else source.parent / src
        if not src.is_file():
            raise RenderError(f"Chapter {chapter.path}: image not found: {url} (looked for {src})")
        (out / dest).parent.mkdir(parents=True, exist_ok=True)
        try:  # a hard link: outputs are only ever replaced by rename, never written in place
            os.link(src, out / dest)
        except OSError:
            shutil.copyfile(src, out / dest)
    return _Doc(chapter, page, entry["info"], entry["api"], blocks, key)


def _resolution(doc: _Doc, targets: dict, chapter_pages: dict[Path, str], root: Path) -> dict:
    """What the chapter's references and links resolve to (``html.lua``): its page, the targets it
    cites, and the page of each chapter file it links to."""
    pages = {}
    for href in doc.info["links"] or []:
        file = href.partition("#")[0]
        page = chapter_pages.get((root / doc.chapter.path.parent / unquote(file)).resolve())
        if page:
            pages[file] = page
    cited = {i: targets[i] for i in doc.info["cites"] or [] if i in targets}
    return {"page": doc.page, "targets": cited, "pages": pages}


# --------------------------------------------------------------------------------------------
# Fallback: HTML

# A part with more chapters than this is folded in the sidebar unless it holds the page: the part of
# authority profiles folds exactly when there are "many" authorities, the number above which the
# profiles also leave the PDF (pdf_profiles: auto) and the tables show the spread.
NAV_FOLD = layout.MANY_AUTHORITIES


def _nav_group(doc: _Doc) -> str | None:
    return "Appendices" if doc.chapter.appendix else doc.chapter.part


def _nav(docs: list[_Doc]) -> tuple[list[dict], list[list[int]]]:
    """The sidebar for ``page.html``: runs of chapters, those of a part under its title (folded when it
    has more than NAV_FOLD chapters, e.g. 153 authority profiles, unless it holds the page); and where
    each page is in it (``pages.lua`` marks the current page and opens its part)."""
    e, sizes, where, group = html.escape, Counter(_nav_group(d) for d in docs), [], object()
    nav: list[dict[str, Any]] = []
    for doc in docs:
        if _nav_group(doc) != group:
            group = _nav_group(doc)
            nav.append({"part": e(group or ""), "count": str(sizes[group]), "chapters": [],
                        "folded": group is not None and sizes[group] > NAV_FOLD})
        nav[-1]["chapters"].append({"href": e(doc.page), "title": e(doc.title)})
        where.append([len(nav), len(nav[-1]["chapters"])])  # Lua counts from 1
    return nav, where


def _downloads(out: Path) -> list[tuple[str, str]]:
    """The book's downloads: the PDF, and the open data where ``data/`` is in the book."""
    data = f"{DATA_DIR}/index.html" if (out / DATA_DIR / "index.html").is_file() else f"{DATA_DIR}/"
    return [(PDF_NAME, "PDF of the whole report")] + ([(data, "Open data (CSV)")] if (out / DATA_DIR).is_dir() else [])


def _html_fragment(doc: _Doc, links: str, cache: PandocCache | None) -> tuple[str, str]:
    """The page's contents box and body, by ``html.lua`` and the template ``fragment.html``; keyed by
    the prepared chapter and ``links`` (what its links resolve to), so an unchanged page is not loaded."""
    key = None
    if cache:
        document = doc.key or hashlib.sha256(json.dumps(doc.api).encode() + doc.blocks.encode()).hexdigest()
        key = cache.key("html", f"{document}\0{links}".encode())
    text = cache.get(key) if cache and key else None
    if text is None:
        meta = json.dumps({"cinreport-links": {"t": "MetaString", "c": links}})
        text = _pandoc(f"chapter {doc.chapter.path} (HTML output)",
                       ["--from=json", "--to=html5", "--mathml", "--section-divs",
                        f"--template={ASSETS / 'fragment.html'}", f"--lua-filter={ASSETS / 'html.lua'}"],
                       f'{{"pandoc-api-version":{json.dumps(doc.api)},"meta":{meta},"blocks":{doc.blocks}}}')
        if cache and key:
            cache.put(key, text)
    toc, _, body = text.partition("<!-- cinreport:body -->\n")
    return toc.strip(), body


def _write_pages(out: Path, docs: list[_Doc], fragments: list[tuple[str, str]], meta: dict, description: str) -> None:
    """Every page from the template ``page.html``, filled by one ``pandoc lua pages.lua``."""
    e = html.escape
    nav, where = _nav(docs)
    common = {"lang": e(meta["lang"]), "generator": e(description), "book-title": e(meta["title"]),
              "subtitle": e(meta["subtitle"]), "downloads": [{"href": e(h), "text": e(t)} for h, t in _downloads(out)]}
    pages = []
    for i, (doc, (toc, body)) in enumerate(zip(docs, fragments)):
        context: dict[str, Any] = {"chapter-title": e(doc.title), "toc": toc, "body": body}
        neighbours = {"previous": docs[i - 1] if i else None, "next": docs[i + 1] if i + 1 < len(docs) else None}
        for name, other in neighbours.items():
            if other:
                context[name] = {"href": e(other.page), "title": e(other.title)}
        pages.append({"path": str(out / doc.page), "nav": where[i], "context": context})
    job = {"template": str(ASSETS / "page.html"), "common": common, "nav": nav, "pages": pages}
    _pandoc("the HTML pages", ["lua", str(ASSETS / "pages.lua")], json.dumps(job))


# --------------------------------------------------------------------------------------------
# Fallback: PDF


def _write_pdf(docs: list[_Doc], targets: dict, links: dict[str, dict], meta: dict, description: str,
               out: Path) -> None:
    """The chapters joined by ``typst.lua``, written by Pandoc with ``book.typ``, compiled by Typst."""
    import typst

    def string(value: str) -> dict:
        return {"t": "MetaString", "c": value}

    book_meta = {"title": string(meta["title"]), "shorttitle": string(meta["short_title"]),
                 "renderer": string(f"Rendered with {description}"),
                 "synthetic": {"t": "MetaBool", "c": meta["synthetic"]},
                 "weakened": {"t": "MetaBool", "c": meta["weakened"]},
                 "cinreport-book": string(json.dumps({"targets": targets, "links": links}))}
    if meta["subtitle"]:
        book_meta["subtitle"] = string(meta["subtitle"])
    if meta["author"]:
        book_meta["author"] = {"t": "MetaList", "c": [string(a) for a in meta["author"]]}
    chapters = ",".join(
        '{"t":"Div","c":[%s,%s]}' % (json.dumps(["", ["cinreport-chapter"], [
            ["page", d.page], ["path", d.chapter.path.as_posix()], ["group", _nav_group(d) or ""]]]), d.blocks)
        for d in docs)
    api = json.dumps(docs[0].api if docs else [1, 23])
    source = _pandoc("the joined book (Typst output)",
                     ["--from=json", "--to=typst", "--standalone", f"--template={ASSETS / 'book.typ'}",
                      f"--lua-filter={ASSETS / 'typst.lua'}"],
                     f'{{"pandoc-api-version":{api},"meta":{json.dumps(book_meta)},"blocks":[{chapters}]}}', cwd=out)
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

# Book configuration keys that are structure, not document metadata (book: holds the chapter list,
# which changes when an authority joins: keeping it out keeps the render cache of other chapters).
_STRUCTURAL_KEYS = ("project", "book", "profile", "website")


def _book_meta(root: Path) -> dict:
    config = book_config(root)
    book = config.get("book") or {}
    author = book.get("author") or config.get("author") or []
    authors = [a if isinstance(a, str) else str(a.get("name", ""))
               for a in (author if isinstance(author, list) else [author])]
    title = str(book.get("title") or config.get("title") or "Report")
    return {"title": title, "subtitle": str(book.get("subtitle") or ""),
            "short_title": str(book.get("short-title") or title), "author": [a for a in authors if a],
            "lang": str(config.get("lang") or "en-GB")}


def _render_fallback(root: Path, chapters: list[Chapter], out: Path, cache: PandocCache | None = None,
                     pdf_exclude: frozenset[str] = frozenset(), build_meta: dict | None = None,
                     beside: Callable[[], object] | None = None) -> None:
    """The book through Pandoc and Typst into ``out``. The PDF is compiled on a thread of its own (Typst
    runs without Python's lock) while the HTML pages are written and ``beside`` runs (the open data)."""
    from concurrent.futures import ThreadPoolExecutor

    description = renderer_description("pandoc-typst")
    meta = _book_meta(root)
    build_meta = dict(build_meta or {})
    meta.update(synthetic=bool(build_meta.get(SYNTHETIC_META)), weakened=bool(build_meta.get(WEAKENED_META)))
    # What conditional content is tested against: the book's metadata (without its structure), the
    # chapter's own, the build's (it wins, as Quarto's -M does), and the profiles.
    context = {"book": {k: v for k, v in book_config(root).items() if k not in _STRUCTURAL_KEYS},
               "build": build_meta, "profiles": active_profiles(read_yaml(root / "_quarto.yml"))}
    pages = page_names(chapters)
    chapter_pages = {(root / c.path).resolve(): p for c, p in zip(chapters, pages)}
    with tempfile.TemporaryDirectory(prefix="cinreport-render-") as tmp:
        docs = in_parallel(lambda cp: _chapter_doc(root, cp[0], cp[1], context, Path(tmp), out, cache),
                           list(zip(chapters, pages)))
        targets = {ident: [*target, doc.page] for doc in docs for ident, target in (doc.info["targets"] or {}).items()}
        resolved = {doc.page: _resolution(doc, targets, chapter_pages, root) for doc in docs}
        pdf_docs = [d for d in docs if d.chapter.path.as_posix() not in pdf_exclude]
        with ThreadPoolExecutor(1) as pool:
            pdf = pool.submit(_write_pdf, pdf_docs, targets, {d.page: resolved[d.page]["pages"] for d in pdf_docs},
                              meta, description, out)
            if beside is not None:  # first: the pages link to what it writes (the open data)
                beside()
            fragments = in_parallel(lambda doc: _html_fragment(doc, json.dumps(resolved[doc.page], sort_keys=True),
                                                               cache), docs)
            _write_pages(out, docs, fragments, meta, description)
            css = (ASSETS / "book.css").read_text(encoding="utf-8")
            if (root / "report" / "style.css").is_file():
                css += "\n/* ---- report/style.css ---- */\n" + (root / "report" / "style.css").read_text(encoding="utf-8")
            (out / "style.css").write_text(css, encoding="utf-8")
            pdf.result()  # the PDF's error, if any, is raised here
