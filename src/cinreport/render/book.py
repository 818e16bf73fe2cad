"""The book as ``_quarto.yml`` defines it, for both renderers: its configuration merged with the active
Quarto profiles (e.g. ``_quarto-authorities.yml``, the authority part generated from params), the
chapters in reading order with their parts and labels ("1", "A", or none), and their HTML page names.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml


class RenderError(RuntimeError):
    """The book could not be read or rendered; the message names the file that failed."""


@dataclass(frozen=True)
class Chapter:
    path: Path  # relative to the book root
    part: str | None  # title of the enclosing ``- part:`` entry
    appendix: bool
    number: int | None  # ordinal among numbered chapters (or among appendices); None = unnumbered
    label: str  # displayed number: "1", "A", or "" when unnumbered


def _merge(base, extra):
    """Quarto-style merge: mappings merge recursively, arrays are appended, scalars replaced."""
    if isinstance(base, dict) and isinstance(extra, dict):
        return {**base, **{k: _merge(base[k], v) if k in base else v for k, v in extra.items()}}
    if isinstance(base, list) and isinstance(extra, list):
        return base + extra
    return extra


def read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RenderError(f"Cannot read book configuration {path}: {exc}") from exc
    if data is not None and not isinstance(data, dict):
        raise RenderError(f"Book configuration {path} is not a YAML mapping")
    return data or {}


def active_profiles(config: dict) -> list[str]:
    """The active Quarto profiles: QUARTO_PROFILE, else the configuration's profile.default."""
    profiles = os.environ.get("QUARTO_PROFILE") or (config.get("profile") or {}).get("default")
    if isinstance(profiles, str):
        profiles = [p.strip() for p in profiles.split(",")]
    return [str(p) for p in profiles or [] if p]


def profile_config(root: Path) -> dict:
    """The active profile files merged (what Quarto merges into ``_quarto.yml``)."""
    config: dict = {}
    for name in active_profiles(read_yaml(root / "_quarto.yml")):
        if (root / f"_quarto-{name}.yml").is_file():
            config = _merge(config, read_yaml(root / f"_quarto-{name}.yml"))
    return config


def book_config(root: Path) -> dict:
    """``_quarto.yml`` merged with the active profile files (QUARTO_PROFILE or profile.default)."""
    root = Path(root)
    if not (root / "_quarto.yml").is_file():
        raise RenderError(f"Book configuration not found: {root / '_quarto.yml'}")
    return _merge(read_yaml(root / "_quarto.yml"), profile_config(root))


_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n(?:---|\.\.\.)\s*\n", re.S)
_UNNUMBERED_H1 = re.compile(r"^#\s+[^\n]*\{[^}\n]*(?:\.unnumbered|(?<![\w-])-(?![\w-]))[^}\n]*\}\s*$", re.M)


def _front_matter(text: str) -> dict:
    match = _FRONT_MATTER.match(text)
    try:
        data = yaml.safe_load(match.group(1)) if match else None
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
    front = _FRONT_MATTER.match(text)
    body = text[front.end():] if front else text
    first_h1 = re.search(r"^#\s[^\n]*$", body, re.M)
    return bool(first_h1 and _UNNUMBERED_H1.match(first_h1.group(0)))


def _part_title(root: Path, part: str) -> str:
    """A part is a title string or (Quarto also allows) a file whose title names the part."""
    candidate = root / part
    if part.endswith((".qmd", ".md")) and candidate.is_file():
        text = candidate.read_text(encoding="utf-8")
        heading = re.search(r"^#\s+(.+?)\s*(\{.*\})?\s*$", text, re.M)
        title = _front_matter(text).get("title") or (heading and heading.group(1))
        if title:
            return str(title)
    return str(part)


def entry_path(item) -> str | None:
    return item if isinstance(item, str) else str(item.get("href") or item.get("file") or "") or None


def book_chapters(root: Path) -> list[Chapter]:
    """The book's chapters in reading order: base chapters, profile chapters, then appendices."""
    root = Path(root)
    book = book_config(root).get("book") or {}
    entries: list[tuple[str, str | None, bool]] = []

    def walk(items, appendix: bool, part: str | None) -> None:
        for item in items or []:
            if isinstance(item, dict) and "part" in item:
                walk(item.get("chapters"), appendix, _part_title(root, str(item["part"])))
            elif isinstance(item, (str, dict)) and (path := entry_path(item)):
                entries.append((path, part, appendix))
            else:
                raise RenderError(f"Unrecognised book chapter entry in _quarto.yml: {item!r}")

    walk(book.get("chapters"), False, None)
    walk(book.get("appendices"), True, None)
    if not entries:
        raise RenderError(f"No chapters listed under book: chapters: in {root / '_quarto.yml'}")
    chapters: list[Chapter] = []
    counts = {False: 0, True: 0}
    for rel, part, appendix in entries:
        if not (root / rel).is_file():
            raise RenderError(f"Chapter file not found: {rel} (listed in {root / '_quarto.yml'} or its profile)")
        number = None
        if not _is_unnumbered(root, rel):
            counts[appendix] += 1
            number = counts[appendix]
        label = "" if number is None else _letters(number) if appendix else str(number)
        chapters.append(Chapter(Path(rel), part, appendix, number, label))
    return chapters


def _letters(n: int) -> str:
    out = ""
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(ord("A") + rem) + out
    return out


def slug(text: str) -> str:
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
        base = slug(base)
        name, k = base, 2
        while f"{name}.html" in names:
            name, k = f"{base}-{k}", k + 1
        names.append(f"{name}.html")
    return names
