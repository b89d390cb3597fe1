"""The embedded checklists are the program's published files, and version selection behaves."""

from pathlib import Path

import pytest
import yaml

from ansible_collections.k8s_ai.conformance.plugins.module_utils import checklists
from ansible_collections.k8s_ai.conformance.plugins.module_utils.checklists import program
from ansible_collections.k8s_ai.conformance.plugins.module_utils.checklists.published import PUBLISHED

# Copies of cncf/k8s-ai-conformance docs/AIConformance-<ver>.yaml (the program's public templates).
PUBLISHED_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "published"
VERSIONS = ("1.33", "1.34", "1.35", "1.36", "1.37")


def published_doc(version):
    return yaml.safe_load((PUBLISHED_DIR / ("AIConformance-%s.yaml" % version)).read_text(encoding="utf-8"))


def published_items(version):
    return [(section, item) for section, items in published_doc(version)["spec"].items() for item in items]


@pytest.mark.parametrize("version", VERSIONS)
def test_embedded_text_is_the_published_file(version):
    assert PUBLISHED[version] == (PUBLISHED_DIR / ("AIConformance-%s.yaml" % version)).read_text(encoding="utf-8")


@pytest.mark.parametrize("version", VERSIONS)
def test_parsed_requirements_match_the_published_file(version):
    checklist = checklists.load(version)
    expected = [(section, item["id"], item["description"], item["level"]) for section, item in published_items(version)]
    assert [(r.section, r.id, r.description, r.level) for r in checklist.requirements] == expected
    assert checklist.sections == list(published_doc(version)["spec"])
    assert checklist.metadata == {k: str(v) for k, v in published_doc(version)["metadata"].items()}
    assert checklist.header.splitlines()[0].startswith("# Kubernetes AI Conformance Checklist")
    assert checklist.version == version


@pytest.mark.parametrize("version, total, must", [("1.33", 9, 8), ("1.34", 9, 9), ("1.35", 12, 9), ("1.36", 14, 8), ("1.37", 15, 8)])
def test_counts(version, total, must):
    requirements = checklists.load(version).requirements
    assert len(requirements) == total
    assert sum(1 for r in requirements if r.level == "MUST") == must


def test_1_36_drops_dra_support_and_adds_three_should_networking_items():
    v135, v136 = checklists.load("1.35"), checklists.load("1.36")
    assert "dra_support" in v135.ids and "dra_support" not in v136.ids
    added = [r for r in v136.requirements if r.id not in v135.ids]
    assert [(r.id, r.section, r.level) for r in added] == [
        ("advanced_inference_ingress", "networking", "SHOULD"),
        ("high_performance_networking", "networking", "SHOULD"),
        ("disaggregated_inference", "networking", "SHOULD"),
    ]
    assert "k8sConformanceUrl" in v135.metadata and "k8sConformanceUrl" not in v136.metadata


def test_1_37_is_1_36_plus_workload_sandboxing_with_its_quirks():
    v136, v137 = checklists.load("1.36"), checklists.load("1.37")
    added = [r for r in v137.requirements if r.id not in v136.ids]
    assert [(r.id, r.section, r.level) for r in added] == [("workload_sandboxing", "security", "SHOULD")]
    assert [(r.id, r.level) for r in v137.requirements if r.id != "workload_sandboxing"] == [(r.id, r.level) for r in v136.requirements]
    assert "k8sConformanceUrl" not in v137.metadata
    assert v137.metadata["productLogoUrl"] == "[Documentation URL]"
    assert "makes they available" in v137.get("accelerator_metrics").description


def test_select_version_picks_1_37_for_a_1_37_server():
    assert checklists.select_version("v1.37.2") == "1.37"
    assert checklists.select_version("v1.37.0+rke2r1") == "1.37"


def test_1_33_to_1_34_only_dra_support_level_changes():
    v133, v134 = checklists.load("1.33"), checklists.load("1.34")
    changed = [(a.id, a.level, b.level) for a, b in zip(v133.requirements, v134.requirements) if a != b]
    assert v133.ids == v134.ids
    assert changed == [("dra_support", "SHOULD", "MUST")]


@pytest.mark.parametrize("given, expected", [("1.35", "1.35"), ("v1.35", "1.35"), ("1.35.2+rke2r1", "1.35"), ("v1.36.0", "1.36")])
def test_normalize_version(given, expected):
    assert checklists.normalize_version(given) == expected


def test_normalize_version_rejects_nonsense():
    with pytest.raises(checklists.ChecklistError, match="not a Kubernetes minor version"):
        checklists.normalize_version("latest")


def test_select_version_follows_the_server_unless_overridden():
    assert checklists.select_version("v1.34.5+k3s1") == "1.34"
    assert checklists.select_version("v1.36.1", override="v1.35") == "1.35"


def test_select_version_errors_name_the_fix():
    with pytest.raises(checklists.ChecklistError, match="set checklist_version"):
        checklists.select_version(None)
    with pytest.raises(checklists.ChecklistError, match="1.33, 1.34, 1.35, 1.36, 1.37"):
        checklists.select_version("v1.40.0")


def test_unknown_version_lists_known_ones():
    with pytest.raises(checklists.ChecklistError, match="1.33, 1.34, 1.35, 1.36, 1.37"):
        checklists.load("1.20")
    assert checklists.known_versions() == list(VERSIONS)


# ---------------------------------------------------------------------------- the program table


def test_the_program_table_has_one_row_per_published_version():
    assert list(program.PROGRAM) == checklists.known_versions()
    assert all(row.version == version for version, row in program.PROGRAM.items())
    with pytest.raises(ValueError, match="no row for checklist 1.20"):
        program.rules("1.20")


@pytest.mark.parametrize("version", VERSIONS)
def test_every_row_states_the_validators_rules(version):
    row = program.rules(version)
    assert row.metadata_required == (
        "kubernetesVersion", "platformName", "platformVersion", "vendorName", "websiteUrl", "documentationUrl",
        "productLogoUrl", "description", "contactEmailAddress", "k8sConformanceUrl")
    assert row.metadata_optional == ("repoUrl",)
    assert row.requirement_tests == {"secure_accelerator_access": "TestSecureAcceleratorAccess",
                                     "gang_scheduling": "TestGangScheduling",
                                     "cluster_autoscaling": "TestAcceleratorClusterAutoscaling"}
    assert set(row.requirement_tests) <= set(checklists.load(version).ids)
    assert row.must_na_accepted == ("cluster_autoscaling",) and program.must_na_accepted(version) == ("cluster_autoscaling",)
    assert set(row.must_na_accepted) <= {r.id for r in checklists.load(version).requirements if r.level == "MUST"}


def test_what_changes_between_versions():
    by_version = {v: program.rules(v) for v in VERSIONS}
    assert [v for v, r in by_version.items() if r.k8s_conformance_url_required] == ["1.35", "1.36", "1.37"]
    assert [v for v, r in by_version.items() if r.file_urls] == ["1.37"] and program.first_version("file_urls") == "1.37"
    assert {v: sorted(r.parsed_artifacts) for v, r in by_version.items() if r.parsed_artifacts} == {
        "1.37": ["e2e.log", "junit.xml", "results.json"]}
    assert program.CANONICAL_ARTIFACTS == {"junit.xml", "results.json", "e2e.log"} == set(program.ARTIFACT_FORMATS)
    assert {v: r.dra_api_versions for v, r in by_version.items()} == {
        "1.33": ("v1beta2", "v1beta1"), "1.34": ("v1",), "1.35": ("v1",), "1.36": ("v1",), "1.37": ("v1",)}


@pytest.mark.parametrize("version", VERSIONS)
def test_metadata_fields_are_the_templates_plus_what_the_validator_requires(version):
    checklist = checklists.load(version)
    fields = program.metadata_fields(checklist)
    assert [f for f in fields if f in checklist.metadata] == list(checklist.metadata), "the template's order is kept"
    assert set(fields) == set(program.METADATA_REQUIRED + program.METADATA_OPTIONAL)
    assert fields.index("k8sConformanceUrl") == fields.index("contactEmailAddress") + 1
