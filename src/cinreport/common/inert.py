"""Make text inert for each output format: one place for every escape the report needs.

Text that comes from params (authority names, titles), from the codebook (labels, descriptions)
or from data (codes, DfE area names) is *content*, never markup. Each function here turns such text
into what a format reads back as exactly that text:

* :func:`markdown_text` — Pandoc (and Quarto) Markdown, inline: every character that could start
  markup is backslash-escaped, so Pandoc makes it ``Str`` (literal text). Because it reaches Pandoc
  as ``Str``, Pandoc's HTML writer escapes it (``&lt;script&gt;``) and its Typst writer escapes it
  (``\\#eval``), so the HTML and the PDF get it as text too. Runs of white space (new lines, tabs)
  become one space, as HTML shows them anyway; other control characters become U+FFFD.
* :func:`markdown_code` — the same text as an inline code span (file names, symbols).
* :func:`markdown_attribute` — a value inside a quoted Pandoc attribute (``fig-alt="..."``).
* :func:`typst_string` — a Typst string literal (``"..."``) for raw Typst the renderer writes.
* :func:`csv_cell` — a text cell of a published CSV: a value starting with ``=``, ``+``, ``-``,
  ``@``, a tab or a carriage return gets a leading ``'`` (OWASP's advice against CSV/formula
  injection), so a spreadsheet shows it as text. Numbers in numeric columns are never passed here.
* Figures: :func:`cinreport.chapters.figures.set_theme` switches matplotlib's mathtext off
  (``text.parse_math``), so a ``$`` in a label is drawn as ``$``.

Chapters escape each value where it is put into Markdown; the helpers in :mod:`cinreport.chapters.tables`
escape every table cell and header for them (a column that already holds Markdown is named).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["csv_cell", "markdown_attribute", "markdown_code", "markdown_text", "one_line",
           "typst_string", "CSV_TRIGGERS"]

# ASCII punctuation that can start or end Pandoc/Quarto Markdown markup anywhere in a line
# (emphasis, code, links, images, raw HTML, entities, math, citations, shortcodes, attributes,
# super/subscript, strikeout, smart quotes, pipe-table cells, line blocks).
_ALWAYS = frozenset("\\`*_{}[]<>#+!|$@^~=&\"'")
# Block markers that only matter at the start of a line (lists, headings, definition lists,
# div fences, block quotes): the first character of the value is escaped if it is punctuation.
_PUNCT = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
# An ordered-list marker at the start: "1. ", "iv) ", "(a) ", "B. "
_LIST_START = re.compile(r"\(?[0-9A-Za-z]{1,9}[.)]")

CSV_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def one_line(value: object) -> str:
    """``value`` as text on one line: white-space runs (new lines, tabs) become one space; other
    control characters (category Cc) become U+FFFD, which every output shows."""
    text = "".join("\uFFFD" if unicodedata.category(ch) == "Cc" and not ch.isspace() else ch for ch in str(value))
    return " ".join(text.split())


def markdown_text(value: object) -> str:
    """Inline Markdown that Pandoc (and Quarto) read back as exactly ``value`` (on one line)."""
    text = one_line(value)
    out = []
    list_start = _LIST_START.match(text)
    for i, ch in enumerate(text):
        escape = (
            ch in _ALWAYS
            or (i == 0 and ch in _PUNCT)
            or (ch in "-." and (text[i - 1:i] == ch or text[i + 1:i + 2] == ch))   # -- --- ... (smart)
            or (list_start is not None and i == list_start.end() - 1)
        )
        out.append("\\" + ch if escape else ch)
    return "".join(out)


def markdown_code(value: object) -> str:
    """An inline code span showing ``value`` exactly (on one line), whatever backticks it holds."""
    text = one_line(value)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}" if text else markdown_text("")


def markdown_attribute(value: object) -> str:
    """The inside of a double-quoted Pandoc attribute value: one line, ``\\`` and ``"`` escaped and
    ``&`` written as an entity (Pandoc decodes entities in attribute values)."""
    return one_line(value).replace("&", "&amp;").replace("\\", "\\\\").replace('"', '\\"')


def typst_string(value: object) -> str:
    """A Typst string literal holding ``value`` exactly (content, never code)."""
    out = []
    for ch in str(value):
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif unicodedata.category(ch) in ("Cc", "Cs"):
            out.append(f"\\u{{{ord(ch):x}}}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def csv_cell(value: object) -> object:
    """A text cell for a published CSV: ``'`` before a leading ``= + - @``, tab or CR, so that a
    spreadsheet does not run it as a formula (OWASP: CSV injection). Anything not text (numbers,
    missing values) is returned as it is."""
    if isinstance(value, str) and value.startswith(CSV_TRIGGERS):
        return "'" + value
    return value
