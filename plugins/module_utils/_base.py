# -*- coding: utf-8 -*-
# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""AnsibleZenlayer: the base of every module (shared options, the client, one failure path, waiting)."""

from __future__ import annotations

import re
import time
from typing import Any, Callable, Iterator, TypeVar

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib
from ansible.module_utils.ansible_release import __version__ as ANSIBLE_VERSION

from ansible_collections.zenlayer.cloud.plugins.module_utils._api import (
    COLLECTION_VERSION,
    HAS_REQUESTS,
    REQUESTS_IMPORT_ERROR,
    ZenlayerAPIError,
    ZenlayerClient,
)

T = TypeVar("T")

ENV_PREFIX = "ZENLAYERCLOUD_"
DEFAULT_DOMAIN = "console.zenlayer.com"
MAX_API_RETRIES = 20
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN_PATTERN = re.compile(r"^%s(?:\.%s)*\.?(?::(?P<port>\d{1,5}))?$|^\[[0-9A-Fa-f:.]+\](?::(?P<port6>\d{1,5}))?$" % (_LABEL, _LABEL))


def _env(option: str) -> tuple[Any, list[str]]:
    return (env_fallback, [ENV_PREFIX + option.upper()])


ZENLAYER_ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "access_key_id": {"type": "str", "fallback": _env("access_key_id")},
    "access_key_password": {"type": "str", "no_log": True, "fallback": _env("access_key_password")},
    "access_token": {"type": "str", "no_log": True, "fallback": _env("access_token")},
    "domain": {"type": "str", "default": DEFAULT_DOMAIN, "fallback": _env("domain")},
    "scheme": {"type": "str", "default": "https", "fallback": _env("scheme")},
    "validate_certs": {"type": "bool", "default": True, "fallback": _env("validate_certs")},
    "client_timeout": {"type": "float", "default": 60.0, "fallback": _env("client_timeout")},
    "api_retries": {"type": "int", "default": 5, "fallback": _env("api_retries")},
}


def _option_names(option: str) -> str:
    return "%s (or %s%s)" % (option, ENV_PREFIX, option.upper())


def credential_error(params: dict[str, Any]) -> str | None:
    """Why the credentials given cannot work, or None. Never names a secret's value."""
    key_id, password, token = params.get("access_key_id"), params.get("access_key_password"), params.get("access_token")
    if token and (key_id or password):
        return ("both a bearer token and an access key were given: set either %s, or %s with %s, not both"
                % (_option_names("access_token"), _option_names("access_key_id"), _option_names("access_key_password")))
    if token:
        return None
    if key_id and not password:
        return "access_key_id is set but its secret is missing: set %s" % _option_names("access_key_password")
    if password and not key_id:
        return "access_key_password is set but the key id is missing: set %s" % _option_names("access_key_id")
    if not key_id:
        return ("no Zenlayer credentials: set %s and %s, or %s (module options, module_defaults for "
                "group/zenlayer.cloud.zenlayer, or environment variables)"
                % (_option_names("access_key_id"), _option_names("access_key_password"), _option_names("access_token")))
    return None


def connection_error(params: dict[str, Any]) -> str | None:
    """Why the endpoint settings are unusable, or None."""
    scheme = (params.get("scheme") or "").lower()
    if scheme not in ("https", "http"):
        return "scheme must be https or http (any case), not %r" % params.get("scheme")
    domain = params.get("domain") or ""
    match = _DOMAIN_PATTERN.match(domain)
    if not match:
        return ("domain must be a host name with an optional port, like %s or 127.0.0.1:8080 (no scheme, no path), "
                "not %r" % (DEFAULT_DOMAIN, domain))
    port = match.group("port") or match.group("port6")
    if port is not None and not 0 < int(port) < 65536:
        return "the port in domain must be 1 to 65535, not %s" % port
    if params["client_timeout"] <= 0:
        return "client_timeout must be a number of seconds above 0, not %s" % params["client_timeout"]
    if not 0 <= params["api_retries"] <= MAX_API_RETRIES:
        return "api_retries must be 0 to %d, not %s" % (MAX_API_RETRIES, params["api_retries"])
    return None


def build_client(params: dict[str, Any]) -> ZenlayerClient:
    return ZenlayerClient(
        domain=params["domain"], scheme=params["scheme"], access_key_id=params.get("access_key_id"),
        access_key_password=params.get("access_key_password"), access_token=params.get("access_token"),
        validate_certs=params["validate_certs"], timeout=params["client_timeout"], retries=params["api_retries"],
        user_agent="zenlayer.cloud/%s ansible-core/%s" % (COLLECTION_VERSION, ANSIBLE_VERSION))


class PollSchedule:
    """Waits between status polls: a short first wait growing geometrically up to a cap."""

    def __init__(self, first: float = 1.0, factor: float = 1.5, cap: float = 10.0) -> None:
        self.first, self.factor, self.cap = first, factor, cap

    def intervals(self) -> Iterator[float]:
        interval = self.first
        while True:
            yield interval
            interval = min(self.cap, interval * self.factor)


class WaitTimeout(Exception):
    def __init__(self, last: Any, waited: float, polls: int) -> None:
        super().__init__("timed out after %.0f s" % waited)
        self.last, self.waited, self.polls = last, waited, polls


def poll_until(fetch: Callable[[], T], done: Callable[[T], bool], timeout: float, *,
               schedule: PollSchedule | None = None, sleep: Callable[[float], None] = time.sleep,
               clock: Callable[[], float] = time.monotonic, fetch_first: bool = True) -> tuple[T, int]:
    """Fetch until done(value) holds; returns (value, polls). Raises WaitTimeout with the last value seen.

    `done` may raise to stop the wait at once (a terminal failure state). fetch_first=False skips the look at once,
    for a caller that has just seen the value not done (it saves one call per wait)."""
    started = clock()
    polls = 1 if fetch_first else 0
    value = fetch() if fetch_first else None
    for interval in (schedule or PollSchedule()).intervals():
        if polls and done(value):
            return value, polls
        remaining = timeout - (clock() - started)
        if remaining <= 0:
            raise WaitTimeout(value, clock() - started, polls)
        sleep(min(interval, remaining))
        value = fetch()
        polls += 1
    raise AssertionError("unreachable: intervals() never ends")


class AnsibleZenlayer:
    """Base of every zenlayer.cloud module: merges the shared options, validates them, and owns the client."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        if not HAS_REQUESTS:
            module.fail_json(msg=missing_required_lib("requests"), exception=REQUESTS_IMPORT_ERROR)
        problem = credential_error(module.params) or connection_error(module.params)
        if problem:
            module.fail_json(msg=problem)
        self.client = build_client(module.params)

    @staticmethod
    def create_module(argument_spec: dict[str, Any], **kwargs: Any) -> AnsibleModule:
        spec = dict(ZENLAYER_ARGUMENT_SPEC)
        spec.update(argument_spec)
        return AnsibleModule(argument_spec=spec, **kwargs)

    def fail_api(self, what: str, err: ZenlayerAPIError, **extra: Any) -> None:
        """The one failure path for API errors: `msg` says what failed and why; `error` holds the parts."""
        self.module.fail_json(msg="%s failed: %s" % (what, err), error=err.to_dict(), **extra)
