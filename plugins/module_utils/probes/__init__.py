# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The probe registry: functional tests that change the cluster, run only when ``Options.probes`` is on.

A probe proves a requirement by behaviour, not by reading configuration: it creates objects in a
scratch namespace, waits for what the requirement promises, and leaves nothing behind.

Where probes go:

* one module per checklist section, ``probes/<section>.py`` (the names of ``sections/``), each probe
  registered with ``@probe("<requirement id>")`` under the requirement it decides;
* the scratch-namespace lifecycle (a uniquely named, labelled namespace created before the probe,
  deleted after it, pass or fail, and awaited until gone) in ``probes/scratch.py``; not written yet.

What a probe receives and returns: the requirement's ``engine.CheckContext`` (``ctx.kube`` with the
write verbs and ``wait`` of module_utils.kube, ``ctx.options``, ``ctx.record`` for evidence: one
runnable kubectl command per object created or awaited) and the scratch namespace's name; it returns
a ``result.Finding`` like a check. A ``kube.WaitTimeout`` on the promised behaviour is the probe's
FAIL (its message and hint are the notes and remediation); other API errors make it ERROR, as for checks.
Nothing runs probes yet: the verify module does not import this package.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from typing import Any, Callable, Dict

ProbeFunc = Callable[..., Any]  # (ctx: engine.CheckContext, namespace: str) -> result.Finding
PROBES: Dict[str, ProbeFunc] = {}


def probe(requirement_id: str) -> Callable[[ProbeFunc], ProbeFunc]:
    """Register the decorated function as the probe exercising ``requirement_id``."""
    def register(func: ProbeFunc) -> ProbeFunc:
        if requirement_id in PROBES and PROBES[requirement_id] is not func:
            raise ValueError("two probes registered for %s" % requirement_id)
        PROBES[requirement_id] = func
        return func
    return register
