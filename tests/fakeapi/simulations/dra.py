"""Simulated dra behaviour for the probes (none yet)."""

RECONCILERS = {}
ADMISSION = {}
