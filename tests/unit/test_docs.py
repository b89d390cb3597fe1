"""Docs that must stay in step with the code: every play variable documented, every documented one used."""

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "verify"
CONFORM = ROOT / "roles" / "conform"
NAME = re.compile(r"\b(ai_conformance(?:_[a-z0-9]+)*)\b")


def load_yaml(path):
    return yaml.safe_load(path.read_text())


def spec_options(role=ROLE):
    return load_yaml(role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]


def all_options():
    """What the verify and conform playbooks read: the verify role's options and conform's own."""
    return set(spec_options()) | set(spec_options(CONFORM)) | {"ai_conformance_api_host"}


def role_vars():
    return load_yaml(ROLE / "vars" / "main.yml")


def internal_names():
    """Set by the playbook and role themselves (registered results, the role's own lists), not by users."""
    return {"ai_conformance"} | set(role_vars()["ai_conformance_internal_variables"])


def used_names():
    names = set()
    for path in list((ROOT / "playbooks").glob("*.yml")) + list(ROLE.rglob("*.yml")) + list(CONFORM.rglob("*.yml")):
        names.update(NAME.findall(path.read_text()))
    return names - internal_names()


def variables_doc():
    spec = importlib.util.spec_from_file_location("variables_doc", ROOT / "scripts" / "variables_doc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_variables_doc_is_what_the_script_writes():
    assert (ROOT / "docs" / "variables.md").read_text() == variables_doc().render(), \
        "docs/variables.md is out of date: run .venv/bin/python scripts/variables_doc.py"


def test_the_role_readme_tables_are_what_the_script_writes():
    text = (ROLE / "README.md").read_text()
    assert text == variables_doc().render_role_readme(text), \
        "roles/verify/README.md is out of date: run .venv/bin/python scripts/variables_doc.py"
    assert set(re.findall(r"^\| `(ai_conformance_[a-z0-9_]+)` \|", text, re.M)) == set(spec_options())


def test_the_role_imports_each_task_file_and_checks_the_names_first():
    imported = [task["ansible.builtin.import_tasks"] for task in load_yaml(ROLE / "tasks" / "main.yml")]
    assert imported[0] == "variables.yml", "the unknown-variable check must run before any other task"
    assert sorted(imported) == sorted(p.name for p in (ROLE / "tasks").glob("*.yml") if p.name != "main.yml")


def test_the_known_variables_are_the_argument_spec_and_the_api_host():
    known = role_vars()["ai_conformance_known_variables"]
    assert len(known) == len(set(known))
    assert set(known) == set(spec_options()) | {"ai_conformance_api_host"}


def test_every_variable_used_in_playbooks_and_roles_is_declared():
    declared = all_options()
    assert used_names() - declared == set(), "declare these in roles/verify or roles/conform meta/argument_specs.yml"
    assert declared - used_names() == set(), "an argument spec declares variables no task reads"


def test_conform_knows_its_own_variables_and_the_verify_ones_are_not_repeated():
    own = load_yaml(CONFORM / "vars" / "main.yml")["conform_known_variables"]
    assert set(own) == set(spec_options(CONFORM)) and not set(own) & set(spec_options())


def test_every_declared_variable_is_documented():
    documented = set(re.findall(r"^\| `(ai_conformance_[a-z0-9_]+)` \|", (ROOT / "docs" / "variables.md").read_text(), re.M))
    assert documented == all_options()
    conform_readme = (CONFORM / "README.md").read_text()
    assert conform_readme == variables_doc().render_conform_readme(conform_readme), \
        "roles/conform/README.md is out of date: run .venv/bin/python scripts/variables_doc.py"


@pytest.mark.parametrize("role", [ROLE, CONFORM], ids=["verify", "conform"])
def test_the_argument_spec_is_typed_and_its_defaults_are_the_role_defaults(role):
    defaults = load_yaml(role / "defaults" / "main.yml")
    for name, option in spec_options(role).items():
        assert option.get("type") in {"str", "bool", "int", "float", "path", "list", "dict", "raw"}, name
        assert option.get("description"), name
        if option["type"] == "list":
            assert option.get("elements"), name
        if "default" in option:
            assert defaults.get(name, object()) == option["default"], "%s: defaults/main.yml differs from the spec" % name
        else:
            assert name not in defaults, "%s has no spec default, so it stays undefined (default(omit))" % name
            assert any(line.startswith("Unset: ") for line in option["description"]), name
    assert set(defaults) <= set(spec_options(role))
    assert spec_options()["ai_conformance_audit_strategy"]["choices"] == ["auto", "per-node", "stream"]


def test_the_example_group_vars_name_only_real_variables():
    text = (ROOT / "inventories" / "example" / "group_vars" / "all" / "ai_conformance.yml").read_text()
    assert set(re.findall(r"\b(ai_conformance_[a-z0-9_]+)\b", text)) <= all_options()
    for doc in re.findall(r"\b(docs/[\w./-]+\.md)\b", text):
        assert (ROOT / doc).is_file(), doc
