# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The helm_release filter: a Helm release Secret's metadata as one line (never its payload)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: helm_release
short_description: Name a Helm release from its release Secret's metadata
description:
  - Helm v3 and v4 keep each release revision in a Secret labelled C(owner=helm), C(name), C(version) and C(status).
    This filter turns that Secret's C(metadata) into V(Helm release <namespace>/<name> (revision <version>, <status>)),
    which the conform role compares before and after an install role to say what a failed role left (the same
    words as the C(k8s_ai.conformance.applied) filter's for a release).
  - Reads the labels only; the Secret's data (the release, with its values) is never touched.
version_added: 0.1.0
options:
  _input:
    description: The C(metadata) of a Helm release Secret.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Name the releases
  ansible.builtin.debug:
    msg: "{{ secrets.resources | map(attribute='metadata') | map('k8s_ai.conformance.helm_release') | list }}"
"""

RETURN = r"""
_value:
  description: The release, its namespace, revision and status.
  type: str
"""

from ansible.errors import AnsibleFilterError


def helm_release(metadata):
    """'Helm release <ns>/<name> (revision <v>, <status>)' from a release Secret's metadata."""
    if not isinstance(metadata, dict):
        raise AnsibleFilterError("helm_release expects a Secret's metadata (a mapping), got %s" % type(metadata).__name__)
    labels = metadata.get("labels") or {}
    return "Helm release %s/%s (revision %s, %s)" % (
        metadata.get("namespace", "?"), labels.get("name", metadata.get("name", "?")), labels.get("version", "?"),
        str(labels.get("status", "unknown")).lower())


class FilterModule(object):
    """k8s_ai.conformance filters."""

    def filters(self):
        return {"helm_release": helm_release}
