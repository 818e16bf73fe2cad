"""Check Quarto configuration against Quarto's own option schemas, read as data.

Quarto cannot be installed here, so this reads the schema files Quarto validates with (quarto-cli's
``src/resources/schema/``, see the folder's README.md) and reports every key Quarto does not know
in the place it is used, following quarto-cli's ``src/core/lib/yaml-schema/*.ts``:

* ``project.yml`` lists the project-level keys (``project``, ``book``, ...); ``definitions.yml``
  the schemas they refer to, e.g. ``book-schema`` and ``project-profile`` (the ``profile:`` key).
* Document options are the entries of ``document-*.yml``, plus ``cell-*.yml`` entries whose
  ``tags: contexts`` name a ``document-*`` context (that is how ``echo``/``warning`` reach
  ``execute:``). ``execute:`` takes the entries of context ``document-execute``.
* An option is valid under ``format: <fmt>:`` when its ``tags: formats`` admit ``fmt`` (aliases
  such as ``$html-doc`` expand through ``format-aliases.yml``; ``!x`` excludes; no tag means all
  formats). A format key like ``acm-pdf`` or ``html+x`` is matched as Quarto does.

Quarto itself rejects unknown keys only in ``closed`` objects (``project:``, ``book:``,
``profile:``); at the top, under ``execute:`` and ``format: <fmt>:`` it passes them through as
metadata. This checker is stricter there, so typos cannot slip through. Values are checked where
cheap (``boolean``, ``string``, ``number``, enums, closed sub-objects).
"""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path
from typing import Any

import yaml

ENV_VAR = "CINREPORT_QUARTO_SCHEMA"
"""Environment variable that overrides where the schema folder is looked for."""

# YAML dates are plain strings to Quarto; PyYAML turns unquoted ones into date objects.
_SCALARS = {"string": (str, date), "path": str, "boolean": bool, "number": (int, float)}


def schema_dir(repo_root: Path) -> Path:
    """Where the schema folder should be: ``$CINREPORT_QUARTO_SCHEMA`` or the CI layout
    ``<repo root>/../shared/reference/quarto-schema``."""
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override)
    return repo_root.resolve().parent / "shared" / "reference" / "quarto-schema"


def front_matter(text: str) -> dict[str, Any] | None:
    """The YAML front matter (between leading ``---`` lines) of a .qmd file, or None."""
    match = re.match(r"\A---[ \t]*\r?\n(.*?)^---[ \t]*$", text, re.S | re.M)
    return (yaml.safe_load(match.group(1)) or {}) if match else None


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


class QuartoSchema:
    """Quarto's option schemas loaded from ``folder``; the ``check_*`` methods return a list of
    problems, each ``"<dotted.path>: <what is wrong>"`` (empty when all is well)."""

    def __init__(self, folder: Path):
        folder = Path(folder)
        self.definitions = {d["id"]: d for d in _load(folder / "definitions.yml")}
        self.aliases: dict[str, list[str]] = _load(folder / "format-aliases.yml")["aliases"]
        self.project_fields = {f["name"]: f for f in _load(folder / "project.yml")}
        # (context, entry) for every document-/cell- option; context is the file name stem.
        self.fields = [(p.stem, e) for p in sorted(folder.glob("document-*.yml"))
                       + sorted(folder.glob("cell-*.yml")) for e in _load(p)]
        # pandoc's output formats plus the two Quarto adds (front-matter.ts).
        self.formats = self.expand(["$pandoc-all"]) | {"hugo", "md"}

    # --- which options exist where ---------------------------------------------------------
    def expand(self, names: list[str]) -> set[str]:
        """Expand ``$alias`` format names recursively through format-aliases.yml."""
        out: set[str] = set()
        for name in names:
            out |= self.expand(self.aliases[name[1:]]) if name.startswith("$") else {name}
        return out

    def applies_to(self, entry: dict, fmt: str) -> bool:
        """Whether a document option applies to output format ``fmt`` (format-schemas.ts)."""
        tags = list((entry.get("tags") or {}).get("formats") or entry.get("enabled") or [])
        tags += [f"!{f}" for f in entry.get("disabled") or []]
        enabled = [t for t in tags if not t.startswith("!")]
        disabled = [t[1:] for t in tags if t.startswith("!")]
        if disabled and fmt in self.expand(disabled):
            return False
        return not enabled or fmt in self.expand(enabled)

    def options(self, context: str = "document-*", fmt: str | None = None) -> dict[str, list]:
        """Options of a context (a glob like ``document-*`` or a name like ``document-execute``),
        restricted to format ``fmt`` if given: name (and alias) -> the entries defining it."""
        pattern = re.compile(re.escape(context).replace(r"\*", ".*") + r"\Z")
        found: dict[str, list] = {}
        for file_context, entry in self.fields:
            contexts = [file_context, *(entry.get("tags") or {}).get("contexts", [])]
            wanted = fmt is None or self.applies_to(entry, fmt)
            if wanted and any(pattern.match(c) for c in contexts):
                for name in filter(None, (entry["name"], entry.get("alias"))):
                    found.setdefault(name, []).append(entry)
        return found

    def base_formats(self, key: str) -> set[str]:
        """Formats a ``format:`` key denotes (``typst``, ``acm-pdf`` -> pdf, ``html+x`` -> html)."""
        return {f for f in self.formats if re.fullmatch(rf"(.+-)?{re.escape(f)}([-+].+)?", key)}

    # --- checks -------------------------------------------------------------------------------
    def check_project_config(self, config: dict) -> list[str]:
        """Check a whole ``_quarto.yml`` (or ``_quarto-<profile>.yml``) mapping."""
        top_options, problems = self.options(), []
        for key, value in config.items():
            if key in self.project_fields:
                field = self.project_fields[key]
                errors = self.check_value(value, field["schema"], key)
                if errors and "errorMessage" in field:  # e.g. a top-level `type:`
                    errors = [f"{key}: {field['errorMessage']}"]
                problems += errors
            elif key == "profile":
                profile = self.definitions["project-profile"]["schema"]
                problems += self.check_value(value, profile, key)
            elif key in ("execute", "format") or key in top_options:
                problems += self._check_document_key(key, value, top_options)
            else:
                problems.append(f"{key}: not an option Quarto knows at the top of _quarto.yml")
        return problems

    def check_front_matter(self, meta: dict | None) -> list[str]:
        """Check a document's front matter: document options, ``execute:`` and ``format:``."""
        top_options, problems = self.options(), []
        top_options.pop("format", None)  # the epub `format` option is not a top-level key
        for key, value in (meta or {}).items():
            if key in ("execute", "format") or key in top_options:
                problems += self._check_document_key(key, value, top_options)
            else:
                problems.append(f"{key}: not a document option Quarto knows")
        return problems

    def _check_document_key(self, key: str, value: Any, known: dict) -> list[str]:
        if key in ("execute", "format"):
            return self.check_execute(value) if key == "execute" else self.check_format(value)
        return self._check_alternatives(value, [e["schema"] for e in known[key]], key)

    def check_execute(self, value: Any, path: str = "execute") -> list[str]:
        """Check an ``execute:`` mapping against the ``document-execute`` context."""
        if not isinstance(value, dict):
            return [f"{path}: expected a mapping of execution options"]
        known = self.options("document-execute")
        return [problem for key, val in value.items() for problem in (
            self._check_alternatives(val, [e["schema"] for e in known[key]], f"{path}.{key}")
            if key in known else [f"{path}.{key}: not an execution option Quarto knows"])]

    def check_format(self, value: Any, path: str = "format") -> list[str]:
        """Check ``format:``: a format name, or a mapping of format -> options (or 'default')."""
        if isinstance(value, str):
            known = self.base_formats(value)
            return [] if known else [f"{path}: '{value}' is not an output format Quarto knows"]
        if not isinstance(value, dict):
            return [f"{path}: expected a format name or a mapping of formats"]
        problems: list[str] = []
        for fmt_key, opts in value.items():
            fmt_path, bases = f"{path}.{fmt_key}", self.base_formats(str(fmt_key))
            if not bases:
                problems.append(f"{fmt_path}: not an output format Quarto knows")
            elif isinstance(opts, dict):
                per_format = [self.options(fmt=b) for b in sorted(bases)]
                for key, val in opts.items():
                    if key == "execute":
                        problems += self.check_execute(val, f"{fmt_path}.execute")
                    elif all(key in known for known in per_format):
                        schemas = [e["schema"] for known in per_format for e in known[key]]
                        problems += self._check_alternatives(val, schemas, f"{fmt_path}.{key}")
                    else:
                        problems.append(
                            f"{fmt_path}.{key}: not an option Quarto knows for {fmt_key}")
            elif opts not in (None, "default"):
                problems.append(f"{fmt_path}: expected a mapping of options or 'default'")
        return problems

    # --- generic value walker over Quarto's schema language -------------------------------
    def _check_alternatives(self, value: Any, schemas: list, path: str) -> list[str]:
        """Problems of the best-matching schema among alternatives (none if any matches);
        alternatives of the wrong shape (``path: expected ...``) rank last."""
        results = [self.check_value(value, s, path) for s in schemas]
        wrong_shape = f"{path}: expected"
        return min(results, key=lambda r: (any(p.startswith(wrong_shape) for p in r), len(r)),
                   default=[])

    def check_value(self, value: Any, schema: Any, path: str) -> list[str]:
        """Check ``value`` against one node of Quarto's schema language (see schema.yml):
        unknown keys of closed objects, scalar types and enums. Unresolvable refs pass."""
        if isinstance(schema, str) or schema is None:
            kind = dict if schema == "object" else _SCALARS.get(schema)
            if kind in (None, bool) or not isinstance(value, bool):  # bool is an int in Python
                if kind is None or isinstance(value, kind):
                    return []
            return [f"{path}: expected {schema}, got {value!r}"]
        if not isinstance(schema, dict):  # a literal value used as a one-value enum
            return [] if value == schema else [f"{path}: expected {schema!r}, got {value!r}"]
        if "anyOf" in schema or "allOf" in schema:
            parts = schema.get("anyOf", schema.get("allOf"))
            parts = parts["schemas"] if isinstance(parts, dict) else parts
            if "anyOf" in schema:
                return self._check_alternatives(value, parts, path)
            return [p for part in parts for p in self.check_value(value, part, path)]
        for kind in ("boolean", "number", "string", "path"):
            if kind in schema:
                return self.check_value(value, kind, path)
        if "arrayOf" in schema or "maybeArrayOf" in schema:
            item = schema.get("arrayOf", schema.get("maybeArrayOf"))
            item = item["schema"] if isinstance(item, dict) and "schema" in item else item
            if isinstance(value, list):
                return [p for i, v in enumerate(value)
                        for p in self.check_value(v, item, f"{path}[{i}]")]
            if "maybeArrayOf" in schema:
                return self.check_value(value, item, path)
            return [f"{path}: expected a list"]
        if "enum" in schema:
            allowed = schema["enum"]
            allowed = allowed["values"] if isinstance(allowed, dict) else allowed
            return [] if value in allowed else [f"{path}: {value!r} is not one of {allowed}"]
        if "object" in schema or "record" in schema:
            return self._check_object(value, schema, path)
        ref = schema.get("ref") or schema.get("resolveRef")
        if ref:
            target = self.definitions.get(ref)
            return self.check_value(value, target, path) if target else []
        if "schema" in schema:
            return self.check_value(value, schema["schema"], path)
        return []  # null, pattern, any: nothing cheap to check

    def _object_parts(self, schema: dict) -> tuple[dict, bool, list]:
        """Properties, closedness and required keys of an object schema, merging its ``super``
        schemas as Quarto does (closed if it or any super is closed; properties are unioned)."""
        if "record" in schema:
            props = schema["record"].get("properties", schema["record"])
            return props, True, list(props)
        obj = schema["object"] if isinstance(schema.get("object"), dict) else {}
        props, closed = dict(obj.get("properties") or {}), bool(obj.get("closed"))
        supers = obj.get("super") or []
        for sup in supers if isinstance(supers, list) else [supers]:
            target = self.definitions.get(sup.get("resolveRef") or sup.get("ref"), sup)
            target = target.get("schema", target)
            if isinstance(target, dict) and "object" in target:
                sub_props, sub_closed, _ = self._object_parts(target)
                props, closed = {**sub_props, **props}, closed or sub_closed
        required = obj.get("required") or []
        return props, closed, list(props) if required == "all" else list(required)

    def _check_object(self, value: Any, schema: dict, path: str) -> list[str]:
        if not isinstance(value, dict):
            return [f"{path}: expected a mapping"]
        props, closed, required = self._object_parts(schema)
        problems = [f"{path}: missing required key '{key}'" for key in required if key not in value]
        owner = re.sub(r"\[\d+\]$", "", path.rsplit(".", 1)[-1])  # book.chapters[2] -> chapters
        for key, val in value.items():
            if key in props:
                problems += self.check_value(val, props[key], f"{path}.{key}")
            elif closed:
                problems.append(f"{path}.{key}: not an option Quarto knows for {owner}")
        return problems
