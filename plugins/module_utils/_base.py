# -*- coding: utf-8 -*-
# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""AnsibleZenlayer: the base of every module (shared options, settings checks, the client, the run and its one exit)."""

from __future__ import annotations

import contextlib
import os
import re
from typing import Any, Callable, Iterator

from ansible.module_utils.basic import AnsibleFallbackNotFound, AnsibleModule, missing_required_lib
from ansible.module_utils.ansible_release import __version__ as ANSIBLE_VERSION

from ansible_collections.zenlayer.cloud.plugins.module_utils._api import (
    API_VERSION,
    COLLECTION_VERSION,
    HAS_REQUESTS,
    REQUESTS_IMPORT_ERROR,
    SERVICE,
    ZenlayerAPIError,
    ZenlayerClient,
)
from ansible_collections.zenlayer.cloud.plugins.module_utils import _wait
from ansible_collections.zenlayer.cloud.plugins.module_utils._lease import (
    CancelledRun,
    Lease,
    LeaseLost,
    cancel_on_signals,
    holding,
)
from ansible_collections.zenlayer.cloud.plugins.module_utils._progress import (
    PROGRESS_ARGUMENT_SPEC,
    RESUME_FORMAT,
    Slice,
    SliceEnded,
    Waiting,
    away,
    polls_from_resume,
    polls_to_resume,
)
from ansible_collections.zenlayer.cloud.plugins.module_utils._record import (
    DEFAULT_LEASE_SECONDS,
    TAG_DENIED_CODE,
    ZRM_API_VERSION,
    ZRM_SERVICE,
    read_record,
    write_params,
)
from ansible_collections.zenlayer.cloud.plugins.module_utils._wait import Clock, Polls

ENV_PREFIX = "ZENLAYERCLOUD_"
DEFAULT_DOMAIN = "console.zenlayer.com"
MAX_API_RETRIES = 20
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN_PATTERN = re.compile(r"^%s(?:\.%s)*\.?(?::(?P<port>\d{1,5}))?$|^\[[0-9A-Fa-f:.]+\](?::(?P<port6>\d{1,5}))?$" % (_LABEL, _LABEL))


def non_empty_env(*names: str) -> str:
    """The first of these environment variables that is set and not empty: `VAR=` counts as unset."""
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    raise AnsibleFallbackNotFound


def _env(option: str) -> tuple[Any, list[str]]:
    return (non_empty_env, [ENV_PREFIX + option.upper()])


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
# The options of a module that works under a power record's lease (doc fragment zenlayer.cloud.power_record).
LEASE_ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "power_record_owner": {"type": "str"},
    "lease": {"type": "int", "default": DEFAULT_LEASE_SECONDS},
}
MIN_LEASE_SECONDS = 60
# A cancelled run gives its leases up with short calls: the job is ending, and a kill may follow.
CANCEL_CALL_TIMEOUT = 10.0


def _option_names(option: str) -> str:
    return "%s (or %s%s)" % (option, ENV_PREFIX, option.upper())


def credential_error(params: dict[str, Any]) -> str | None:
    """Why the credentials given cannot work, or None. Never names a secret's value."""
    key_id, password, token = params.get("access_key_id"), params.get("access_key_password"), params.get("access_token")
    if token and (key_id or password):
        return ("both a bearer token and an access key were given: set either %s, or %s with %s, not both"
                % (_option_names("access_token"), _option_names("access_key_id"), _option_names("access_key_password")))
    if token:
        return _header_problem(params)
    if key_id and not password:
        return "access_key_id is set but its secret is missing: set %s" % _option_names("access_key_password")
    if password and not key_id:
        return "access_key_password is set but the key id is missing: set %s" % _option_names("access_key_id")
    if not key_id:
        return ("no Zenlayer credentials: set %s and %s, or %s (module options, module_defaults for "
                "group/zenlayer.cloud.zenlayer, or environment variables)"
                % (_option_names("access_key_id"), _option_names("access_key_password"), _option_names("access_token")))
    return _header_problem(params)


def _header_problem(params: dict[str, Any]) -> str | None:
    """A key id or token that no HTTP header can carry would fail inside the HTTP library, not with a message."""
    for name in ("access_key_id", "access_token"):
        value = params.get(name)
        if value and not (value.isascii() and value.isprintable()):
            return "%s holds characters an HTTP header cannot carry (only printable ASCII): check its value" % name
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


def build_client(params: dict[str, Any], clock: Clock, service: str = SERVICE, api_version: str = API_VERSION,
                 pacer: Any = None, connections: int = 4) -> ZenlayerClient:
    return ZenlayerClient(
        domain=params["domain"], scheme=params["scheme"], access_key_id=params.get("access_key_id"),
        access_key_password=params.get("access_key_password"), access_token=params.get("access_token"),
        validate_certs=params["validate_certs"], timeout=params["client_timeout"], retries=params["api_retries"],
        user_agent="zenlayer.cloud/%s ansible-core/%s" % (COLLECTION_VERSION, ANSIBLE_VERSION), sleep=clock.sleep,
        service=service, api_version=api_version, pacer=pacer, connections=connections)


class ZenlayerError(Exception):
    """A problem a module found: its text is the failure message, `details` go into the failed result."""

    def __init__(self, msg: str, **details: Any) -> None:
        super().__init__(msg)
        self.details = details


class AnsibleZenlayer:
    """Base of every zenlayer.cloud module: it owns the module, the client, `changed`, and the one exit.

    A module declares `argument_spec` and `argument_rules` (required_if, mutually_exclusive, ... that Ansible checks
    before anything runs), checks what Ansible cannot express in `validate()`, and returns its result from
    `execute()`. Problems are raised where they are found (ZenlayerError, or the client's ZenlayerAPIError) and
    caught once, in run(). Writes go through write(): in check mode it is skipped, and `changed` is set by
    construction whenever a write was done, would be done, or may have been done."""

    argument_spec: dict[str, dict[str, Any]] = {}
    argument_rules: dict[str, Any] = {}
    # True: the module takes power_record_owner and lease, and renews that owner's records while it waits
    works_under_lease = False
    # True: the module takes progress_slice and resume (from its action plugin) and can return in slices while it
    # waits (see _progress.py); it then provides resume_state(), restore() and time_waited()
    reports_progress = False
    # Advice appended to the message of an API error with this code.
    error_hints: dict[str, str] = {}

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params: dict[str, Any] = module.params
        self.check_mode: bool = module.check_mode
        self.clock: Clock = _wait.clock_for_endpoint(self.params["domain"])
        self.changed = False
        self._client: ZenlayerClient | None = None
        self._zrm: ZenlayerClient | None = None
        self.lease: Lease | None = None
        self.slice: Slice | None = None
        self.waiting: Waiting | None = None  # the wait in progress (set by wait_polls())
        self._resumed: dict[str, Any] | None = None  # the resume of the last slice, until restore() took it
        self._resumed_wait: dict[str, Any] | None = None  # the wait that slice ended in, until wait_polls() takes it
        self._away = 0.0  # seconds between the end of the last slice and this one

    @classmethod
    def main(cls) -> None:
        spec = dict(ZENLAYER_ARGUMENT_SPEC)
        if cls.works_under_lease:
            spec.update(LEASE_ARGUMENT_SPEC)
        if cls.reports_progress:
            spec.update(PROGRESS_ARGUMENT_SPEC)
        spec.update(cls.argument_spec)
        cls(AnsibleModule(argument_spec=spec, supports_check_mode=True, **cls.argument_rules)).run()

    @property
    def client(self) -> ZenlayerClient:
        if self._client is None:
            self._client = build_client(self.params, self.clock)
        return self._client

    @property
    def zrm(self) -> ZenlayerClient:
        """The resource-manager service's client (instance tags: the power records)."""
        if self._zrm is None:
            self._zrm = build_client(self.params, self.clock, service=ZRM_SERVICE, api_version=ZRM_API_VERSION)
        return self._zrm

    # -- what a module provides --------------------------------------------------------------------------------------

    def validate(self) -> None:
        """Raise ZenlayerError for a bad combination of options that argument_rules cannot express."""

    def execute(self) -> dict[str, Any]:
        """Do the work (or predict it, in check mode) and return the result, without `changed`."""
        raise NotImplementedError

    def partial_result(self) -> dict[str, Any]:
        """What is known when a failure ends the run (for example the instances as last seen)."""
        return {}

    def leased_instances(self) -> list[str]:
        """The instances whose power record (of power_record_owner) this module renews while it waits."""
        return []

    def resume_state(self) -> dict[str, Any]:
        """(reports_progress) What the module needs to go on after this slice, beside the wait's polls: ids, what it
        must still report (the diff's before), unknown outcomes... JSON data only."""
        return {}

    def restore(self, state: dict[str, Any], away: float) -> None:
        """(reports_progress) Take up the state resume_state() gave in the last slice, which ended `away` seconds
        ago; execute() then goes straight back into the wait that slice ended in."""

    def time_waited(self) -> float:
        """(reports_progress) Seconds of wait_timeout used so far."""
        return 0.0

    # -- the run -----------------------------------------------------------------------------------------------------

    def run(self) -> None:
        try:
            with cancel_on_signals():
                self._check_settings()
                self.validate()
                self._take_up_slice()
                result = self._execute_under_lease()
        except SliceEnded:
            result = self._end_of_slice()
        except ZenlayerError as problem:
            self._fail(str(problem), **problem.details)
        except ZenlayerAPIError as err:
            self._fail(self._api_failure_message(err), error=err.to_dict())
        except LeaseLost as lost:
            self._fail("%s: that run now puts the power back; this task stops here" % lost)
        except CancelledRun as cancel:
            self._fail(self._cancelled(cancel))
        self.module.exit_json(changed=self.changed, **result)

    def _check_settings(self) -> None:
        if not HAS_REQUESTS:
            raise ZenlayerError(missing_required_lib("requests"), exception=REQUESTS_IMPORT_ERROR)
        problem = credential_error(self.params) or connection_error(self.params)
        if not problem and self.works_under_lease and self.params["lease"] < MIN_LEASE_SECONDS:
            problem = "lease must be at least %d seconds, not %s" % (MIN_LEASE_SECONDS, self.params["lease"])
        if problem:
            raise ZenlayerError(problem)

    # -- slices (see _progress.py) -----------------------------------------------------------------------------------

    def _take_up_slice(self) -> None:
        """Start the slice this run may last (progress_slice), and take up where the last slice stopped (resume).
        Check mode runs in one piece."""
        if not self.reports_progress:
            return
        resumed = self.params.get("resume")
        if resumed is not None:
            try:
                if self.check_mode or resumed.get("format") != RESUME_FORMAT:
                    raise ValueError("not a resume of this collection's format")
                self._away = away(resumed["wait"]["polls"], self.clock)
                self._resumed, self._resumed_wait = resumed, resumed["wait"]
                self.changed = bool(resumed["changed"])
                self.restore(resumed["state"], self._away)
            except (KeyError, TypeError, ValueError, AttributeError):
                raise ZenlayerError("resume is only set by this module's action plugin, from what the module returned "
                                    "at the end of a slice (and never in check mode); do not set it in a task") from None
        if self.params.get("progress_slice") is not None and not self.check_mode:
            self.slice = Slice(self.clock, self.params["progress_slice"], self._away)

    @property
    def resuming(self) -> bool:
        """Whether this run takes up where the last slice stopped."""
        return self._resumed is not None

    def resumes(self, kind: str) -> bool:
        """Whether the last slice ended in a wait of this kind that no wait of this run has taken up yet."""
        return self._resumed_wait is not None and self._resumed_wait.get("kind") == kind

    def wait_polls(self, kind: str, describe: Callable[[], tuple[str, str]]) -> Polls:
        """The polls for a wait of this kind, starting: the ones of the last slice when it ended in this wait (taken
        once), else new ones. `describe` says what the wait is for and its status, for the progress line."""
        resumed = self._resumed_wait if self.resumes(kind) else None
        self._resumed_wait = None
        polls = polls_from_resume(resumed["polls"], self._away) if resumed else Polls()
        self.waiting = Waiting(kind, polls, describe, announced=resumed is not None)
        return polls

    def _end_of_slice(self) -> dict[str, Any]:
        """The result of a slice that ended inside a wait (self.waiting): where to resume, and the progress line's
        facts. Nothing of it is the module's result: the action plugin takes both out."""
        waiting = self.waiting
        if waiting is None:  # only between_polls() ends a slice, and only inside a wait
            raise AssertionError("a slice ended outside a wait")
        resume = {"format": RESUME_FORMAT, "changed": self.changed,
                  "lease": dict(self.lease.records) if self.lease is not None else {},
                  "wait": {"kind": waiting.kind, "polls": polls_to_resume(waiting.polls, self.clock)},
                  "state": self.resume_state()}
        return {"resume": resume, "progress": self.progress(waiting)}

    def progress(self, waiting: Waiting) -> dict[str, Any]:
        """The facts of the progress line (_progress.progress_line): what is awaited and its status (the wait's
        describe()), the time waited of wait_timeout, the polls (None leaves them out of the line)."""
        subject, status = waiting.describe()
        return {"subject": subject, "status": status, "waited": self.time_waited(),
                "timeout": self.params.get("wait_timeout"), "polls": waiting.polls.made}

    # -- leases ------------------------------------------------------------------------------------------------------

    def _execute_under_lease(self) -> dict[str, Any]:
        """execute(), holding the power records of power_record_owner on leased_instances() (renewed between polls,
        given up on a cancel). Nothing is held in check mode, or when the key may not read tags."""
        owner = self.params.get("power_record_owner") if self.works_under_lease else None
        if not owner or self.check_mode:
            return self.execute()
        self.lease = Lease(owner, self.params["lease"], self.clock, self._read_record, self._renew_record)
        if self._resumed is not None:  # the records held in the last slice, as renewed: no need to read them again
            for instance_id, record in sorted((self._resumed.get("lease") or {}).items()):
                self.lease.hold(instance_id, record)
            with holding(owner, sorted(self.lease.records)):
                return self.execute()
        try:
            with self.step("Reading the power records of job %s" % owner):
                held = self.lease.claim_own(self.leased_instances())
        except ZenlayerAPIError as err:
            if err.code != TAG_DENIED_CODE and err.http_status != 404:
                raise
            held = []  # the key may not read tags, or the instance is gone: the module's own look says which
        with holding(owner, held):
            return self.execute()

    def _read_record(self, instance_id: str) -> dict[str, Any] | None:
        return read_record(self.zrm, instance_id)

    def _renew_record(self, instance_id: str, record: dict[str, Any] | None) -> None:
        """A renewal changes nothing the user owns (the power to put back stays): it is not a change of the task."""
        self.zrm.call("ModifyResourceTags", write_params(instance_id, record), safe_to_retry=True)

    def between_polls(self) -> None:
        """Work that is due between two polls of any wait: the renewal of the leases held, then the end of the slice
        (SliceEnded) when a wait starts or its next poll would come after the slice's end."""
        if self.lease is not None and self.lease.records:
            try:
                self.lease.renew_due()
            except ZenlayerAPIError:
                pass  # tried again at the next poll: a lease is renewed with a third of it left
        if self.slice is not None and self.waiting is not None and self.slice.over(self.waiting):
            raise SliceEnded()

    def _cancelled(self, cancel: CancelledRun) -> str:
        given_up = []
        if self.lease is not None:
            quick = build_client(dict(self.params, client_timeout=min(CANCEL_CALL_TIMEOUT, self.params["client_timeout"]),
                                      api_retries=1), self.clock, service=ZRM_SERVICE, api_version=ZRM_API_VERSION)
            given_up = self.lease.lapse_all(lambda instance_id, record: quick.call(
                "ModifyResourceTags", write_params(instance_id, record), safe_to_retry=True))
        if given_up:
            return ("%s: the power records of %s were given up (their power to put back kept), so the next run puts the "
                    "power back at once" % (cancel, ", ".join(given_up)))
        return "%s; no power record was held by this task" % cancel

    def _fail(self, msg: str, **details: Any) -> None:
        failed = self.partial_result()
        failed.update(details)
        self.module.fail_json(msg=msg, changed=self.changed, **failed)

    def _api_failure_message(self, err: ZenlayerAPIError) -> str:
        doing = err.doing or "The %s call" % (err.action or "API")
        hint = self.error_hints.get(err.code or "")
        return "%s failed: %s%s" % (doing, err, "; " + hint if hint else "")

    @contextlib.contextmanager
    def step(self, doing: str) -> Iterator[None]:
        """Name what the code inside does, for the message of an API error raised inside it (the innermost wins)."""
        try:
            yield
        except ZenlayerAPIError as err:
            err.doing = err.doing or doing
            raise

    # -- changes -----------------------------------------------------------------------------------------------------

    def _mark_as_changed(self) -> None:
        self.changed = True

    def write(self, action: str, params: dict[str, Any], *, safe_to_retry: bool = False,
              client: ZenlayerClient | None = None) -> dict[str, Any] | None:
        """Send a write, or in check mode only count it. None in check mode, else the answer's payload.

        `changed` becomes true when the write is done, would be done (check mode), or may have been done (its
        answer was lost): a failure after it then reports changed: true without any module having to remember."""
        if self.check_mode:
            self._mark_as_changed()
            return None
        try:
            payload = (client or self.client).call(action, params, safe_to_retry=safe_to_retry)
        except ZenlayerAPIError as err:
            if err.outcome_unknown:
                self._mark_as_changed()
            raise
        except CancelledRun:
            self._mark_as_changed()  # cancelled while the write was on its way: it may have been done
            raise
        self._mark_as_changed()
        return payload
