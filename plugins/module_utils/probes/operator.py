# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Probes of the operator section (none registered yet)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type
