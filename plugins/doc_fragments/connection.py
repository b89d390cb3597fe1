# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options every module of this collection adds to kubernetes.core's connection options."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  connect_timeout:
    description:
      - Seconds to wait for a TCP connection to the API server.
    type: float
    default: 5.0
  request_timeout:
    description:
      - Seconds to wait for one API response before the call counts as failed.
    type: float
    default: 30.0
  api_retries:
    description:
      - How many times a read is retried on HTTP 429, 5xx or a dropped connection, with backoff
        (honouring C(Retry-After)).
    type: int
    default: 3
"""
