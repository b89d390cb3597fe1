# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options every module of this collection adds to kubernetes.core's connection options, and how kubeconfig files are read."""

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
      - The first call of a run (C(GET /version)) is not retried when the server accepted the connection
        but sent nothing within this time, so a silent server fails the task after one O(request_timeout).
    type: float
    default: 30.0
  api_retries:
    description:
      - How many times a read is retried on HTTP 429, 5xx, a dropped connection or a read timeout,
        with backoff (honouring C(Retry-After)). The final error says how many retries were made.
      - Not applied to the first call of a run when the connection is refused or the server never answers.
    type: int
    default: 3
notes:
  - "Kubeconfig files are found and merged as kubectl does. O(kubeconfig) may be a path, a B(list) of
    paths, paths joined by C(:) (C(;) on Windows), or a dict (an inline kubeconfig). Without it,
    E(K8S_AUTH_KUBECONFIG) is used, then E(KUBECONFIG) (paths joined by C(:)), then C(~/.kube/config)."
  - "With several kubeconfig files, the first file that defines a cluster, user or context of a given
    name wins (the whole entry), and the first file that sets C(current-context) wins: kubectl's rule,
    not the Kubernetes Python client's (where the last file wins). A missing file in E(KUBECONFIG) (or
    in a list in E(K8S_AUTH_KUBECONFIG)) is skipped; a missing file named by O(kubeconfig) is an error.
    Relative paths in a file (C(certificate-authority), C(client-certificate), C(client-key),
    C(tokenFile), an C(exec) command with a directory part) are relative to that file's directory."
  - "The context is O(context), else E(K8S_AUTH_CONTEXT), else the merged C(current-context). With
    O(host) and O(api_key), O(username) and O(password), or O(client_cert) and O(client_key), no
    kubeconfig is read. The in-cluster service account is used only when no kubeconfig file exists and
    E(KUBERNETES_SERVICE_HOST) is set."
"""
