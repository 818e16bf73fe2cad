"""Pseudonymous identifiers for imported records, and a guard against identifiers leaking out.

Any importer of personal data (the CIN census return today; spreadsheets later) uses these:

- :func:`load_key` finds the secret key: the file named by ``--key-file``, else the environment
  variable ``CINREPORT_PSEUDONYM_KEY``. There is no default and no key inside the project folder
  (a key committed beside the data would let anyone holding the data re-identify it): a key file
  under the project is refused. Make a key once, keep it with the authority's other secrets::

      python -c "import secrets; print(secrets.token_hex(32))" > ~/cinreport.key

  The same key gives the same pseudonyms, so a later return re-imported with it links to the
  same children; a lost key cannot be recovered (the ids are then simply new).
- :func:`pseudonym` turns an identifier into ``PREFIX`` + the first 12 hex digits of
  HMAC-SHA256(key, namespace + ':' + identifier). Without the key a pseudonym cannot be
  recomputed from a guessed identifier (which a plain hash of a short LA child id would allow).
  48 bits: the chance that two of 100,000 children share one is about 2 in 100 million, and
  importers check for it anyway (:class:`Pseudonymiser`).
- :func:`refuse_identifiers` checks every value about to be written and
  refuses the whole output if one is shaped like a Unique Pupil Number (a letter, 11 digits and a
  digit or letter: DfE's UPN format) or equals a raw identifier the importer read.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

KEY_ENV = "CINREPORT_PSEUDONYM_KEY"
MIN_KEY_CHARS = 32
HEX_DIGITS = 12
# DfE UPN: 13 characters, a check letter, 3-digit LA code, 8 more digits, then a digit or letter
# (a temporary UPN ends in a letter). Searched for anywhere inside a value, not only whole values.
UPN_SHAPE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z][0-9]{11}[0-9A-Za-z](?![A-Za-z0-9])")
HOW_TO_MAKE = ('make one outside the project, e.g.\n'
               '    python -c "import secrets; print(secrets.token_hex(32))" > ~/cinreport.key\n'
               f'then pass --key-file ~/cinreport.key, or set {KEY_ENV} to its content '
               '(keep it: the same key gives the same pseudonyms)')


class PseudonymKeyError(ValueError):
    """No usable pseudonymisation key."""


def load_key(key_file: str | Path | None, project: Path | str = ".",
             environ: Mapping[str, str] | None = None) -> bytes:
    """The secret key from ``key_file`` or ``$CINREPORT_PSEUDONYM_KEY``; refuse anything else.

    A key file inside ``project`` is refused, as is a key shorter than 32 characters.
    """
    environ = os.environ if environ is None else environ
    if key_file is not None:
        path = Path(key_file).expanduser()
        resolved, root = path.resolve(), Path(project).resolve()
        if resolved == root or resolved.is_relative_to(root):
            raise PseudonymKeyError(f"key file {path} is inside the project folder {root}: keep the key outside "
                            "it (it must never be committed or shared with the data); " + HOW_TO_MAKE)
        try:
            text = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise PseudonymKeyError(f"key file {path} does not exist; " + HOW_TO_MAKE) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise PseudonymKeyError(f"key file {path} cannot be read ({exc}); " + HOW_TO_MAKE) from None
        where = f"key file {path}"
    elif environ.get(KEY_ENV, "").strip():
        text, where = environ[KEY_ENV].strip(), f"${KEY_ENV}"
    else:
        raise PseudonymKeyError(f"no pseudonymisation key: identifiers are replaced by keyed hashes and the key "
                        f"is never kept in the project; {HOW_TO_MAKE}")
    if len(text) < MIN_KEY_CHARS:
        raise PseudonymKeyError(f"the key in {where} has {len(text)} characters; at least {MIN_KEY_CHARS} are "
                        f"needed; " + HOW_TO_MAKE)
    return text.encode("utf-8")


def pseudonym(key: bytes, namespace: str, identifier: str, prefix: str = "CIN-") -> str:
    """``prefix`` + 12 hex digits of HMAC-SHA256(key, 'namespace:identifier')."""
    digest = hmac.new(key, f"{namespace}:{identifier}".encode("utf-8"), hashlib.sha256).hexdigest()
    return prefix + digest[:HEX_DIGITS]


class Pseudonymiser:
    """Pseudonyms for one output file: the same identifier gives the same pseudonym; two different
    identifiers that would share one (a truncated-hash collision) raise instead of merging."""

    def __init__(self, key: bytes, namespace: str, prefix: str = "CIN-"):
        self.key, self.namespace, self.prefix = key, namespace, prefix
        self._owner: dict[str, str] = {}

    def __call__(self, identifier: str) -> str:
        pid = pseudonym(self.key, self.namespace, identifier, self.prefix)
        owner = self._owner.setdefault(pid, identifier)
        if owner != identifier:
            raise ValueError(f"two different identifiers share the pseudonym {pid}; use another key")
        return pid


def refuse_identifiers(rows: Iterable[dict[str, str]], raw_ids: set[str] | frozenset[str] = frozenset(),
                       what: str = "the output") -> None:
    """Raise if any cell is UPN-shaped or equals one of ``raw_ids``; the message shows the column,
    never the value (it may be a real identifier). Raw ids of 4 characters or fewer are not
    compared (they could equal a code or an age by chance)."""
    for n, row in enumerate(rows, start=2):
        for column, value in row.items():
            if not value:
                continue
            if UPN_SHAPE.search(value):
                raise ValueError(f"refusing to write {what}: row {n}, column '{column}' holds a value shaped "
                                 "like a Unique Pupil Number; nothing was written")
            if len(value) > 4 and value in raw_ids:  # shorter ids could equal a code or an age
                raise ValueError(f"refusing to write {what}: row {n}, column '{column}' holds an identifier "
                                 "read from the input; nothing was written")
