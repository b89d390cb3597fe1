"""Simulated behaviour of what the functional probes drive: the Job controller, Kueue's admission of queued Jobs,
and (one module each) the other add-ons' controllers and admission webhooks.

Each module exports ``RECONCILERS`` ({resource key: function(operators, resource_key, obj)}, run like the
reconcilers of operators.py: for API-created objects, ``controller_delay`` after each write; a function returns
``operators.RETRY`` to be run again after the delay) and ``ADMISSION`` ({resource key: function(store, obj) ->
None, or the message of a denial}), asked on every create of that kind, dry runs included, as a validating
webhook would be, ``LOGS`` (a function(store, pod, container) -> the text that container printed, or None when
the module does not simulate it), read by ``GET pods/<name>/log``, and ``PROXY`` (a function(store, resource key,
namespace, name, path, query) -> (status, content type, body bytes), or None when the module does not simulate that
target), asked on every ``GET <services|pods>/<name>/proxy/<path>`` before the canned proxy answers. They run only
with the simulated operators on and for API-created objects (PROXY: for whatever the module recognises). Each behaviour is documented in its module.
"""

from . import autoscaler, dra, gateway, hpa, jobs, kubelet, prometheus, trainer, volcano

MODULES = (jobs, volcano, gateway, trainer, dra, kubelet, hpa, prometheus, autoscaler)


def reconcilers():
    """{resource key: a function running every module's reconciler of that kind} (RETRY when any asks for it)."""
    chains = {}
    for module in MODULES:
        for key, reconcile in getattr(module, "RECONCILERS", {}).items():
            chains.setdefault(key, []).append(reconcile)

    def chained(functions):
        def reconcile(operators, resource_key, obj):
            answers = [function(operators, resource_key, obj) for function in functions]
            return next((a for a in answers if a is not None), None)
        return reconcile
    return {key: functions[0] if len(functions) == 1 else chained(functions) for key, functions in chains.items()}


def admission():
    merged = {}
    for module in MODULES:
        for key, check in getattr(module, "ADMISSION", {}).items():
            merged.setdefault(key, []).append(check)
    return merged


def logs():
    return [module.LOGS for module in MODULES if getattr(module, "LOGS", None)]


def proxies():
    return [module.PROXY for module in MODULES if getattr(module, "PROXY", None)]
