"""The component table: every requirement is covered, every install runs as written, no remediation names a
role the collection does not ship."""

import re
import shlex
from pathlib import Path

import pytest

from ansible_collections.k8s_ai.conformance.plugins.module_utils import checklists, components, engine
from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import Kube
from ansible_collections.k8s_ai.conformance.plugins.module_utils.verification import verify
from tests.fakeapi import FakeKubeServer, list_clusters, load_cluster

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = ROOT / "plugins" / "module_utils" / "sections"
ROLE_NAME = re.compile(r"k8s_ai\.conformance\.([a-z_]+)")
NOT_ROLES = ("plugins",)  # k8s_ai.conformance.plugins.module_utils... is an import, not a role


def shipped_requirements():
    return sorted({req.id for version in checklists.known_versions() for req in checklists.load(version).requirements})


def roles_shipped():
    roles = ROOT / "roles"
    return sorted(p.name for p in roles.iterdir() if p.is_dir()) if roles.is_dir() else []


# ------------------------------------------------------------------------------------------------ the table
@pytest.mark.parametrize("requirement_id", shipped_requirements())
def test_every_shipped_requirement_is_in_the_table(requirement_id):
    in_table = requirement_id in components.REQUIREMENTS
    without = requirement_id in components.NO_COMPONENT
    assert in_table != without, "%s must be in exactly one of REQUIREMENTS and NO_COMPONENT" % requirement_id
    if in_table:
        assert components.components_for(requirement_id), requirement_id
    else:
        assert len(components.NO_COMPONENT[requirement_id]) > 40, "say why no component satisfies %s" % requirement_id


def test_the_table_names_only_known_components_and_uses_each():
    named = {name for names in components.REQUIREMENTS.values() for name in names}
    assert named <= set(components.COMPONENTS), named - set(components.COMPONENTS)
    assert set(components.COMPONENTS) <= named, "components no requirement needs: %s" % (set(components.COMPONENTS) - named)
    for name, comp in components.COMPONENTS.items():
        assert comp.name == name
        assert comp.role.startswith("k8s_ai.conformance.") and comp.role_name.isidentifier(), comp.role
        assert comp.version and comp.source and comp.install, name


@pytest.mark.parametrize("name", sorted(components.COMPONENTS))
def test_install_commands_run_as_written(name):
    comp = components.COMPONENTS[name]
    repos = {}
    for command in comp.install:
        assert not re.search(r"<[^>]*>|\.\.\.", command), "placeholder in %r" % command
        words = shlex.split(command)
        assert words[0] in ("helm", "kubectl"), command
        assert "&&" not in words and ";" not in command, "one command per entry: %r" % command
        if words[:3] == ["helm", "repo", "add"]:
            alias, url = words[3], words[4]
            assert url.startswith("https://"), command
            repos[alias] = url
        if words[:2] in (["helm", "install"], ["helm", "upgrade"]):
            chart = next(w for w in words[3:] if not w.startswith("-") and ("/" in w))
            if chart.startswith("oci://"):
                assert re.match(r"^oci://[a-z0-9.-]+(/[a-z0-9._-]+)+$", chart), chart
            else:
                alias = chart.split("/", 1)[0]
                assert alias in repos, "helm install of %s without a helm repo add %s before it" % (chart, alias)
                assert "helm repo update" in comp.install, "helm repo update after helm repo add"
            assert "--version" in words, "helm install of %s has no --version" % chart
            assert words[words.index("--version") + 1] == comp.version, command
            assert ("-n" in words or "--namespace" in words), "helm install of %s names no namespace" % chart
            assert comp.namespace in words, command
        if words[:2] == ["kubectl", "apply"]:
            url = next((w for w in words if w.startswith(("https://", "github.com/"))), "")
            assert comp.version in url, "%r does not pin %s" % (command, comp.version)


def test_install_hint_names_commands_until_the_role_exists(tmp_path):
    for name, comp in components.COMPONENTS.items():
        roles = tmp_path / name
        roles.mkdir()
        hint = components.install_hint(name, roles_dir=str(roles))
        assert comp.role not in hint and components.install_commands(name) in hint
        (roles / comp.role_name).mkdir()
        hint = components.install_hint(name, roles_dir=str(roles))
        assert "with role %s" % comp.role in hint and components.install_commands(name) in hint
    with pytest.raises(KeyError):
        components.install_hint("no-such-component")


def test_every_role_a_remediation_could_name_exists():
    could_name = {c.role_name for c in components.COMPONENTS.values() if components.role_available(c.name)}
    assert could_name <= set(roles_shipped())
    for comp in components.COMPONENTS.values():
        assert (comp.role in components.install_hint(comp.name)) == (comp.role_name in roles_shipped())


def test_sections_name_no_role_literally():
    for path in sorted(SECTIONS.glob("*.py")):
        named = [m for m in ROLE_NAME.findall(path.read_text(encoding="utf-8")) if m not in NOT_ROLES]
        assert not named, "%s names role(s) %s: read the install text from components.py" % (path.name, named)


def test_join_fixes():
    assert components.join_fixes(["read x", "read x.", "kubectl get y"]) == "Read x; kubectl get y."
    assert components.join_fixes([]) == ""


# ------------------------------------------------------------------------------------------------ every fixture
RUNS = [(name, version) for name, _d in list_clusters() for version in checklists.known_versions()]


@pytest.mark.parametrize("name,version", RUNS)
def test_no_remediation_on_any_fixture_names_a_missing_role(name, version, tmp_path):
    with FakeKubeServer(load_cluster(name)) as server:
        kubeconfig = tmp_path / "kubeconfig"
        server.write_kubeconfig(str(kubeconfig))
        kube = Kube.from_params({"kubeconfig": str(kubeconfig)})
        report = verify(kube, checklist_version=version, options=engine.Options(audit_workloads=True, check_timeout=120))
    shipped = set(roles_shipped())
    for result in report["results"]:
        for field in ("remediation", "notes"):
            named = {m for m in ROLE_NAME.findall(result[field] or "") if m not in NOT_ROLES}
            assert named <= shipped, "%s %s names role(s) %s, not under roles/" % (result["id"], field, named - shipped)
        assert "<version>" not in (result["remediation"] or ""), result["id"]
