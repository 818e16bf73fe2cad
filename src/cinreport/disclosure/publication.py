"""One disclosure-controlled publication per build: the store every chapter takes its numbers from.

Why one store
    Each chapter used to suppress its own tables, but the same counts left the build by other paths
    (prose, evidence lines, other tables, figures, open data) and together gave suppressed counts
    back. Here every number the build publishes is declared once, as a :class:`Ref` (a sum of
    *atoms*, the finest counts measured per authority, see :func:`cinreport.analysis.measures.authority_atoms`),
    under the name of the output that shows it. One pass decides which refs are shown and which are
    suppressed, over all outputs together; every chapter then reads shown values, the suppression
    symbol and the words for numbers from the store, so a cell is shown everywhere or nowhere.

The pass
    1. *Primary*: a published count from 1 to threshold - 1 is suppressed; so is the numerator of a
       share whose complement ``n - k`` is from 1 to threshold - 1 (with ``n`` published, ``k`` would
       give the complement back). Sizes set by the study design (case files reviewed, children in the
       administrative extract, parent interviews) are always shown.
    2. *Attack and secondary suppression*: :mod:`cinreport.disclosure.attack` takes every published number as a
       constraint (shown values exactly; suppressed ones as whole numbers of at least 1, since zeros
       are shown) and finds every suppressed number, small atom and small complement that is
       nevertheless determined. For each, one more overlapping published number is suppressed (the
       smallest non-zero one; failing that a zero), and the attack repeats until nothing is
       determined. A determined suppressed zero, or a determined secondary suppression once nothing
       else is found, is shown again (its value is known already: showing it reveals nothing new).
    3. What cannot be protected stops the build with :class:`DisclosureError`, naming the number and
       the outputs that show it.

The output-checking log
    :meth:`Publication.log` has one row per published number per output: the output, what the
    number is, its ref, its value, shown or suppressed, and why. It goes to ``build/published/``
    for an output checker, never into the book.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from cinreport.common.inert import markdown_code, markdown_text
from cinreport.disclosure import attack

ALL = "*"  # the authority of a number summed over every study authority

# Population of each variable, and the variable whose atoms stand for the population's size.
POPULATIONS = {"case_files": "age", "admin_children": "admin_age", "services": "service",
               "parent_interviews": "interview", "segments": "segments"}
DESIGN = frozenset({"case_files", "admin_children", "parent_interviews"})  # sizes the study chose: shown
POPULATION_NAMES = {"case_files": "reviewed case files", "admin_children": "children in the administrative data",
                    "services": "services recorded",
                    "parent_interviews": "parent interviews", "segments": "coded segments"}

VIEWS: dict[str, tuple[str, ...]] = {
    "age": ("band",), "gender": ("label",), "ethnicity": ("group", "recorded"),
    "disability": ("status", "recorded"), "referral": ("recorded",), "primary_need": ("label",),
    "factor_group": ("has",), "concern": ("label",), "outcome": ("label", "ended"),
    "parents_involved": ("label",), "need": ("status",), "admin_factor": ("has",),
    "service": ("label", "group", "advice", "timely", "started", "provider"),
    "interview": ("felt_involved", "aware"), "segments": ("theme", "source"),
}


def population(var: str) -> str:
    base = var.split(":")[0]
    if base.startswith("admin_"):
        return "admin_children"
    return {"service": "services",
            "interview": "parent_interviews", "segments": "segments"}.get(base, "case_files")


def views(var: str) -> tuple[str, ...]:
    base = var.split(":")[0]
    if base.startswith("admin_") and base not in VIEWS:
        base = base[len("admin_"):]
    return VIEWS[base]


@dataclass(frozen=True)
class Ref:
    """A published count: atoms of ``var`` in ``authority`` (or :data:`ALL`) whose view categories
    are among those given in ``where``; with no ``where``, the size of the variable's population."""

    var: str
    authority: str
    where: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def key(self) -> str:
        if not self.where:
            return f"#{population(self.var)}@{self.authority}"
        cond = ";".join(f"{v}={'+'.join(c)}" for v, c in self.where)
        return f"{self.var}[{cond}]@{self.authority}"

    @property
    def population(self) -> str:
        return population(self.var)

    @property
    def is_design(self) -> bool:
        return not self.where and self.population in DESIGN


def ref(var: str, authority: str, **where: str | Iterable[str]) -> Ref:
    """``ref("ethnicity", "la-a", recorded="Not recorded")``; a view may take several categories."""
    names = views(var)
    conds = []
    for view, cats in where.items():
        if view not in names:
            raise KeyError(f"{var} has no view {view!r} (views: {', '.join(names)})")
        cats = (cats,) if isinstance(cats, str) else tuple(cats)
        conds.append((view, tuple(sorted(cats))))
    return Ref(var, authority, tuple(sorted(conds, key=lambda c: names.index(c[0]))))


def size(pop: str, authority: str) -> Ref:
    """The size of a population (case files, services, ...) in one authority or all."""
    return Ref(POPULATIONS[pop], authority)


THIN_UP_TO = 1_500  # variables: larger groups of linked numbers (at scale) keep every secondary suppression


@functools.lru_cache(maxsize=1)
def _code_version() -> str:
    """The pass's own code: decisions cached by an older version are not reused."""
    import hashlib
    from pathlib import Path

    return hashlib.sha256(b"".join(Path(f).read_bytes() for f in (__file__, attack.__file__))).hexdigest()


class DisclosureError(RuntimeError):
    """The publication would disclose a suppressed count; names the count and the outputs."""


@dataclass
class Entry:
    value: int
    shown: bool = True
    reason: str = "shown"
    outputs: list[tuple[str, str]] = field(default_factory=list)  # (output, what the number is)


class Publication:
    """The store: every published count with its value, whether it is shown and why."""

    def __init__(self, atoms: dict[str, dict[str, dict[str, int]]], threshold: int = 5, symbol: str = "c",
                 cache: dict | None = None):
        self.atoms = atoms                      # authority -> variable -> atom key -> count
        self.codes = list(atoms)
        self.threshold = int(threshold)
        self.symbol = symbol
        self.entries: dict[str, Entry] = {}
        self.refs: dict[str, Ref] = {}
        self.shares: dict[str, tuple[str, str]] = {}   # complement key -> (k key, n key)
        self.objects: dict[str, Any] = {}       # named published objects (tables, shares, numbers, stats)
        self._space: dict[str, list[str]] = {}  # variable -> atom keys observed in any authority
        self._keep_shown: set[str] = set()
        self._by_terms: dict[frozenset, str] = {}
        self._match_cache: dict = {}
        self.cache = {} if cache is None else cache  # component signature -> decisions (reused across builds)
        for by_var in atoms.values():
            for var, counts in by_var.items():
                self._space.setdefault(var, [])
                self._space[var] = sorted(set(self._space[var]) | set(counts))

    # -- values ----------------------------------------------------------------------------------------
    def _matching(self, r: Ref) -> list[str]:
        """Atom keys of ``r.var`` (observed anywhere) that ``r`` sums (cached per variable and filter)."""
        key = (r.var, r.where)
        if key not in self._match_cache:
            names = views(r.var)
            conds = [(names.index(v), set(cats)) for v, cats in r.where]
            self._match_cache[key] = [a for a in self._space.get(r.var, ())
                                      if all(p[i] in cats for p in (a.split("|"),) for i, cats in conds)]
        return self._match_cache[key]

    def _population_size(self, pop: str, code: str) -> int:
        return max((sum(c.values()) for v, c in self.atoms.get(code, {}).items() if population(v) == pop), default=0)

    def value(self, r: Ref) -> int:
        codes = self.codes if r.authority == ALL else [r.authority]
        if not r.where:
            return sum(self._population_size(r.population, c) for c in codes)
        return sum(self.atoms.get(c, {}).get(r.var, {}).get(a, 0) for c in codes for a in self._matching(r))

    def terms(self, r: Ref) -> dict[tuple, int]:
        """Attacker variables of a ref: atoms (authority, variable, atom), or a population size."""
        codes = self.codes if r.authority == ALL else [r.authority]
        if not r.where:
            return {("#", r.population, c): 1 for c in codes}
        return {(c, r.var, a): 1 for c in codes for a in self._matching(r)}

    # -- declaring what is published -------------------------------------------------------------------
    def declare(self, r: Ref, output: str, what: str) -> str:
        """Record that ``output`` shows ``r``; returns the key to read it by. Two refs that sum the same
        atoms (e.g. the mental-health service group and mental-health referrals) are one number, with
        one entry and one decision, under the key of the first declared."""
        terms = frozenset(self.terms(r))
        key = self._by_terms.setdefault(terms, r.key) if terms else r.key  # a sum of nothing is 0: not shared
        e = self.entries.get(key)
        if e is None:
            e = self.entries[key] = Entry(self.value(r))
            self.refs[key] = r
        if (output, what) not in e.outputs:
            e.outputs.append((output, what))
        return key

    def declare_share(self, k: Ref, n: Ref, output: str, what: str) -> tuple[str, str]:
        """A share k of n (with n published, its complement n - k is published too)."""
        kk = self.declare(k, output, f"{what} (number)")
        nk = self.declare(n, output, f"{what} (out of)")
        self.shares[f"{nk}-{kk}"] = (kk, nk)
        return kk, nk

    # -- the pass ----------------------------------------------------------------------------------------
    def small(self, v: int) -> bool:
        return 0 < v < self.threshold

    def suppress(self) -> "Publication":
        """Primary suppression, then attack and secondary suppression until nothing is determined,
        then thinning: each secondary suppression is tried shown again and stays shown if the
        attacker then finds nothing."""
        for key, e in self.entries.items():
            r = self.refs[key]
            if self.small(e.value):
                e.shown, e.reason = False, f"primary: a count from 1 to {self.threshold - 1}"
            elif r.is_design:
                e.reason = "size of the study (shown unless small)"
        hidden_sizes = {r.population for k, r in self.refs.items() if r.is_design and not self.entries[k].shown}
        for key, r in self.refs.items():  # a pooled size would give a small authority's size back
            if r.is_design and r.authority == ALL and r.population in hidden_sizes and self.entries[key].shown:
                e = self.entries[key]
                e.shown, e.reason = False, "secondary: the total of sizes, one of which is suppressed as small"
        for kk, nk in self.shares.values():
            k, n = self.entries[kk], self.entries[nk]
            if self.small(n.value) and k.shown:  # a share of fewer than threshold: not published at all
                k.shown, k.reason = False, f"share of fewer than {self.threshold} ({nk} is {n.value})"
            elif self.small(n.value - k.value) and k.shown:
                k.shown, k.reason = False, (f"complement: {n.value - k.value} of the {n.value} counted by {nk} "
                                            f"are not in it")
        self._prepare()
        roots = sorted(set(self._comp_items) | set(self._comp_entries), key=str)
        for root in roots:  # each component is decided on its own: same inputs, same decisions
            sig = self._signature(root)
            if sig in self.cache:
                self._apply(self.cache[sig])
            else:
                self.cache[sig] = self._decide(root)
        return self

    def _signature(self, root) -> str:
        """What a component's decisions depend on: its numbers (value, state after the primary rules),
        its protected items and its structure."""
        import hashlib

        entries = [(k, self.entries[k].value, self.entries[k].shown, self.entries[k].reason, self.refs[k].is_design,
                    self.refs[k].authority == ALL, sorted(map(str, self._terms[k].items())), self._const[k])
                   for k in self._comp_entries.get(root, [])]
        items = [(i, sorted(map(str, self._item_terms(i).items())), self._item_value(i))
                 for i in self._comp_items.get(root, [])]
        struct = [(sorted(map(str, c.terms.items())), c.lower) for c in self._comp_struct.get(root, [])]
        truth = sorted((str(v), self._truth[v]) for v in self._comp_vars.get(root, ()))
        doc = repr([_code_version(), self.threshold, THIN_UP_TO, entries, items, struct, truth])  # of str, int, bool
        return hashlib.sha256(doc.encode()).hexdigest()

    def _apply(self, decided: dict) -> None:
        for key, (shown, reason, keep) in decided.items():  # tuples, or lists read back from JSON
            e = self.entries[key]
            e.shown, e.reason = shown, reason
            if keep:
                self._keep_shown.add(key)

    def _decide(self, root) -> dict:
        """Secondary suppression and thinning in one component; its numbers' decisions.

        Suppressing a number only loosens what the attacker knows, so an item found free stays free:
        after each round only the items found determined (and the numbers just suppressed) are checked
        again. Showing a zero again tightens it: the component is checked whole.

        A secondary suppression found determined while other items are found too waits (see below),
        and is not checked again until a round finds nothing else: checking it every round, when
        nothing is done with it, cost most of the pass for numbers linked across many authorities.
        Whether an item is determined does not depend on which other items are checked with it, so
        the decisions are the same as checking it every round."""
        check: dict = {root: None}
        waiting: set = set()  # deferred secondary suppressions not checked since
        while check:
            whole = check.get(root, ()) is None
            found = self._attack(check)
            if whole:
                waiting = set()  # checked with everything else
            elif waiting and all(self._secondary(i) for i in found):
                found = sorted(set(found) | set(self._attack({root: waiting})))
                waiting = set()
            check, stuck = {}, []
            # A secondary suppression the attacker works out is shown again (see _protect) only when
            # nothing else is found: suppressing more for the others may hide it again.
            defer = any(not self._secondary(i) for i in found)
            for item in found:
                if defer and self._secondary(item):
                    waiting.add(item)
                    continue
                changed = self._protect(item)
                if changed is None:  # nothing left to suppress around it: unless an earlier step freed it
                    stuck.append(item)
                elif self.entries[changed].shown:
                    check[root] = None
                elif check.get(root, ()) is not None:
                    check[root] = set(check.get(root, ())) | {changed}
            if check.get(root, ()) is not None and check:
                check[root] |= set(found) - waiting
            if stuck and not check:
                raise DisclosureError(self._explain(stuck))
            if stuck:
                check.setdefault(root, set())
                if check[root] is not None:
                    check[root] |= set(stuck)
        self._thin(root)
        return {k: (self.entries[k].shown, self.entries[k].reason, k in self._keep_shown)
                for k in self._comp_entries.get(root, [])}

    def _thin(self, root) -> None:
        """Try each secondary suppression shown again (pooled headlines first, then zeros, then the
        largest); it stays shown when the attacker then finds nothing. Components of more than
        ``THIN_UP_TO`` variables (numbers linked across many authorities by pooled totals) are not
        thinned: each try would attack thousands of numbers again. Their pattern is safe, not minimal."""
        if self._comp_size.get(root, 0) > THIN_UP_TO:
            return
        secondary = [k for k in self._comp_entries.get(root, [])
                     if not self.entries[k].shown and self.entries[k].reason.startswith("secondary")]
        secondary.sort(key=lambda k: (self.refs[k].authority != ALL, self.entries[k].value != 0,
                                      -self.entries[k].value, k))
        for key in secondary:
            e = self.entries[key]
            reason = e.reason
            e.shown, e.reason = True, "shown"
            if self._attack({root: None}):
                e.shown, e.reason = False, reason

    # -- the attacker's view -------------------------------------------------------------------------
    def _item_terms(self, item: str) -> dict:
        if item in self.shares:
            kk, nk = self.shares[item]
            out = dict(self._terms[nk])
            for t, c in self._terms[kk].items():
                out[t] = out.get(t, 0) - c
            return {t: c for t, c in out.items() if c}
        if item.startswith("atom:"):
            code, var, atom = json.loads(item[5:])
            return {(code, var, atom): 1}
        if item.startswith("pooled:"):
            var, atom = json.loads(item[7:])
            return {(code, var, atom): 1 for code in self.codes if (code, var, atom) in self._truth}
        return self._terms[item]

    def _item_value(self, item: str) -> int:
        if item in self.shares:
            kk, nk = self.shares[item]
            return self.entries[nk].value - self.entries[kk].value
        if item.startswith("atom:"):
            code, var, atom = json.loads(item[5:])
            return self.atoms[code].get(var, {}).get(atom, 0)
        if item.startswith("pooled:"):
            var, atom = json.loads(item[7:])
            return sum(self.atoms[code].get(var, {}).get(atom, 0) for code in self.codes)
        return self.entries[item].value

    def _prepare(self) -> None:
        """The fixed structure the attacker works on: variables (atoms of every published variable, and
        the size of each population whose size is not a design figure), the constraint that each
        variable splits its population, each published number's terms, and connected components."""
        codes_of = {key: (self.codes if r.authority == ALL else [r.authority]) for key, r in self.refs.items()}
        var_set = {(c, r.var) for key, r in self.refs.items() if r.where for c in codes_of[key]}
        var_set |= {(c, POPULATIONS[r.population]) for key, r in self.refs.items() if not r.where
                    for c in codes_of[key]}
        published_vars = sorted(var_set)  # every iteration in a fixed order: the same pass every run
        self._sizes: dict[tuple[str, str], int] = {}
        for code in self.codes:  # every variable of a population splits the same number of rows
            for var, counts in sorted(self.atoms[code].items()):
                pop, n = population(var), sum(counts.values())
                if self._sizes.setdefault((pop, code), n) != n:
                    raise ValueError(f"{code}: {var} counts {n} {POPULATION_NAMES[pop]}, other variables "
                                     f"{self._sizes[(pop, code)]} (the measures disagree)")
        truth: dict[tuple, int] = {}
        structural: list[attack.Constraint] = []
        for code, var in published_vars:  # each variable splits its population
            terms = {(code, var, a): 1 for a in self._space.get(var, ())}
            if not terms:
                continue
            for term in terms:
                truth[term] = self.atoms[code].get(var, {}).get(term[2], 0)
            pop = population(var)
            if self._known_size(pop, code):
                structural.append(attack.Constraint(terms, self._sizes[(pop, code)], self._sizes[(pop, code)]))
            else:
                truth[("#", pop, code)] = self._sizes[(pop, code)]
                terms[("#", pop, code)] = -1
                structural.append(attack.Constraint(terms, 0, 0))
        self._truth = truth
        self._terms, self._const = {}, {}
        for key, r in self.refs.items():
            full = self.terms(r)
            self._terms[key] = {t: c for t, c in full.items() if not (t[0] == "#" and self._known_size(t[1], t[2]))}
            self._const[key] = sum(self._sizes.get((t[1], t[2]), 0) for t in full
                                   if t[0] == "#" and self._known_size(t[1], t[2]))
        for t in self._terms.values():  # a population size that no published variable splits
            for v in t:
                if v[0] == "#" and v not in truth:
                    truth[v] = self._sizes.get((v[1], v[2]), 0)
        constraints = structural + [attack.Constraint(t, 0, 0) for t in self._terms.values() if t]
        constraints += [attack.Constraint(self._item_terms(ck), 0, 0) for ck in self.shares]  # n - k spans both
        self._comp = attack._components(list(truth), constraints)
        self._comp_size: dict = {}
        self._comp_vars: dict = {}
        for node, root in self._comp.items():
            self._comp_size[root] = self._comp_size.get(root, 0) + 1
            self._comp_vars.setdefault(root, []).append(node)
        self._comp_struct: dict = {}
        for c in structural:
            self._comp_struct.setdefault(self._comp[next(iter(c.terms))], []).append(c)
        self._comp_entries: dict = {}
        for key, t in self._terms.items():
            if t:
                self._comp_entries.setdefault(self._comp[next(iter(t))], []).append(key)
        self._comp_items: dict = {}  # items protected whatever is suppressed: small atoms and complements
        for code, var in published_vars:
            for a, count in sorted(self.atoms[code].get(var, {}).items()):
                if self.small(count):
                    self._comp_items.setdefault(self._comp[(code, var, a)], []).append(
                        "atom:" + json.dumps([code, var, a]))
        # An atom's study total where the variable is published for all authorities together, e.g. the
        # children "referred, not received" as the difference of two pooled columns. (Where it is not,
        # the authorities' atoms are unlinked: their total is known only when each of them is.)
        pooled_vars = {r.var for r in self.refs.values() if r.authority == ALL and r.where}
        pooled: dict[str, list[str]] = {}
        for code, var in published_vars:
            if var in pooled_vars:
                pooled.setdefault(var, []).append(code)
        for var, codes in sorted(pooled.items()):
            for a in self._space.get(var, ()):
                if self.small(sum(self.atoms[c].get(var, {}).get(a, 0) for c in codes)):
                    item = "pooled:" + json.dumps([var, a])
                    roots = {self._comp[t] for t in self._item_terms(item)}
                    if len(roots) > 1:  # each authority's atoms of a variable are linked by its pooled numbers
                        raise ValueError(f"{item}: its terms are in {len(roots)} unlinked groups of numbers")
                    self._comp_items.setdefault(roots.pop(), []).append(item)
        for ck in self.shares:
            t = self._item_terms(ck)
            if t and self.small(self._item_value(ck)):
                self._comp_items.setdefault(self._comp[next(iter(t))], []).append(ck)
        for root in self._comp_entries:
            self._comp_items.setdefault(root, [])
        bound = 2 * max(truth.values(), default=0) + 10
        self._upper = dict.fromkeys(truth, bound)
        self._groups, self._vars = {}, {}  # per published number: its (authority, population)s and variables
        self._by_group: dict = {}  # (authority, population) -> the numbers over it
        for key, t in self._terms.items():
            self._groups[key] = frozenset((v[0], population(v[1])) if v[0] != "#" else (v[2], v[1]) for v in t)
            self._vars[key] = frozenset((v[0], v[1]) for v in t if v[0] != "#")
            for g in self._groups[key]:
                self._by_group.setdefault(g, []).append(key)

    def _known_size(self, pop: str, code: str) -> bool:
        """A design size that is shown: a constant for the attacker (a small one is a variable)."""
        if pop not in DESIGN:
            return False
        e = self.entries.get(size(pop, code).key)
        return e is None or e.shown

    def _attack(self, check: dict) -> list[str]:
        """Protected items the attacker can work out exactly, in the components ``check`` names (each
        with the items to check, or None for all of them)."""
        found: list[str] = []
        for root in sorted(check, key=str):
            cons = list(self._comp_struct.get(root, []))
            items = {i: self._item_terms(i) for i in self._comp_items.get(root, [])}
            for key in self._comp_entries.get(root, []):
                e, t, const = self.entries[key], self._terms[key], self._const[key]
                if e.shown:
                    cons.append(attack.Constraint(t, e.value - const, e.value - const))
                else:
                    cons.append(attack.Constraint(t, min(e.value, 1) - const, None))
                    items[key] = t
            if check[root] is not None:
                items = {k: t for k, t in items.items() if k in check[root]}
            if not items:
                continue
            variables = {v for c in cons for v in c.terms} | {v for t in items.values() for v in t}
            found += attack.determined({v: self._truth[v] for v in variables}, cons, items,
                                       {v: self._upper[v] for v in variables})
        return sorted(set(found))

    def alternatives(self, key: str, shifts: tuple[int, ...] = (1, -1)) -> list[dict[str, int]]:
        """The whole-number completions of everything published nearest the truth in which the number
        ``key`` is ``shifts`` away from its value (by default one more, and one less): every published number
        of its component, by key (for checking what a published statistic adds); none for a shift no
        completion allows."""
        root = self._comp[next(iter(self._terms[key]))]
        cons = list(self._comp_struct.get(root, []))
        for k in self._comp_entries.get(root, []):
            e, t, const = self.entries[k], self._terms[k], self._const[k]
            cons.append(attack.Constraint(t, e.value - const, e.value - const) if e.shown
                        else attack.Constraint(t, min(e.value, 1) - const, None))
        variables = {v for c in cons for v in c.terms} | set(self._terms[key])
        truth, upper = {v: self._truth[v] for v in variables}, {v: self._upper[v] for v in variables}
        found = [attack.nearest(truth, cons, self._terms[key], d, upper) for d in shifts]
        out = []
        for x in (x for x in found if x is not None):
            out.append({k: sum(c * x.get(v, 0) for v, c in self._terms[k].items()) + self._const[k]
                        for k in self._comp_entries.get(root, [])})
        return out

    def attack(self) -> list[str]:
        """Every protected item (suppressed number, small atom, small complement) that is determined."""
        self._prepare()
        return self._attack(dict.fromkeys(self._comp_items))

    def _secondary(self, item: str) -> bool:
        """A suppressed non-zero number whose suppression is secondary (not sensitive itself)."""
        e = self.entries.get(item)
        return e is not None and not e.shown and e.value != 0 and e.reason.startswith("secondary")

    def _protect(self, item: str) -> str | None:
        """Suppress one more published number overlapping ``item``; or show again a determined number
        that is not sensitive itself (a zero, or a secondary suppression): the attacker knows its value
        already, so showing it adds nothing, whereas suppressing more around it may be impossible (a
        variable recorded for every child: its "recorded" total is the number of case files)."""
        if item in self.entries and (self.entries[item].value == 0 or self._secondary(item)):
            e = self.entries[item]
            e.shown, e.reason = True, ("a suppressed zero the attacker could work out: shown again" if e.value == 0
                                       else "a secondary suppression the attacker could work out: shown again")
            self._keep_shown.add(item)
            return item
        terms = self._item_terms(item)
        var_of = {(t[0], t[1]) for t in terms if t[0] != "#"}           # (authority, variable)
        pop_of = {(a, population(v)) for a, v in var_of} | {(t[2], t[1]) for t in terms if t[0] == "#"}
        comp = self._comp[next(iter(terms))]
        best = None
        near = sorted(k for k in {k for g in pop_of for k in self._by_group.get(g, ())}  # same population,
                      if self.refs[k].authority != ALL and self._comp[next(iter(self._terms[k]))] == comp)  # not pooled
        for pool in (near, self._comp_entries.get(comp, [])):  # then any number in its constraint chain
            for key in pool:
                e = self.entries[key]
                if not e.shown or key in self._keep_shown or self.refs[key].is_design:
                    continue
                # pooled numbers (all authorities) are the key findings' headlines: suppressed last; then
                # numbers over the same atoms' population, the same variable, non-zero, smallest first
                rank = (self.refs[key].authority == ALL, not self._groups[key] & pop_of,
                        not self._vars[key] & var_of, e.value == 0, e.value, len(self._terms[key]), key)
                if best is None or rank < best[0]:
                    best = (rank, key)
            if best is not None:
                break
        if best is None:
            return None
        e = self.entries[best[1]]
        e.shown, e.reason = False, f"secondary: protects {item}"
        return best[1]

    def _explain(self, found: list[str]) -> str:
        lines = [f"disclosure: {len(found)} protected count(s) can be worked out from what the build publishes, "
                 "and suppression cannot protect them:"]
        for item in found[:20]:
            outs = self.entries[item].outputs if item in self.entries else []
            where = "; ".join(f"{o} ({w})" for o, w in outs[:5]) or "not shown itself: derived from the numbers around it"
            lines.append(f"  {item} = {self._item_value(item)}: {where}")
        lines.append("Nothing was published; the last good book is unchanged. Aggregate the categories "
                     "involved, or leave the output out.")
        return "\n".join(lines)

    # -- reading ---------------------------------------------------------------------------------------
    def log(self) -> pd.DataFrame:
        """The output-checking log: one row per published number per output."""
        rows = [{"output": o, "number": w, "ref": key, "value": e.value, "published": "shown" if e.shown else
                 f"suppressed ({self.symbol})", "reason": e.reason}
                for key, e in self.entries.items() for o, w in e.outputs]
        return pd.DataFrame(rows, columns=["output", "number", "ref", "value", "published", "reason"]) \
            .sort_values(["output", "number", "ref"], kind="stable").reset_index(drop=True)

    # -- persistence -------------------------------------------------------------------------------------
    def to_dict(self, codes: Iterable[str] | None = None) -> dict:
        """What chapters read: shown values only (a suppressed value is never written), and objects.
        With ``codes``, only the numbers and objects of those authorities."""
        keep = None if codes is None else set(codes)

        def mine(key: str) -> bool:
            return keep is None or self.refs[key].authority in keep

        return {"threshold": self.threshold, "symbol": self.symbol,
                "numbers": {k: (e.value if e.shown else None) for k, e in sorted(self.entries.items()) if mine(k)},
                "objects": {k: v for k, v in sorted(self.objects.items())
                            if keep is None or v.get("authority") in keep}}

    def slices(self) -> dict[str, dict]:
        """``to_dict([code])`` for every authority, in one pass over the store."""
        out: dict[str, dict[str, Any]] = {c: {"threshold": self.threshold, "symbol": self.symbol, "numbers": {},
                                              "objects": {}} for c in self.codes}
        for k, e in sorted(self.entries.items()):
            if self.refs[k].authority in out:
                out[self.refs[k].authority]["numbers"][k] = e.value if e.shown else None
        for k, v in sorted(self.objects.items()):
            if v.get("authority") in out:
                out[v["authority"]]["objects"][k] = v
        return out


@dataclass
class Published:
    """A chapter's read-only view of the store (shown values, the symbol, named objects)."""

    numbers: dict[str, int | None]
    objects: dict[str, Any]
    threshold: int = 5
    symbol: str = "c"

    @classmethod
    def from_dict(cls, doc: dict) -> "Published":
        return cls(doc["numbers"], doc["objects"], doc["threshold"], doc["symbol"])

    @classmethod
    def load(cls, *paths) -> "Published":
        numbers, objects, meta = {}, {}, {}
        for p in paths:
            with open(p, encoding="utf-8") as fh:
                doc = json.load(fh)
            numbers.update(doc["numbers"])
            objects.update(doc["objects"])
            meta = doc
        return cls(numbers, objects, meta.get("threshold", 5), meta.get("symbol", "c"))

    def value(self, key: str) -> int | None:
        try:
            return self.numbers[key]
        except KeyError:
            raise KeyError(f"{key} was not declared for publication (cinreport.disclosure.plan)") from None

    def text(self, key: str) -> str:
        v = self.value(key)
        return self.symbol if v is None else f"{v:,}"

    def md_text(self, key: str) -> str:
        """:meth:`text` for a Markdown sentence (the symbol escaped)."""
        return markdown_text(self.text(key))

    def obj(self, name: str) -> dict:
        try:
            return self.objects[name]
        except KeyError:
            raise KeyError(f"{name} is not in the published store (cinreport.disclosure.plan)") from None

    # -- numbers in words: the one helper every chapter uses -------------------------------------------
    def share(self, k_key: str, n_key: str) -> float | None:
        """k / n as a fraction when both are shown and n reaches the threshold (the complement rule
        was applied by the pass); else None."""
        k, n = self.value(k_key), self.value(n_key)
        if k is None or n is None or n < self.threshold:
            return None
        return k / n

    def percent(self, k_key: str, n_key: str) -> str:
        """'45%' or the symbol; 'z' (not applicable) when n is 0."""
        if self.value(n_key) == 0:
            return "z"
        s = self.share(k_key, n_key)
        return self.symbol if s is None else f"{_half_up(100 * s)}%"

    def words(self, k_key: str, n_key: str, unit: str = "") -> str:
        """'12 of 20 (60%)'; 'c of 20 (suppressed)' when the count, or the rest of the 20, is small;
        '19 (of a suppressed total, c)' when only the total is suppressed (the count is then shown as
        it is everywhere else); 'a suppressed number (c)' when both are."""
        n = self.value(n_key)
        k = self.value(k_key)
        unit = f" {unit}" if unit else ""
        if n is None and k is not None:
            return f"{k:,}{unit} (of a suppressed total, {markdown_code(self.symbol)})"
        if n is None:
            return f"a suppressed number ({markdown_code(self.symbol)})"
        if k is None:
            return f"{markdown_code(self.symbol)} of {n:,}{unit} (suppressed)"
        return f"{k:,} of {n:,}{unit} ({self.percent(k_key, n_key)})"

    def proportion(self, k_key: str, n_key: str) -> tuple[str, str, str]:
        """(per cent, lower, upper) of a 95% Wilson interval as whole numbers, the symbol when suppressed."""
        from cinreport.analysis.stats import wilson_interval

        n = self.value(n_key)
        if n == 0:
            return ("z", "z", "z")
        s = self.share(k_key, n_key)
        if s is None:
            return (self.symbol,) * 3
        k = self.value(k_key)
        if k is None or n is None:
            return (self.symbol,) * 3
        lo, hi = wilson_interval(k, n)
        return (str(_half_up(100 * s)), str(_half_up(100 * lo)), str(_half_up(100 * hi)))


def _half_up(x: float) -> int:
    return int(math.floor(x + 0.5))
