"""One disclosure-controlled publication: the store, the pass, the attackers, and attacks from outside.

Unit tests of the exact attacker (:mod:`cinreport.disclosure.attack`) on small systems whose answer is known;
invariants of the pass on studies built by the real pipeline; a regression test for each leak the
first round's review measured; and property tests that build small random studies end to end and
attack only what a reader can download (open-data CSVs and chapter text) with an independent
attacker (``tests/outside_attacker.py``).
"""

from __future__ import annotations

import dataclasses
import itertools
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cinreport.data import synth
from cinreport.disclosure import attack
from cinreport.disclosure.plan import build_publication
from cinreport.disclosure.publication import ALL, DisclosureError, Publication, Published, ref, size
from outside_attacker import Reading, attack_book, determined
from publication_support import build_outputs
from scenarios import study_from_profiles

T = 5


# -- the exact attacker ---------------------------------------------------------------------------------
def C(terms, lo, hi=None):
    return attack.Constraint(terms, lo, lo if hi == "eq" else hi)


def test_attacker_finds_a_lone_suppressed_cell_in_a_line_with_a_known_total():
    truth = {"a": 3, "b": 10, "c": 7}
    cons = [C({"a": 1, "b": 1, "c": 1}, 20, "eq"), C({"b": 1}, 10, "eq"), C({"c": 1}, 7, "eq")]
    assert attack.determined(truth, cons, {"a": {"a": 1}}) == ["a"]


def test_attacker_lets_two_suppressed_cells_in_a_line_vary():
    truth = {"a": 3, "b": 4, "c": 13}
    cons = [C({"a": 1, "b": 1, "c": 1}, 20, "eq"), C({"c": 1}, 13, "eq"), C({"a": 1}, 1, None), C({"b": 1}, 1, None)]
    assert attack.determined(truth, cons, {"a": {"a": 1}, "b": {"b": 1}}) == []


def test_attacker_uses_that_suppressed_cells_are_at_least_one():
    # two suppressed cells summing to 2: each is 1 when the reader knows zeros are shown
    truth = {"a": 1, "b": 1, "c": 18}
    cons = [C({"a": 1, "b": 1, "c": 1}, 20, "eq"), C({"c": 1}, 18, "eq"), C({"a": 1}, 1, None), C({"b": 1}, 1, None)]
    assert sorted(attack.determined(truth, cons, {"a": {"a": 1}, "b": {"b": 1}})) == ["a", "b"]
    cons_zero_ok = cons[:2]  # if suppressed cells could be zero, (0, 2) and (2, 0) are possible too
    assert attack.determined(truth, cons_zero_ok, {"a": {"a": 1}, "b": {"b": 1}}) == []


def test_attacker_is_exact_over_integers_not_just_the_lp_relaxation():
    # a + b = 3, both at least 1, and a rounded fact 0.2 <= a - b <= 1.8: over the reals a can be
    # anything in [1.6, 2.4], over whole numbers only 2
    truth = {"a": 2, "b": 1}
    cons = [C({"a": 1, "b": 1}, 3, "eq"), C({"a": 1}, 1, None), C({"b": 1}, 1, None), C({"a": 1, "b": -1}, 0.2, 1.8)]
    assert sorted(attack.determined(truth, cons, {"a": {"a": 1}, "b": {"b": 1}})) == ["a", "b"]


def test_attacker_checks_linear_forms_such_as_complements():
    truth = {"x": 18, "y": 2}
    cons = [C({"x": 1, "y": 1}, 20, "eq"), C({"x": 1}, 18, "eq")]
    assert attack.determined(truth, cons, {"rest": {"y": 1}}) == ["rest"]


@pytest.mark.slow
def test_attacker_agrees_with_brute_force_on_small_random_tables():
    import numpy as np

    rng = np.random.default_rng(3)
    for trial in range(40):
        grid = rng.integers(0, 6, size=(2, 3))
        hidden = [(i, j) for i in range(2) for j in range(3) if rng.random() < 0.5]
        truth = {(i, j): int(grid[i, j]) for i in range(2) for j in range(3)}
        cons = [C({(i, j): 1 for j in range(3)}, int(grid[i].sum()), "eq") for i in range(2)]
        cons += [C({(i, j): 1 for i in range(2)}, int(grid[:, j].sum()), "eq") for j in range(3)]
        cons += [C({v: 1}, truth[v], "eq") for v in truth if v not in hidden]
        cons += [C({v: 1}, min(truth[v], 1), None) for v in hidden]
        # every assignment of 0..15 to the hidden cells (one row each, numpy), a slice at a time
        seen = [set() for _ in hidden]
        for first in range(16 if hidden else 1):
            values = np.indices((1,) + (16,) * (len(hidden) - 1), dtype=np.int16).reshape(len(hidden), -1) \
                if hidden else np.zeros((0, 1), dtype=np.int16)
            if hidden:
                values[0] = first
            column = {v: values[hidden.index(v)] if v in hidden else truth[v] for v in truth}
            ok = np.ones(values.shape[1], dtype=bool)
            for c in cons:
                total = sum(k * column[v] for v, k in c.terms.items())
                ok &= (c.lower - 1e-9 <= total) & (total <= (c.upper if c.upper is not None else 1e9) + 1e-9)
            for i in range(len(hidden)):
                seen[i].update(np.unique(values[i, ok]).tolist())
        expected = sorted(v for i, v in enumerate(hidden) if len(seen[i]) == 1)
        items = {v: {v: 1} for v in hidden}
        assert sorted(attack.determined(truth, cons, items, upper={v: 15 for v in truth})) == expected, trial


# -- the pass on studies from the real pipeline -------------------------------------------------------
def _small(n_cases: int, n_admin: int, **kw) -> synth.Profile:
    return dataclasses.replace(synth.Profile(), n_cases=n_cases, n_admin=n_admin, **kw)


@pytest.fixture(scope="module")
def demo_like(tmp_path_factory):
    """Four authorities like the demo's (synthetic profiles), measured by the real pipeline."""
    return study_from_profiles(synth.DEMO_PROFILES, 20220523, workdir=tmp_path_factory.mktemp("demo"))


def _publication(metrics):
    from cinreport.data.codebook import load_codebook

    return build_publication({c: m["atoms"] for c, m in metrics.items()}, metrics, load_codebook(), T, "c")


@pytest.mark.slow
def test_after_the_pass_the_internal_attacker_finds_nothing(demo_like):
    metrics, _ = demo_like
    pub = _publication(metrics)
    assert pub.attack() == []
    for key, e in pub.entries.items():
        if e.shown and not pub.refs[key].is_design:
            assert not 0 < e.value < T, key
    for kk, nk in pub.shares.values():
        k, n = pub.entries[kk], pub.entries[nk]
        if k.shown and n.shown:
            assert not 0 < n.value - k.value < T, (kk, nk)


@pytest.mark.slow
def test_a_suppressed_cell_is_suppressed_in_every_output_that_shows_it(demo_like):
    metrics, _ = demo_like
    pub = Published.from_dict(_publication(metrics).to_dict())
    authority = pub.obj("la-a/primary-need")
    cross = pub.obj("primary-need-cases")
    for row in authority["rows"]:
        if row in cross["rows"]:
            assert authority["cells"][row]["la-a"] == cross["cells"][row]["la-a"]  # one number, one decision
    # the store never holds a suppressed value
    assert all(v is None or isinstance(v, int) for v in pub.numbers.values())


@pytest.mark.slow
def test_the_output_checking_log_names_every_output_and_why(demo_like):
    metrics, _ = demo_like
    log = _publication(metrics).log()
    assert {"output", "number", "ref", "value", "published", "reason"} <= set(log.columns)
    suppressed = log[log["published"] != "shown"]
    assert len(suppressed) and suppressed["reason"].str.match(r"(primary|secondary|complement)").all()
    assert log["output"].str.contains("la-a chapter").any() and log["output"].str.contains("study").any()


def test_unprotectable_disclosure_stops_with_the_count_and_its_outputs():
    # 3 of 9 in one band beside 6 in another, both published, with the size: when nothing is left that
    # could be suppressed around the small count, the pass stops and names it and where it is shown
    pub = Publication({"la-a": {"age": {"5 to 9": 3, "10 to 15": 6}}}, T, "c")
    pub.declare(ref("age", "la-a", band="5 to 9"), "la-a chapter, table age", "5 to 9")
    pub.declare(ref("age", "la-a", band="10 to 15"), "la-a chapter, table age", "10 to 15")
    pub.declare(size("case_files", "la-a"), "la-a chapter", "case files")
    pub._protect = lambda item: None  # as if every number around it had to stay shown
    with pytest.raises(DisclosureError, match=r"age\[band=5 to 9\]@la-a = 3: la-a chapter, table age \(5 to 9\)"):
        pub.suppress()


def test_a_small_count_is_protected_by_suppressing_its_neighbour():
    pub = Publication({"la-a": {"age": {"5 to 9": 3, "10 to 15": 6}}}, T, "c")
    small = pub.declare(ref("age", "la-a", band="5 to 9"), "t", "5 to 9")
    other = pub.declare(ref("age", "la-a", band="10 to 15"), "t", "10 to 15")
    n = pub.declare(size("case_files", "la-a"), "t", "case files")
    pub.suppress()
    assert not pub.entries[small].shown and not pub.entries[other].shown and pub.entries[n].shown
    assert pub.entries[other].reason == f"secondary: protects {small}"
    assert pub.attack() == []


# -- regressions: each leak the review measured ------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    """Authority C cut to 3 case files, beside three ordinary ones."""
    profiles = dict(synth.DEMO_PROFILES)
    profiles["la-c"] = dataclasses.replace(profiles["la-c"], n_cases=3)
    return build_outputs(tmp_path_factory.mktemp("tiny"), profiles)


@pytest.fixture(scope="module")
def demo_outputs(tmp_path_factory):
    return build_outputs(tmp_path_factory.mktemp("demo-out"), synth.DEMO_PROFILES, seed=20220523)


@pytest.mark.parametrize("which", ["demo_outputs", "tiny_study"])
@pytest.mark.slow
@pytest.mark.xdist_group("tests/test_publication.py")  # its module fixtures come by name: with the file
def test_nothing_published_gives_a_suppressed_count_back_from_outside(which, request):
    data, texts, names = request.getfixturevalue(which)
    found = attack_book(data, texts, names, T)
    assert found["determined"] == []
    assert found["inconsistent"] == []
    assert found["small_k_of_n"] == []


@pytest.mark.slow
def test_an_authority_with_three_case_files_quotes_no_median_quartile_or_small_share(tiny_study):
    _, texts, _ = tiny_study
    text = texts["la-c"]
    assert "from c reviewed case files (a small number, suppressed)" in text  # 3 is a small count too
    # the reviewed files' plan lengths: no median or IQR (the administrative extract's are large enough)
    assert re.search(r"Plans in the reviewed files that had ended lasted \(not shown: (fewer than 5|no) ended plans\)",
                     text)
    assert "median of" not in text.split("## Services received")[1].split("## Support and need")[0]  # per child
    assert "waited a median" not in text
    for k, n in re.findall(r"(\d+) of (\d+)", text):
        assert not 0 < int(k) < T and not 0 < int(n) - int(k) < T


@pytest.mark.slow
def test_evidence_and_statistics_quote_only_published_numbers(demo_outputs):
    _, texts, _ = demo_outputs
    kf = texts["key_findings"]
    assert not re.search(r"p = 0\.\d", kf), "exact p-values with the margins give cells back"
    assert not re.search(r"\d\.\d+e-\d", kf)
    assert "n per authority" not in kf  # raw counts used to be printed here
    assert re.search(r"p (<|≥) 0\.\d+", kf)


@pytest.mark.slow
def test_figures_take_published_percentages_only(demo_like, tmp_path):
    from cinreport.chapters.tables import store_table

    metrics, _ = demo_like
    pub = Published.from_dict(_publication(metrics).to_dict())
    for name in ("age-band", "primary-need", "la-a/admin-age-band", "la-b/service", "la-d/admin-factor-groups"):
        t = store_table(pub, name, "")
        hidden = t.counts.iloc[:-1] == "c"
        assert (t.values.isna() == hidden.to_numpy()).all().all(), name  # a suppressed cell draws no bar


def test_outside_attacker_has_teeth():
    """On a hand-made reading with the old leaks it finds the suppressed values."""
    r = Reading(names={"la-a": "Authority A"})
    r.see(("t", "A", "x"), "c", "t.csv")
    r.see(("t", "A", "y"), "9", "t.csv")
    r.see(("t", "A", "Total"), "11", "t.csv")
    r.equalities.append(({("t", "A", "x"): 1, ("t", "A", "y"): 1, ("t", "A", "Total"): -1}, 0))
    assert determined(r) == [(("t", "A", "x"), 2)]


# -- property tests: small random studies, attacked from outside ------------------------------------
profile = st.builds(_small, n_cases=st.integers(1, 14), n_admin=st.integers(3, 40))


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                               HealthCheck.function_scoped_fixture])
@given(profiles=st.lists(profile, min_size=1, max_size=3), seed=st.integers(0, 10_000))
@pytest.mark.slow
def test_random_small_studies_publish_nothing_an_outsider_can_work_out(profiles, seed, tmp_path_factory):
    study = {f"la-{chr(ord('a') + i)}": p for i, p in enumerate(profiles)}
    try:
        data, texts, names = build_outputs(tmp_path_factory.mktemp("prop"), study, seed=seed)
    except DisclosureError:
        return  # the build refuses to publish: that is safe (and says what and where)
    found = attack_book(data, texts, names, T)
    assert found == {"determined": [], "inconsistent": [], "small_k_of_n": []}


@pytest.mark.slow
def test_provider_and_kind_of_service_are_one_set_of_numbers(demo_like):
    """Regression (outside attack): the provider table and the kind-of-service table count the same
    services. A reader who knows that advice comes from the social worker and family support from the
    authority's own team (the labels say so) could subtract one table from the other; the store makes
    them sums of the same atoms, so a provider total equal to a group total is one number with one
    decision, and the attacker, knowing only the combinations that occur, finds nothing."""
    metrics, _ = demo_like
    pub = _publication(metrics)
    assert pub.attack() == []
    for code, m in metrics.items():
        atoms = m["atoms"]["service"]
        by_provider: dict[str, set[str]] = {}
        for key in atoms:
            parts = key.split("|")
            by_provider.setdefault(parts[-1], set()).add(parts[1])  # provider -> kinds of service (groups)
        for provider, groups in by_provider.items():
            if len(groups) == 1:  # this provider gives exactly one kind of service here: the same number
                (group,) = groups
                a = pub.declare(ref("service", code, provider=provider), "test", "provider")
                b = pub.declare(ref("service", code, group=group), "test", "group")
                assert a == b and pub.entries[a].shown == pub.entries[b].shown, (code, provider, group)


@pytest.mark.slow
def test_records_of_involvement_are_a_share_of_all_case_files(demo_like):
    """Regression (outside attack): "61 of 81 with a record" beside 82 case files gave back 1 case file
    without a record. The records are a share of all case files, so the complement rule applies."""
    metrics, _ = demo_like
    store = Published.from_dict(_publication(metrics).to_dict())
    o = store.obj("study/involvement-recorded")
    n, k = store.value(o["n"]), store.value(o["k"])
    assert n is not None
    assert k is None or not 0 < n - k < T


def test_a_count_shown_in_a_table_is_quoted_as_itself_when_only_its_total_is_suppressed():
    """A share of a suppressed total cannot be given, but the count itself is published (in a table):
    the sentence quotes it too, instead of calling it suppressed (one cell, one state everywhere)."""
    pub = Published({"k": 19, "n": None, "zero": 0, "small": None}, {}, 5, "c")
    assert pub.words("k", "n", "services").startswith("19 services (of a suppressed total")
    assert pub.words("zero", "n").startswith("0 (of a suppressed total")
    assert pub.words("small", "n") == "a suppressed number (`c`)"
    assert pub.percent("k", "n") == "c"


def test_a_small_study_total_is_not_given_by_the_difference_of_two_pooled_columns():
    """Regression (outside attack): Table 5.2 showed 21 children referred to a domestic-abuse service
    and 20 who received it, all authorities together: 1 child referred and not helped. A study total
    of an atom (here "Referred, not received") is protected like an authority's own."""
    need = "need:Domestic abuse"
    atoms = {code: {need: {"No such need": 30, "Need, not referred": 8, "Referred, not received": r,
                           "Received": 10}} for code, r in (("la-a", 1), ("la-b", 0), ("la-c", 0))}
    pub = Publication(atoms, threshold=T)
    referred = pub.declare(ref(need, ALL, status=("Referred, not received", "Received")), "t", "referred")
    received = pub.declare(ref(need, ALL, status="Received"), "t", "received")
    with_need = pub.declare(ref(need, ALL, status=("Need, not referred", "Referred, not received", "Received")),
                            "t", "with the need")
    pub.suppress()
    shown = {k: pub.entries[k].value for k in (referred, received, with_need) if pub.entries[k].shown}
    assert not (referred in shown and received in shown), shown  # 31 - 30 = 1 would be published
    assert pub.attack() == []


@pytest.mark.slow
def test_no_pooled_column_of_the_demo_differs_from_another_by_a_small_count(demo_like):
    """Every pair of shown study-wide numbers over one variable, one inside the other (children with
    a need, referred, received), differs by 0 or by at least the threshold."""
    metrics, _ = demo_like
    pub = _publication(metrics)
    pooled = [(k, frozenset(pub._terms[k])) for k, e in pub.entries.items()
              if e.shown and pub.refs[k].authority == ALL and pub.refs[k].where]
    for (a, ta), (b, tb) in itertools.permutations(pooled, 2):
        if tb < ta:
            diff = pub.entries[a].value - pub.entries[b].value
            assert diff == 0 or diff >= T, (a, b, diff)


@pytest.mark.parametrize("field", ["ethnicity_recorded", "disability_recorded"])
def test_a_variable_recorded_for_every_child_is_published_without_giving_anything_back(field, tmp_path):
    """Regression: with ethnicity recorded in every case file of a small authority (8 files: 5 of one
    group, 3 of another), the pass chose the "recorded" total (8) as the secondary suppression for the
    small group; the attacker then found it (it is the number of case files), nothing more could be
    suppressed around it, and the build stopped. A secondary suppression the attacker can work out
    tells nothing: it is shown again, and the small group stays protected."""
    study = {c: dataclasses.replace(synth.Profile(), n_cases=8, **{field: 1.0}) for c in ("la-a", "la-b")}
    data, texts, names = build_outputs(tmp_path, study)
    assert attack_book(data, texts, names, T) == {"determined": [], "inconsistent": [], "small_k_of_n": []}
