# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The probe registry: functional tests that change the cluster, run only when ``Options.probes`` is on.

A probe proves a requirement by behaviour, not by reading configuration: it creates objects in a
scratch namespace, waits for what the requirement promises, and leaves nothing behind.

* one module per checklist section, ``probes/<section>.py`` (the names of ``sections/``), each probe
  registered with ``@probe("<requirement id>")`` under the requirement it decides; shared pod helpers in
  ``probes/pods.py``, pinned images in ``probes/images.py``;
* the scratch-namespace lifecycle and what a probe may do there in ``probes/scratch.py`` (``ProbeContext``);
* running them concurrently after the checks, and merging each finding into its requirement, in ``probes/runner.py``.

A probe receives a ``ProbeContext`` (the check's ``CheckContext`` plus ``namespace``, ``create``, ``denied``,
``wait_for``, ``hold``, ``remaining`` and ``checked``, the read-only check's Result) and returns a
``result.Finding``. A ``kube.WaitTimeout`` on the promised behaviour is its FAIL; other API errors make it ERROR;
UNKNOWN when what it needed cannot be observed (container output on simulated kubelets), never a pass.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from typing import Any, Callable, Dict, Set, Tuple, Union

ProbeFunc = Callable[..., Any]  # (ctx: scratch.ProbeContext) -> result.Finding
PROBES: Dict[str, ProbeFunc] = {}
NO_SCRATCH: Set[str] = set()  # probes that only read what the cluster serves: no scratch namespace is made for them
ALL_DEVICES = -1  # a probe that fills the accelerators it finds free: it runs while no other probe holds any
# Where a probe's devices come from: DRA devices, the device plugin's extended resources, or as
# probes/accelerators.pick_grant chooses (DRA when an NVIDIA DRA driver publishes devices, else the device plugin).
DRA_POOL, PLUGIN_POOL, GRANTED_POOL = "DRA", "device plugin", "granted"
# requirement id -> (the accelerator devices its probe holds at once: an int, ALL_DEVICES, or options -> either; pool)
DEVICES: Dict[str, Tuple[Union[int, Callable[[Any], int]], str]] = {}


def probe(requirement_id: str, scratch: bool = True, devices: Union[int, Callable[[Any], int]] = 0,
          pool: str = GRANTED_POOL) -> Callable[[ProbeFunc], ProbeFunc]:
    """Register the decorated function as the probe exercising ``requirement_id``; ``scratch=False`` for one that
    creates nothing (it reads live endpoints the read-only check samples only once); ``devices``: the most accelerator
    devices it holds at once, from ``pool``, which the runner's device budget lends it before its time starts."""
    def register(func: ProbeFunc) -> ProbeFunc:
        if requirement_id in PROBES and PROBES[requirement_id] is not func:
            raise ValueError("two probes registered for %s" % requirement_id)
        PROBES[requirement_id] = func
        if not scratch:
            NO_SCRATCH.add(requirement_id)
        if devices:
            DEVICES[requirement_id] = (devices, pool)
        return func
    return register


def devices_of(requirement_id: str, options: Any) -> Tuple[int, str]:
    """(the accelerator devices the probe of ``requirement_id`` holds at once with these options, ALL_DEVICES: all;
    their pool)."""
    wanted, pool = DEVICES.get(requirement_id, (0, GRANTED_POOL))
    return (wanted(options) if callable(wanted) else wanted), pool
