# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Redaction of secrets (bearer tokens, JWTs, private keys, token/password/key values) from text and data.

Applied at the source: the checks' evidence is redacted when recorded (engine.CheckContext) and a run's
results when returned (verification.verify), so module results and play output are as clean as the files.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from typing import Any

REDACTED = "<redacted>"
SECRET_KEY = re.compile(r"(?i)^(?:client-key-data|(?:[a-z]+[_-])?token|password|api[_-]?key)$")
SECRET_PATTERNS = (
    (re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)"),
     "<redacted private key>"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), REDACTED),
    (re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]{16,}"), r"\1" + REDACTED),
    (re.compile(r"(?i)(\bauthorization:\s*basic\s+)\S+"), r"\1" + REDACTED),
    (re.compile(r"(?i)(\b(?:client-key-data|(?:[a-z]+[_-])?token|password|api[_-]?key)[\"']?\s*[:=]\s*[\"']?)"
                r"(?!<redacted)[^\s\"',;}]+"), r"\1" + REDACTED),
)


def redact(text: Any) -> str:
    """``text`` with bearer tokens, JWTs, private keys and token/password/key values replaced."""
    text = "" if text is None else str(text)
    for pattern, replacement in SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_data(data: Any) -> Any:
    """A copy of ``data`` (dicts, lists, strings) with every string redacted, and the whole value
    of a key named like a secret (token, password, client-key-data...)."""
    if isinstance(data, str):
        return redact(data)
    if isinstance(data, dict):
        return {redact(k): REDACTED if SECRET_KEY.match(str(k)) and v else redact_data(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [redact_data(v) for v in data]
    return data
