"""Simulated volcano behaviour for the probes (none yet)."""

RECONCILERS = {}
ADMISSION = {}
