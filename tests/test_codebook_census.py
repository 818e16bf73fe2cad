"""The codebook's CIN census code lists follow the 2024 CIN census XSD (the shared copy beside the
project): every code the schema allows is in the codebook list it maps to, and no more."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
XSD = ROOT.parent / "shared" / "data" / "cin-census-xml" / "CIN_schema_2024.xsd"
XS = {"xs": "http://www.w3.org/2001/XMLSchema"}
# XSD simpleType -> codebook code list
LISTS = {
    "gendertype": "gender",
    "ethnicitytype": "ethnicity",
    "disabilitytype": "disability",
    "referralsourcetype": "referral_source",
    "primaryneedcodetype": "primary_need",
    "reasonforclosuretype": "closure_reason",
    "assessmentfactorstype": "assessment_factor",
}

pytestmark = pytest.mark.skipif(not XSD.is_file(), reason=f"shared CIN census XSD not found at {XSD}")


def xsd_enumerations() -> dict[str, list[str]]:
    schema = etree.parse(str(XSD))
    return {st.get("name"): [e.get("value") for e in st.iterfind(".//xs:enumeration", XS)]
            for st in schema.getroot().iterfind(".//xs:simpleType[@name]", XS)}


def codebook_lists() -> dict:
    return yaml.safe_load((ROOT / "data" / "codebook.yml").read_text(encoding="utf-8"))["code_lists"]


@pytest.mark.parametrize("xsd_type,list_name", sorted(LISTS.items()))
def test_codebook_list_equals_xsd_enumeration(xsd_type, list_name):
    schema_codes = xsd_enumerations()[xsd_type]
    assert schema_codes, f"{xsd_type} has no enumeration in {XSD}"
    ours = [str(c) for c in codebook_lists()[list_name]["codes"]]
    assert set(schema_codes) - set(ours) == set(), f"codes in the XSD missing from codebook list '{list_name}'"
    assert set(ours) - set(schema_codes) == set(), f"codebook list '{list_name}' has codes the XSD does not allow"


@pytest.mark.parametrize("list_name", sorted(set(LISTS.values())))
def test_every_census_code_has_a_label_and_grouped_lists_cover_every_code(list_name):
    spec = codebook_lists()[list_name]
    assert spec["source"].startswith("DfE CIN census")
    for code, label in spec["codes"].items():
        assert isinstance(label, str) and label.strip(), f"{list_name} code {code} has no label"
    if "groups" in spec:
        grouped = [str(c) for members in spec["groups"].values() for c in members]
        assert sorted(grouped) == sorted(str(c) for c in spec["codes"]), f"{list_name}: groups must cover every code once"


def test_2024_codes_5d_and_rc9_pass_validation(tmp_path):
    """Referral source 5D and closure reason RC9 (new in the 2024 schema) are accepted by validate."""
    from test_validate import copy_clean, run_validation

    project = copy_clean(tmp_path)
    admin = project / "data" / "la-a" / "admin.csv"
    lines = admin.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    cells = lines[1].split(",")
    cells[header.index("referral_source")] = "5D"
    cells[header.index("closure_reason")] = "RC9"
    cells[header.index("plan_end_date")] = cells[header.index("plan_end_date")] or cells[header.index("plan_start_date")]
    lines[1] = ",".join(cells)
    admin.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert run_validation(project) == []


def test_labels_read_from_the_codebook_know_the_new_codes():
    from cinreport.data.codebook import load_codebook

    codebook = load_codebook(ROOT / "data" / "codebook.yml")
    assert codebook.label("referral_source", "5D") == "LA services - early help"
    assert codebook.codes("referral_source").group_of("5D") == "Local authority services"
    assert codebook.label("closure_reason", "RC9") == "Case closed after assessment, referred to early help"
