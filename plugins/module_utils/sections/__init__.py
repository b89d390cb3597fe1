# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One module per checklist section; importing this package registers every check in engine.REGISTRY."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.k8s_ai.conformance.plugins.module_utils.sections import (  # noqa: F401 pylint: disable=unused-import
    accelerators,
    networking,
    observability,
    operator,
    scheduling,
    security,
)
