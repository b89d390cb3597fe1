"""The runner's DeviceBudget: probes holding accelerators take their share before they start and give it back."""

import threading
import time

import pytest

from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes import ALL_DEVICES
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes.runner import DeviceBudget
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes.scratch import Cancelled


def later(seconds, func, *args):
    timer = threading.Timer(seconds, func, args)
    timer.start()
    return timer


def test_a_share_larger_than_what_is_free_waits_until_it_is_given_back():
    budget, idle = DeviceBudget("DRA", 2, "2 free"), threading.Event()
    assert budget.take(1, idle) == pytest.approx(0, abs=0.05) and budget.free == 1
    giving = later(0.4, budget.give_back, 1)
    assert budget.take(2, idle) >= 0.35 and budget.free == 0
    giving.join()


def test_more_than_there_is_takes_everything_and_all_devices_waits_for_every_other_probe():
    budget, idle = DeviceBudget("device plugin", 3, "3 free"), threading.Event()
    assert budget.share(5) == 3 and budget.share(ALL_DEVICES) == 3
    budget.take(1, idle)
    giving = later(0.3, budget.give_back, 1)
    assert budget.take(ALL_DEVICES, idle) >= 0.25 and budget.free == 0
    budget.give_back(ALL_DEVICES)
    assert budget.free == 3
    giving.join()


def test_a_cancelled_run_stops_the_wait():
    budget, cancelled = DeviceBudget("DRA", 1, "1 free"), threading.Event()
    budget.take(1, cancelled)
    setting = later(0.3, cancelled.set)
    started = time.monotonic()
    with pytest.raises(Cancelled):
        budget.take(1, cancelled)
    assert time.monotonic() - started < 1.0 and budget.free == 0
    setting.join()
