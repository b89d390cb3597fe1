"""Simulated behaviour of what the functional probes drive: the Job controller, Kueue's admission of queued Jobs,
and (one module each) the other add-ons' controllers and admission webhooks.

Each module exports ``RECONCILERS`` ({resource key: function(operators, resource_key, obj)}, run like the
reconcilers of operators.py: for API-created objects, ``controller_delay`` after each write; a function returns
``operators.RETRY`` to be run again after the delay) and ``ADMISSION`` ({resource key: function(store, obj) ->
None, or the message of a denial}), asked on every create of that kind, dry runs included, as a validating
webhook would be. Both run only with the simulated operators on. Each behaviour is documented in its module.
"""

from . import dra, gateway, jobs, trainer, volcano

MODULES = (jobs, volcano, gateway, trainer, dra)


def reconcilers():
    merged = {}
    for module in MODULES:
        merged.update(getattr(module, "RECONCILERS", {}))
    return merged


def admission():
    merged = {}
    for module in MODULES:
        for key, check in getattr(module, "ADMISSION", {}).items():
            merged.setdefault(key, []).append(check)
    return merged
