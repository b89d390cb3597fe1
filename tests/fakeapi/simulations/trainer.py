"""Simulated trainer behaviour for the probes (none yet)."""

RECONCILERS = {}
ADMISSION = {}
