# -*- coding: utf-8 -*-
# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  access_key_id:
    description:
      - The Zenlayer Cloud access key ID, used with O(access_key_password) to sign every request (ZC2-HMAC-SHA256).
      - If not set, the environment variable E(ZENLAYERCLOUD_ACCESS_KEY_ID) is used.
      - Give either O(access_key_id) with O(access_key_password), or O(access_token), not both.
    type: str
  access_key_password:
    description:
      - The secret of the access key O(access_key_id). It is never sent, only used to sign.
      - If not set, the environment variable E(ZENLAYERCLOUD_ACCESS_KEY_PASSWORD) is used.
    type: str
  access_token:
    description:
      - A Zenlayer Cloud personal access token, sent as a bearer token instead of signing with an access key.
      - If not set, the environment variable E(ZENLAYERCLOUD_ACCESS_TOKEN) is used.
    type: str
  domain:
    description:
      - The API host name, optionally with a port, without scheme or path.
      - Point it at the local emulator (for example V(127.0.0.1:8080)) to test playbooks offline.
      - If not set, the environment variable E(ZENLAYERCLOUD_DOMAIN) is used.
    type: str
    default: console.zenlayer.com
  scheme:
    description:
      - V(https) or V(http), in any case.
      - If not set, the environment variable E(ZENLAYERCLOUD_SCHEME) is used.
    type: str
    default: https
  validate_certs:
    description:
      - Whether to verify the API's TLS certificate. Set it to V(false) only for a trusted test endpoint.
      - If not set, the environment variable E(ZENLAYERCLOUD_VALIDATE_CERTS) is used.
    type: bool
    default: true
  client_timeout:
    description:
      - Seconds to wait for each HTTP request (connecting takes at most 10 of them). Must be above 0.
      - If not set, the environment variable E(ZENLAYERCLOUD_CLIENT_TIMEOUT) is used.
    type: float
    default: 60
  api_retries:
    description:
      - How many times a call is retried after throttling (HTTP 429) or a transient failure (5xx, a refused or
        broken connection, a read timeout), with capped exponential backoff and jitter. V(0) to V(20).
      - A call that changes something is only retried when the failure proves it was not done; otherwise the
        module first looks whether it was done.
      - If not set, the environment variable E(ZENLAYERCLOUD_API_RETRIES) is used.
    type: int
    default: 5
requirements:
  - python >= 3.9
  - requests
notes:
  - "The module talks to the Zenlayer Cloud API from the host it runs on: run it on C(localhost) or with
    C(delegate_to: localhost)."
  - All modules of the collection are in the action group C(zenlayer.cloud.zenlayer), so credentials can be set
    once with C(module_defaults).
"""
