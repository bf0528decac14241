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
  - Until it expires, a record is also a lock - a second job does not take an instance another job holds. It waits
    (O(wait_timeout)), or fails naming the owner and since when. The owner's own time limits bound how long it may need
    the instance (O(lifetime)), so once a record has expired its job is gone, and any job may take it over. Take over
    a record that has not expired with O(take_over=true), when you know its job is gone.
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
      - V(present) takes the record (writes it, or renews or takes over the one there).
      - V(absent) removes the record of O(owner) once the power is back, or an expired one. A record of another owner
        that has not expired is only removed with O(take_over=true).
      - On an instance that no longer exists, V(absent) and O(lifetime=0) do nothing.
    type: str
    choices: [present, absent]
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
  lifetime:
    description:
      - Seconds, from now, the owner may hold the instance, with O(state=present) - the sum of its own time limits.
        After that the record has expired and another job takes it over.
      - V(0) gives the record up at once while keeping it - a job that could not put the power back uses it, so the
        next job does that without waiting.
    type: int
    default: 3600
  take_over:
    description:
      - Take (or remove) a record of another owner that has not expired yet. Only when you know its job is gone.
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait for a record of another owner to be removed or to expire, before failing. V(0) fails at once.
    type: int
    default: 0
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
- name: Record that the instance must be put back to the power it has now, for at most 40 minutes
  zenlayer.cloud.zenlayer_instance_power_record:
    instance_id: "{{ instance_id }}"
    owner: "{{ awx_job_id | default('manual') }}"
    lifetime: 2400
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
      description: When it expires, in unix seconds.
      type: int
      sample: 1796022400
    owner:
      description: Who holds it.
      type: str
      sample: "4711"
    stale:
      description: Whether it has expired (its job is gone).
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

from ansible_collections.zenlayer.cloud.plugins.module_utils._api import ZenlayerAPIError, ZenlayerClient
from ansible_collections.zenlayer.cloud.plugins.module_utils._base import AnsibleZenlayer, ZenlayerError, build_client
from ansible_collections.zenlayer.cloud.plugins.module_utils._instance import instance_statuses
from ansible_collections.zenlayer.cloud.plugins.module_utils._record import (
    TAG_DENIED_CODE,
    ZRM_API_VERSION,
    ZRM_SERVICE,
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
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        "owner": {"type": "str", "required": True},
        "power": {"type": "str", "choices": ["current", "running", "stopped"], "default": "current"},
        "lifetime": {"type": "int", "default": 3600},
        "take_over": {"type": "bool", "default": False},
        "wait_timeout": {"type": "int", "default": 0},
    }

    def __init__(self, module: Any) -> None:
        super().__init__(module)
        self.instance_id: str = self.params["instance_id"]
        self.owner: str = self.params["owner"]
        self._zrm: ZenlayerClient | None = None

    @property
    def zrm(self) -> ZenlayerClient:
        if self._zrm is None:
            self._zrm = build_client(self.params, self.clock, service=ZRM_SERVICE, api_version=ZRM_API_VERSION)
        return self._zrm

    def validate(self) -> None:
        problem = owner_problem(self.owner)
        if problem:
            raise ZenlayerError(problem)
        if self.params["lifetime"] < 0 or self.params["wait_timeout"] < 0:
            raise ZenlayerError("lifetime and wait_timeout must be 0 or more seconds, not %s and %s"
                                % (self.params["lifetime"], self.params["wait_timeout"]))

    def execute(self) -> dict[str, Any]:
        try:
            previous = self._read()
        except ZenlayerAPIError as err:
            if err.http_status == 404 and self._nothing_to_keep():
                return {"record": None, "previous": None, "recorded": False, "diff": {"before": {}, "after": {}}}
            if err.code != TAG_DENIED_CODE:
                raise
            return self._not_recorded(err)
        wanted = self._claimed(previous) if self.params["state"] == "present" else self._released(previous)
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
        now = self.clock.time()
        return {"record": shape_record(wanted, now), "previous": shape_record(previous, now), "recorded": True,
                "diff": {"before": shape_record(previous, now) or {}, "after": shape_record(wanted, now) or {}}}

    def _not_recorded(self, err: ZenlayerAPIError, previous: dict[str, Any] | None = None) -> dict[str, Any]:
        self.module.warn(TAG_DENIED_WARNING % (self.instance_id, err.code))
        shaped = shape_record(previous, self.clock.time())
        return {"record": shaped, "previous": shaped, "recorded": False, "diff": {"before": {}, "after": {}}}

    def _nothing_to_keep(self) -> bool:
        """A record removed or given up (lifetime 0) on an instance that is gone: there is nothing left to keep."""
        return self.params["state"] == "absent" or self.params["lifetime"] == 0

    def _read(self) -> dict[str, Any] | None:
        with self.step("Reading the power record of instance %s" % self.instance_id):
            return read_record(self.zrm, self.instance_id)

    def _held_by_another(self, record: dict[str, Any] | None) -> bool:
        return (record is not None and record["owner"] != self.owner and record["expires"] > self.clock.time()
                and not self.params["take_over"])

    def _wait_for_the_holder(self, record: dict[str, Any]) -> dict[str, Any] | None:
        """The record once no other live owner holds it, after waiting up to wait_timeout; else fail naming it."""
        try:
            with self.step("Waiting for the power record of instance %s to be released" % self.instance_id):
                return poll_until(self._read, lambda found: not self._held_by_another(found), self.params["wait_timeout"],
                                  schedule=POWER_WAIT, clock=self.clock, fetch_first=False)
        except WaitTimeout as timeout:
            held = timeout.last or record
            raise ZenlayerError(
                "instance %s is held by job %s since %s until %s (its power record says to put it back %s): another job "
                "is working on it. Wait for that job, or when you know it is gone (cancelled, killed), take the "
                "record over with take_over=true (the role: image_from_instance_take_over=true)"
                % (self.instance_id, held["owner"], _utc(held["since"]), _utc(held["expires"]), held["power"]),
                previous=shape_record(held, self.clock.time()))

    def _claimed(self, previous: dict[str, Any] | None) -> dict[str, Any]:
        if self._held_by_another(previous):
            previous = self._wait_for_the_holder(previous)
        now = int(self.clock.time())
        own = previous is not None and previous["owner"] == self.owner
        return {"power": previous["power"] if previous else self._power_now(),
                "since": previous["since"] if own else now,
                "expires": now + self.params["lifetime"], "owner": self.owner}

    def _power_now(self) -> str:
        if self.params["power"] != "current":
            return self.params["power"]
        with self.step("Reading the power state of instance %s" % self.instance_id):
            status = instance_statuses(self.client, [self.instance_id]).get(self.instance_id)
        if status is None:
            raise ZenlayerError("instance %s was not found; check instance_id" % self.instance_id)
        return power_to_restore(status)

    def _released(self, previous: dict[str, Any] | None) -> dict[str, Any] | None:
        # An expired record is nobody's: it is removed too (and a take-over just written may not be visible yet, so
        # the record read back can still be the expired one this owner took over).
        if (previous is not None and previous["owner"] != self.owner and previous["expires"] > self.clock.time()
                and not self.params["take_over"]):
            raise ZenlayerError("the power record of instance %s belongs to job %s, not %s: it is not removed (it says "
                                "to put the instance back %s). Remove it with take_over=true once that is done"
                                % (self.instance_id, previous["owner"], self.owner, previous["power"]),
                                previous=shape_record(previous, self.clock.time()))
        return None


def _utc(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def main() -> None:
    InstancePowerRecord.main()


if __name__ == "__main__":
    main()
