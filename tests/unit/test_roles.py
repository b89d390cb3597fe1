"""Every role of the collection: documented variables, pinned versions, no shell, names that exist."""

import re
from pathlib import Path

import pytest
import yaml

from ansible_collections.k8s_ai.conformance.plugins.module_utils import components, install_plan

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p.parent.parent.name for p in (ROOT / "roles").glob("*/meta/argument_specs.yml"))
INSTALL_ROLES = list(install_plan.ROLE_ORDER)
SHELL_MODULES = {"command", "shell", "raw", "script", "expect", "ansible.builtin.command", "ansible.builtin.shell",
                 "ansible.builtin.raw", "ansible.builtin.script", "ansible.builtin.expect"}
TASK_KEYS = {"name", "when", "tags", "vars", "register", "loop", "loop_control", "block", "rescue", "always", "until",
             "retries", "delay", "changed_when", "failed_when", "check_mode", "no_log", "notify", "become", "delegate_to",
             "run_once", "environment", "ignore_errors", "listen", "args", "diff", "any_errors_fatal", "throttle"}


def load(path):
    return yaml.safe_load(path.read_text()) or {}


def options(role):
    return load(ROOT / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]


def tasks(role):
    """Every task of a role's task files, blocks flattened."""
    def walk(items):
        for task in items or []:
            yield task
            for key in ("block", "rescue", "always"):
                yield from walk(task.get(key))
    for path in sorted((ROOT / "roles" / role / "tasks").glob("*.yml")):
        yield from ((path.name, t) for t in walk(load(path) if isinstance(load(path), list) else []))


def test_the_install_roles_of_the_plan_all_ship():
    assert set(INSTALL_ROLES) <= set(ROLES), "missing roles: %s" % sorted(set(INSTALL_ROLES) - set(ROLES))


@pytest.mark.parametrize("role", ROLES)
def test_every_variable_is_typed_documented_in_the_readme_and_defaulted_as_the_spec_says(role):
    spec = options(role)
    defaults = load(ROOT / "roles" / role / "defaults" / "main.yml")
    readme = (ROOT / "roles" / role / "README.md").read_text()
    for name, option in spec.items():
        assert option.get("type") and option.get("description"), "%s: %s needs a type and a description" % (role, name)
        if option["type"] == "list":
            assert option.get("elements"), "%s: %s is a list without elements" % (role, name)
        assert "`%s`" % name in readme, "roles/%s/README.md does not document %s" % (role, name)
        if "default" in option and name in defaults:
            assert defaults[name] == option["default"], "%s: %s defaults/main.yml differs from the spec" % (role, name)
    undeclared = set(defaults) - set(spec)
    assert not undeclared, "%s: defaults/main.yml has variables meta/argument_specs.yml does not declare: %s" % (role, sorted(undeclared))


@pytest.mark.parametrize("role", INSTALL_ROLES)
def test_an_install_role_has_the_common_variables(role):
    spec = options(role)
    for suffix in ("enabled", "namespace", "chart_version", "chart_archive", "values", "image_registry", "wait_timeout"):
        assert "%s_%s" % (role, suffix) in spec or any(n.startswith(role + "_") and n.endswith("_" + suffix) for n in spec), \
            "%s has no %s_%s variable" % (role, role, suffix)


@pytest.mark.parametrize("role", ROLES)
def test_no_role_shells_out(role):
    for filename, task in tasks(role):
        used = set(task) - TASK_KEYS
        assert not used & SHELL_MODULES, "roles/%s/tasks/%s: task %r runs %s; use kubernetes.core" % (
            role, filename, task.get("name"), sorted(used & SHELL_MODULES))


CLUSTER_WRITERS = {"kubernetes.core.k8s", "kubernetes.core.helm"}


@pytest.mark.parametrize("role", INSTALL_ROLES)
def test_every_cluster_write_of_an_install_role_registers_what_it_applied(role):
    """conform names what a role changed, and what a failed role left, from these registers alone."""
    writers = [(f, t) for f, t in tasks(role) if set(t) & CLUSTER_WRITERS]
    assert writers, role
    for filename, task in writers:
        assert str(task.get("register", "")).startswith(role + "__applied_"), (
            "roles/%s/tasks/%s: task %r writes to the cluster; register it as %s__applied_<what> so conform can say what "
            "it changed" % (role, filename, task.get("name"), role))
    registered = [t["register"] for f, t in writers]
    assert len(registered) == len(set(registered)), registered


@pytest.mark.parametrize("name", sorted(n for n, c in components.COMPONENTS.items() if c.role_name in INSTALL_ROLES))
def test_a_component_whose_role_ships_pins_the_same_version_in_the_role_defaults(name):
    component = components.COMPONENTS[name]
    defaults = (ROOT / "roles" / component.role_name / "defaults" / "main.yml").read_text()
    assert re.search(r"^\w*_chart_version: [\"']?%s[\"']?\s*(#.*)?$" % re.escape(component.version), defaults, re.M) or \
        re.search(r"^\w*_version: [\"']?%s[\"']?\s*(#.*)?$" % re.escape(component.version), defaults, re.M), \
        "roles/%s/defaults/main.yml does not pin %s %s (components.py)" % (component.role_name, name, component.version)


def test_every_role_a_remediation_text_names_exists():
    texts = " ".join(components.install_hint(name) for name in components.COMPONENTS)
    for role in set(re.findall(r"with role k8s_ai\.conformance\.([a-z_]+)", texts)):
        assert role in ROLES, role
    assert "with role k8s_ai.conformance.gateway" in components.install_hint("envoy_gateway")


@pytest.mark.parametrize("inventory", sorted(p.name for p in (ROOT / "inventories").iterdir() if p.is_dir()))
def test_an_inventory_sets_only_variables_some_role_declares_with_values_of_their_type(inventory):
    declared = {}
    for role in ROLES:
        declared.update(options(role))
    declared["ai_conformance_api_host"] = {"type": "str"}
    for path in (ROOT / "inventories" / inventory / "group_vars").rglob("*.yml"):
        for name, value in (load(path) or {}).items():
            assert name in declared, "%s sets %s, which no role declares" % (path.relative_to(ROOT), name)
            spec = declared[name]
            if spec.get("choices") and spec["type"] == "str":
                assert value in spec["choices"], "%s: %s=%r is not one of %s" % (path.name, name, value, spec["choices"])
            if spec.get("choices") and spec["type"] == "list":
                assert set(value) <= set(spec["choices"]), (path.name, name, value)


def test_conform_runs_the_install_roles_in_the_plans_order():
    tasks_file = load(ROOT / "roles" / "conform" / "tasks" / "install.yml")
    assert [t["vars"]["conform_install"] for t in tasks_file] == list(install_plan.ROLE_ORDER)
    assert all(t["tags"] == [t["vars"]["conform_install"]] for t in tasks_file)
