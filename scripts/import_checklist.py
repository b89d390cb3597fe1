"""Add (or refresh) a published checklist in plugins/module_utils/checklists/published.py.

    .venv/bin/python scripts/import_checklist.py AIConformance-1.37.yaml [more files...]

Takes the program's files (cncf/k8s-ai-conformance docs/AIConformance-<ver>.yaml) and rewrites
published.py with every version's text verbatim, long lines split into adjacent string pieces
so the file stays within the line-length rules. A new version also needs its row in the program
table, checklists/program.py (its metadata, artifact and evidence rules); the script says when
that row is missing.
"""

import importlib.util
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "plugins" / "module_utils" / "checklists" / "published.py"
PROGRAM = ROOT / "plugins" / "module_utils" / "checklists" / "program.py"
WIDTH = 120
HEADER = '''# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The program's published checklists, verbatim, keyed by Kubernetes minor version.

Each value is the exact text of cncf/k8s-ai-conformance ``docs/AIConformance-<version>.yaml``
(long lines are split into adjacent string pieces). This file is data, written by
scripts/import_checklist.py: supporting a new version is running that script, nothing else.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

PUBLISHED = {}
'''


def pieces(line):
    """A line cut at spaces into chunks of at most WIDTH characters (joined, they are the line)."""
    out, rest = [], line
    while len(rest) > WIDTH:
        cut = rest.rfind(" ", 0, WIDTH)
        cut = WIDTH if cut <= 0 else cut + 1
        out.append(rest[:cut])
        rest = rest[cut:]
    out.append(rest)
    return out


def render(texts):
    parts = [HEADER]
    for version in sorted(texts, key=lambda v: tuple(int(p) for p in v.split("."))):
        parts.append('\nPUBLISHED["%s"] = (\n' % version)
        for line in texts[version].splitlines(keepends=True):
            for piece in pieces(line):
                parts.append("    %s\n" % json.dumps(piece, ensure_ascii=True))
        parts.append(")\n")
    return "".join(parts)


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(paths):
    texts = dict(load("published", TARGET).PUBLISHED)
    for path in paths:
        match = re.search(r"(\d+\.\d+)\.ya?ml$", path)
        if not match:
            raise SystemExit("%s: expected a name like AIConformance-1.37.yaml" % path)
        texts[match.group(1)] = Path(path).read_text()
    TARGET.write_text(render(texts))
    print("published.py now holds %s" % ", ".join(sorted(texts)))
    missing = sorted(set(texts) - set(load("program", PROGRAM).PROGRAM))
    if missing:
        print("add a row for %s to %s (the program's rules for that version)" % (", ".join(missing), PROGRAM.relative_to(ROOT)))


if __name__ == "__main__":
    main(sys.argv[1:])
