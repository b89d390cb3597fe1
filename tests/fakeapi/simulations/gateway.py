"""Simulated gateway behaviour for the probes (none yet)."""

RECONCILERS = {}
ADMISSION = {}
