# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small reader of the Prometheus text exposition format (0.0.4) and OpenMetrics text.

Only what the checks need: every sample as (name, labels, value). Comments (# HELP, # TYPE,
# EOF) are skipped, label values are unescaped (\\\\, \\", \\n), a trailing timestamp or
exemplar is ignored, and a malformed line is skipped rather than failing the whole scrape.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from typing import Dict, Iterator, List, Tuple

Sample = Tuple[str, Dict[str, str], float]

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,)?')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


def _unescape(value: str) -> str:
    return re.sub(r'\\[\\"n]', lambda m: _UNESCAPE[m.group(0)], value) if "\\" in value else value


def _value(text: str) -> float:
    token = text.split()[0] if text.split() else ""
    return float(token)  # float() reads NaN, +Inf and -Inf as the format writes them


def parse_line(line: str):
    """One sample line -> (name, labels, value), or None for comments, blanks and malformed lines."""
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    match = _NAME.match(line)
    if not match:
        return None
    name, pos, labels = match.group(0), match.end(), {}
    if pos < len(line) and line[pos] == "{":
        pos += 1
        while True:
            label = _LABEL.match(line, pos)
            if not label:
                break
            labels[label.group(1)] = _unescape(label.group(2))
            pos = label.end()
            if not label.group(3):
                break
        close = line.find("}", pos)
        if close < 0 or line[pos:close].strip():
            return None
        pos = close + 1
    try:
        return name, labels, _value(line[pos:].split("#", 1)[0])
    except ValueError:
        return None


def parse(text: str) -> Iterator[Sample]:
    """Every sample of an exposition, in order."""
    for line in text.splitlines():
        sample = parse_line(line)
        if sample is not None:
            yield sample


def families(text: str) -> Dict[str, List[Tuple[Dict[str, str], float]]]:
    """Samples grouped by metric name: {name: [(labels, value), ...]}."""
    found: Dict[str, List[Tuple[Dict[str, str], float]]] = {}
    for name, labels, value in parse(text):
        found.setdefault(name, []).append((labels, value))
    return found
