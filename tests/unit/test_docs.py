"""Docs that must stay in step with the code: every play variable documented, every documented one used."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Set by the playbook itself (registered results, play vars), not by users.
INTERNAL = {"ai_conformance", "ai_conformance_artifacts", "ai_conformance_report_dir"}


def playbook_variables():
    names = set()
    for playbook in (ROOT / "playbooks").glob("*.yml"):
        names.update(re.findall(r"\b(ai_conformance(?:_[a-z0-9]+)*)\b", playbook.read_text()))
    return names - INTERNAL


def test_every_play_variable_is_documented_and_every_documented_one_is_used():
    documented = set(re.findall(r"^\| `(ai_conformance_[a-z0-9_]+)` \|", (ROOT / "docs" / "variables.md").read_text(), re.M))
    used = playbook_variables()
    assert used - documented == set(), "document these in docs/variables.md"
    assert documented - used == set(), "docs/variables.md lists variables no playbook reads"


def test_the_example_group_vars_name_only_real_variables():
    text = (ROOT / "inventories" / "example" / "group_vars" / "all" / "ai_conformance.yml").read_text()
    assert set(re.findall(r"\b(ai_conformance_[a-z0-9_]+)\b", text)) <= playbook_variables()
    for doc in re.findall(r"\b(docs/[\w./-]+\.md)\b", text):
        assert (ROOT / doc).is_file(), doc
