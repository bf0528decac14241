#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: zenlayer_instance_power_record
short_description: Keep on a Zenlayer Cloud VM instance the power state it must be put back to
version_added: 0.2.0
author: zenlayer.cloud maintainers (@zenlayer-cloud)
description:
  - Before a job stops an instance to work on it (to image it, for example), it records on the instance itself which
    power state to put back afterwards, and removes the record once the power is back. The record outlives the job -
    a job that is cancelled, killed or times out leaves it behind, and the next job finds it and puts the power back
    first, even when it has nothing else to do.
  - The record is the instance tag C(zenlayer-cloud-power-record), set and removed with the resource-manager
    service's C(ModifyResourceTags); no other tag is touched. Its value holds the power state, when it was taken, when
    it expires, and its owner (the job).
  - The record is also a lease on the instance - who is working on it, until C(expires). Only the lease expires; what
    to put back stays until the power is back. The job holding it renews it while it waits (the modules of the role
    do, see their O(zenlayer.cloud.zenlayer_instance_power#module:power_record_owner) option), by O(lease) seconds each
    time. A second job waits for a lease that is alive (O(wait_timeout)), or fails naming its holder and when it was
    last seen renewed. A lease that was given up (O(state=lapsed), or a cancelled module) or not renewed in time is
    taken over at once, and the power it records is put back first. Take over a live one with O(take_over=true) only
    when you know its job is gone.
  - Expiry is judged on the clock of the machine that reads the record, with a margin of 60 seconds for the distance
    between two controllers' clocks - a lease is live until C(expires) + 60 s. We chose the controllers' clocks over
    the API's C(Date) header because the Zenlayer API does not document one, and controllers (AWX nodes) keep their
    clocks synchronised; keep yours within a minute.
  - With O(watchdog=true), when the module runs on the controller (C(connection=local), as the role's tasks do), a
    small process outlives the task and gives the record up as soon as the job's C(ansible-playbook) ends without
    removing it - cancelled between two tasks, or killed - unless a module of the job is still working on the
    instance. Removing the record (O(state=absent) or O(state=lapsed)) ends it.
  - When the access key may not tag instances, the module says so in a warning, keeps nothing, and reports
    RV(recorded=false); the caller carries on with what it can do without the record.
  - The role C(zenlayer.cloud.image_from_instance) uses this module; use it yourself around any task that stops an
    instance.
options:
  instance_id:
    description: The instance.
    type: str
    required: true
  state:
    description:
      - V(present) takes the record (writes it, or renews or takes over the one there) with a lease of O(lease) seconds.
      - V(absent) removes the record of O(owner) once the power is back, or a lapsed one. A record of another owner
        whose lease is live is only removed with O(take_over=true).
      - V(lapsed) gives the lease up and keeps the record - what it says to put back - so that the next job puts the
        power back at once (a job that could not put it back uses it).
      - On an instance that no longer exists, V(absent) and V(lapsed) do nothing.
    type: str
    choices: [present, absent, lapsed]
    default: present
  owner:
    description:
      - Who holds the record, for example the AWX job id. 1 to 30 letters, digits, V(-) or V(_).
    type: str
    required: true
  power:
    description:
      - The power state to put back, with O(state=present), when the instance has no record yet.
      - V(current) records the state the instance is in now (V(STOPPED), V(STOPPING) and V(IMAGING) count as
        V(stopped), every other state as V(running)).
      - A record already there (expired, taken over, or the owner's own) keeps the power state it holds - that is the
        state the instance was in before the first job stopped it.
    type: str
    choices: [current, running, stopped]
    default: current
  lease:
    description:
      - Seconds, from now, the lease lasts with O(state=present) (at least 60). The holder renews it while it works;
        one that is not renewed lapses after this long (plus the 60 s margin for clocks).
      - O(lease=0) (or its old name O(lifetime=0)) is O(state=lapsed).
    type: int
    default: 300
    aliases: [lifetime]
  take_over:
    description:
      - Take (or remove) a record of another owner that has not expired yet. Only when you know its job is gone.
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait for the live lease of another owner to be removed or to lapse, before failing. V(0) fails at
        once.
      - Defaults to O(lease) + 60 - a holder that stopped renewing has lapsed by then, so only a job that is alive
        (it keeps renewing) makes the wait fail.
    type: int
  watchdog:
    description:
      - With O(state=present), start the watchdog described above. Only when this module runs on the controller
        (C(connection=local)); elsewhere it is ignored.
    type: bool
    default: false
  controller_pid:
    description:
      - Set by this module's action plugin, not by hand - the process id of the job's C(ansible-playbook), which the
        watchdog watches.
    type: int
extends_documentation_fragment:
  - zenlayer.cloud.zenlayer
attributes:
  check_mode:
    support: full
    description: Reads the record and reports what a real run would write, without writing it.
  diff_mode:
    support: full
    description: Shows the record before and after.
requirements:
  - python >= 3.9
  - requests
seealso:
  - module: zenlayer.cloud.zenlayer_instance_power
  - module: zenlayer.cloud.zenlayer_image
"""

EXAMPLES = r"""
- name: Record that the instance must be put back to the power it has now (a lease of 5 minutes, renewed while you work)
  zenlayer.cloud.zenlayer_instance_power_record:
    instance_id: "{{ instance_id }}"
    owner: "{{ awx_job_id | default('manual') }}"
    watchdog: true
  register: record

- name: A record left by a job that was cancelled is put back first
  zenlayer.cloud.zenlayer_instance_power:
    instance_ids: ["{{ instance_id }}"]
    state: "{{ record.previous.power }}"
  when: record.previous is not none

- name: Remove the record once the power is back
  zenlayer.cloud.zenlayer_instance_power_record:
    instance_id: "{{ instance_id }}"
    owner: "{{ awx_job_id | default('manual') }}"
    state: absent
"""

RETURN = r"""
record:
  description: The record after the task (predicted in check mode); V(null) when there is none.
  returned: always
  type: dict
  contains:
    power:
      description: The power state to put back, V(running) or V(stopped).
      type: str
      sample: running
    since:
      description: When the record was taken, in unix seconds.
      type: int
      sample: 1796020000
    expires:
      description: When its lease lapses, in unix seconds; V(0) when its holder gave it up.
      type: int
      sample: 1796022400
    owner:
      description: Who holds it.
      type: str
      sample: "4711"
    live:
      description: Whether its lease holds (on this machine's clock, with the 60 s margin).
      type: bool
      sample: true
    stale:
      description: The opposite of RV(record.live) - its holder gave it up or stopped renewing it, so any job takes it over.
      type: bool
      sample: false
previous:
  description:
    - The record found before the task, with the same keys as RV(record); V(null) when there was none.
    - When it is not the caller's own, the power it holds must be put back first.
  returned: always
  type: dict
recorded:
  description: Whether the record is kept in the cloud; V(false) when the access key may not tag instances.
  returned: always
  type: bool
  sample: true
diff:
  description: The record before and after.
  returned: always
  type: dict
"""

import time
from typing import Any

from ansible_collections.zenlayer.cloud.plugins.module_utils._api import ZenlayerAPIError
from ansible_collections.zenlayer.cloud.plugins.module_utils._base import (
    CANCEL_CALL_TIMEOUT,
    MIN_LEASE_SECONDS,
    AnsibleZenlayer,
    ZenlayerError,
    build_client,
)
from ansible_collections.zenlayer.cloud.plugins.module_utils._instance import instance_statuses
from ansible_collections.zenlayer.cloud.plugins.module_utils._lease import Lease, end_watch, lock_timeout, start_watchdog
from ansible_collections.zenlayer.cloud.plugins.module_utils._record import (
    DEFAULT_LEASE_SECONDS,
    TAG_DENIED_CODE,
    ZRM_API_VERSION,
    ZRM_SERVICE,
    is_live,
    lapse,
    owner_problem,
    power_to_restore,
    read_record,
    shape_record,
    write_params,
)
from ansible_collections.zenlayer.cloud.plugins.module_utils._wait import POWER_WAIT, WaitTimeout, poll_until

TAG_DENIED_WARNING = ("the access key may not tag instance %s (%s), so no power record is kept: if this job is "
                      "cancelled or killed while the instance is stopped, nothing tells the next job to put it back. "
                      "Allow the key to call the resource-manager service's ModifyResourceTags to have that guarantee")


class InstancePowerRecord(AnsibleZenlayer):
    argument_spec = {
        "instance_id": {"type": "str", "required": True},
        "state": {"type": "str", "choices": ["present", "absent", "lapsed"], "default": "present"},
        "owner": {"type": "str", "required": True},
        "power": {"type": "str", "choices": ["current", "running", "stopped"], "default": "current"},
        "lease": {"type": "int", "default": DEFAULT_LEASE_SECONDS, "aliases": ["lifetime"]},
        "take_over": {"type": "bool", "default": False},
        "wait_timeout": {"type": "int"},
        "watchdog": {"type": "bool", "default": False},
        "controller_pid": {"type": "int"},
    }

    def __init__(self, module: Any) -> None:
        super().__init__(module)
        self.instance_id: str = self.params["instance_id"]
        self.owner: str = self.params["owner"]
        self.state: str = "lapsed" if self.params["lease"] == 0 else self.params["state"]
        self._renewal_seen: float | None = None  # when this run saw another holder renew its lease

    def validate(self) -> None:
        problem = owner_problem(self.owner)
        if problem:
            raise ZenlayerError(problem)
        if self.state == "present" and self.params["lease"] < MIN_LEASE_SECONDS:
            raise ZenlayerError("lease must be at least %d seconds (or 0: state=lapsed), not %s"
                                % (MIN_LEASE_SECONDS, self.params["lease"]))
        if (self.params["wait_timeout"] or 0) < 0:
            raise ZenlayerError("wait_timeout must be 0 or more seconds, not %s" % self.params["wait_timeout"])

    def execute(self) -> dict[str, Any]:
        try:
            previous = self._read()
        except ZenlayerAPIError as err:
            if err.http_status == 404 and self.state != "present":
                return {"record": None, "previous": None, "recorded": False, "diff": {"before": {}, "after": {}}}
            if err.code != TAG_DENIED_CODE:
                raise
            return self._not_recorded(err)
        wanted = {"present": self._claimed, "absent": self._released, "lapsed": self._lapsed}[self.state](previous)
        self._hold(wanted)
        if wanted != previous:
            try:
                with self.step("Writing the power record of instance %s" % self.instance_id):
                    # setting or removing one tag to one value: a repeat does no harm
                    self.write("ModifyResourceTags", write_params(self.instance_id, wanted), client=self.zrm,
                               safe_to_retry=True)
            except ZenlayerAPIError as err:
                if err.code != TAG_DENIED_CODE:
                    raise
                return self._not_recorded(err, previous)
        self._watch(wanted)
        now = self.clock.time()
        return {"record": shape_record(wanted, now), "previous": shape_record(previous, now), "recorded": True,
                "diff": {"before": shape_record(previous, now) or {}, "after": shape_record(wanted, now) or {}}}

    def _not_recorded(self, err: ZenlayerAPIError, previous: dict[str, Any] | None = None) -> dict[str, Any]:
        self.module.warn(TAG_DENIED_WARNING % (self.instance_id, err.code))
        shaped = shape_record(previous, self.clock.time())
        return {"record": shaped, "previous": shaped, "recorded": False, "diff": {"before": {}, "after": {}}}

    def _read(self) -> dict[str, Any] | None:
        with self.step("Reading the power record of instance %s" % self.instance_id):
            return read_record(self.zrm, self.instance_id)

    def _held_by_another(self, record: dict[str, Any] | None) -> bool:
        return (record is not None and record["owner"] != self.owner and is_live(record, self.clock.time())
                and not self.params["take_over"])

    # -- claiming ----------------------------------------------------------------------------------------------------

    def _claimed(self, previous: dict[str, Any] | None) -> dict[str, Any]:
        if self._held_by_another(previous):
            previous = self._wait_for_the_holder(previous)
        now = int(self.clock.time())
        own = previous is not None and previous["owner"] == self.owner
        return {"power": previous["power"] if previous else self._power_now(),
                "since": previous["since"] if own else now,
                "expires": now + self.params["lease"], "owner": self.owner}

    def _wait_for_the_holder(self, record: dict[str, Any]) -> dict[str, Any] | None:
        """The record once no live lease of another owner holds it, after waiting up to wait_timeout; else fail
        naming the holder and when this run last saw it renew its lease."""
        timeout = self.params["wait_timeout"]
        timeout = lock_timeout(self.params["lease"]) if timeout is None else timeout
        started, last = self.clock.time(), [record]

        def lapsed_or_released(found: dict[str, Any] | None) -> bool:
            if found is not None and found["expires"] > last[0]["expires"] and found["owner"] == last[0]["owner"]:
                self._renewal_seen = self.clock.time()
            last[0] = found or last[0]
            return not self._held_by_another(found)

        try:
            with self.step("Waiting for the power record of instance %s to be released" % self.instance_id):
                return poll_until(self._read, lapsed_or_released, timeout, schedule=POWER_WAIT, clock=self.clock,
                                  fetch_first=False)
        except WaitTimeout:
            raise ZenlayerError(self._held_message(last[0], started, timeout), previous=shape_record(last[0], self.clock.time()))

    def _held_message(self, held: dict[str, Any], started: float, waited: int) -> str:
        renewal = ("it renewed its lease at %s, seen while this run waited" % _utc(self._renewal_seen)
                   if self._renewal_seen else "no renewal seen in the %d s this run waited since %s" % (waited, _utc(started)))
        return ("instance %s is held by job %s since %s, its lease live until %s (+60 s margin for clocks); %s. It says "
                "to put the instance back %s. Wait for that job; when you know it is gone (cancelled, killed), take the "
                "record over with take_over=true (the role: image_from_instance_take_over=true)"
                % (self.instance_id, held["owner"], _utc(held["since"]), _utc(held["expires"]), renewal, held["power"]))

    def _power_now(self) -> str:
        if self.params["power"] != "current":
            return self.params["power"]
        with self.step("Reading the power state of instance %s" % self.instance_id):
            status = instance_statuses(self.client, [self.instance_id]).get(self.instance_id)
        if status is None:
            raise ZenlayerError("instance %s was not found; check instance_id" % self.instance_id)
        return power_to_restore(status)

    # -- giving up -----------------------------------------------------------------------------------------------------

    def _refuse_other_live_owner(self, previous: dict[str, Any] | None, doing: str) -> None:
        if self._held_by_another(previous):
            raise ZenlayerError("the power record of instance %s belongs to job %s, whose lease is live, not to %s: it is "
                                "not %s (it says to put the instance back %s). Do it with take_over=true once that job "
                                "is gone" % (self.instance_id, previous["owner"], self.owner, doing, previous["power"]),
                                previous=shape_record(previous, self.clock.time()))

    def _released(self, previous: dict[str, Any] | None) -> dict[str, Any] | None:
        # A lapsed record is nobody's: it is removed too (and a take-over just written may not be visible yet, so
        # the record read back can still be the lapsed one this owner took over).
        self._refuse_other_live_owner(previous, "removed")
        return None

    def _lapsed(self, previous: dict[str, Any] | None) -> dict[str, Any] | None:
        self._refuse_other_live_owner(previous, "given up")
        if previous is None and self.params["power"] == "current":
            return None  # nothing recorded, nothing to put back
        now = int(self.clock.time())
        record = previous or {"power": self.params["power"], "since": now, "expires": now, "owner": self.owner}
        return lapse(record)

    # -- the lease and its watchdog --------------------------------------------------------------------------------------

    def _hold(self, record: dict[str, Any] | None) -> None:
        """From the moment it is written, a claimed record is held: a cancel before this task ends gives it up."""
        if self.state == "present" and record is not None and not self.check_mode:
            self.lease = Lease(self.owner, self.params["lease"], self.clock, self._read_record, self._renew_record)
            self.lease.hold(self.instance_id, record)

    def _watch(self, record: dict[str, Any] | None) -> None:
        if self.state != "present":
            end_watch(self.owner, self.instance_id)
        elif record and self.params["watchdog"] and self.params["controller_pid"] and not self.check_mode:
            start_watchdog(self.owner, self.instance_id, self.params["controller_pid"], self._give_up_after_the_job)

    def _give_up_after_the_job(self) -> None:
        """Run by the watchdog (a process of its own) once the job is gone: give the lease up if it is still ours."""
        quick = build_client(dict(self.params, client_timeout=min(CANCEL_CALL_TIMEOUT, self.params["client_timeout"]),
                                  api_retries=2), self.clock, service=ZRM_SERVICE, api_version=ZRM_API_VERSION)
        record = read_record(quick, self.instance_id)
        if record is not None and record["owner"] == self.owner and is_live(record, self.clock.time()):
            quick.call("ModifyResourceTags", write_params(self.instance_id, lapse(record)), safe_to_retry=True)


def _utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def main() -> None:
    InstancePowerRecord.main()


if __name__ == "__main__":
    main()
