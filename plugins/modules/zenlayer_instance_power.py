#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: zenlayer_instance_power
short_description: Start, stop or restart Zenlayer Cloud VM instances
version_added: 0.1.0
description:
  - Puts one or many Zenlayer Cloud VM instances in a power state (running, stopped) or restarts them.
  - Idempotent. An instance already in the state asked is left alone and reported unchanged.
  - An instance in a transitional state (for example V(STOPPING), V(BOOTING), V(PENDING)) is waited out first,
    then acted on. This wait happens even with O(wait=false) when an action must follow it.
  - An instance whose system disk is being imaged (V(IMAGING)) counts as powered off. Stopping it does nothing.
    Starting it waits for the image to finish, or fails with a message that names the image.
  - An instance in a state no power action can start from (V(RECYCLE), V(RECYCLING), V(RELEASING),
    V(CREATE_FAILED), or any unknown state) makes the module fail before it sends any change.
  - The API has no restart action. O(state=restarted) stops the instance, waits for V(STOPPED), then starts it.
  - All status checks are batched, one C(DescribeInstancesStatus) call per 100 instances per poll. Start and stop
    requests are sent in chunks of 100, the most the API takes in one call.
author: zenlayer.cloud maintainers (@zenlayer-cloud)
options:
  instance_ids:
    description:
      - IDs of the instances. Duplicates are ignored. An empty list does nothing.
    type: list
    elements: str
    required: true
    aliases: [instance_id]
  state:
    description:
      - V(running) starts stopped instances, V(stopped) shuts running instances down.
      - V(restarted) stops every running instance and starts it again; a stopped instance is only started.
        It always reports a change.
    type: str
    required: true
    choices: [running, stopped, restarted]
  force_shutdown:
    description:
      - Whether a shutdown is forced (like pulling the power cord) instead of graceful.
      - Always sent explicitly with every stop request, because the API forces the shutdown when the field is left out.
    type: bool
    default: false
  wait:
    description:
      - Whether to wait until every instance has reached the state asked (V(RUNNING) or V(STOPPED)).
      - With V(false) the module returns once the requests are accepted; instances then report V(STOPPING) or
        V(BOOTING).
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds, above 0, the module may spend waiting in total (for transitional states, for the stop of a restart, for the
        final state). The module fails when they run out, with the statuses last seen.
    type: int
    default: 600
extends_documentation_fragment:
  - zenlayer.cloud.zenlayer
attributes:
  check_mode:
    description: Reads the instances and predicts the outcome without sending any start or stop request.
    support: full
  diff_mode:
    description: Shows each instance's status before and after.
    support: full
notes:
  - To image an instance, use the role C(zenlayer.cloud.image_from_instance) (it stops, images and restores power),
    or this module with O(state=stopped) before M(zenlayer.cloud.zenlayer_image).
seealso:
  - module: zenlayer.cloud.zenlayer_instance_info
  - module: zenlayer.cloud.zenlayer_image
"""

EXAMPLES = r"""
- name: Shut an instance down gracefully and wait until it is stopped
  zenlayer.cloud.zenlayer_instance_power:
    instance_id: "{{ instance_id }}"
    state: stopped

- name: Start a whole fleet (sent in chunks of 100, one status call per 100 per poll)
  zenlayer.cloud.zenlayer_instance_power:
    instance_ids: "{{ groups['web'] | map('extract', hostvars, 'zenlayer_instance_id') | list }}"
    state: running
    wait_timeout: 900

- name: Power-cycle a hung instance
  zenlayer.cloud.zenlayer_instance_power:
    instance_ids:
      - 1234567890123456789
    state: restarted
    force_shutdown: true

- name: Each inventory host is an instance; the API is called from the controller
  zenlayer.cloud.zenlayer_instance_power:
    instance_id: "{{ zenlayer_instance_id }}"
    state: stopped
  delegate_to: localhost
"""

RETURN = r"""
instances:
  description:
    - The instances, in the order of O(instance_ids), with the status they had when the module returned
      (predicted in check mode).
  returned: always
  type: list
  elements: dict
  contains:
    instance_id:
      description: The instance ID.
      type: str
      sample: "1234567890123456789"
    instance_name:
      description: The instance name.
      type: str
      sample: web-1
    instance_status:
      description: The power status, for example V(RUNNING), V(STOPPED), V(STOPPING), V(BOOTING), V(IMAGING).
      type: str
      sample: STOPPED
    zone_id:
      description: The zone of the instance.
      type: str
      sample: HKG-A
    image_id:
      description: The image the instance was created from.
      type: str
      returned: when known
    image_name:
      description: The name of the image the instance was created from.
      type: str
      returned: when known
    cpu_count:
      description: Number of vCPUs.
      type: int
      returned: when known
    memory:
      description: Memory in GB.
      type: int
      returned: when known
    public_ip_addresses:
      description: Public IPv4 addresses.
      type: list
      elements: str
      returned: when known
    private_ip_addresses:
      description: Private IPv4 addresses.
      type: list
      elements: str
      returned: when known
    create_time:
      description: When the instance was created (UTC, ISO 8601).
      type: str
      returned: when known
    expired_time:
      description: When a subscription instance expires.
      type: str
      returned: when known
    system_disk:
      description: The system disk (disk_id, disk_size in GB, disk_category).
      type: dict
      returned: when known
"""

import time
from typing import Any, Callable

from ansible_collections.zenlayer.cloud.plugins.module_utils._api import ZenlayerAPIError, ZenlayerOutcomeUnknown
from ansible_collections.zenlayer.cloud.plugins.module_utils._base import AnsibleZenlayer, WaitTimeout, poll_until
from ansible_collections.zenlayer.cloud.plugins.module_utils._instance import (
    BOOTING,
    IMAGING,
    POWERED_OFF_STATUSES,
    RUNNING,
    SETTLES_TO,
    STOPPED,
    STOPPING,
    chunks,
    creating_images_in_zone,
    describe_instances,
    instance_statuses,
    shape_instance,
    why_unactionable,
)

TARGET_STATUS = {"running": RUNNING, "stopped": STOPPED, "restarted": RUNNING}


class PowerError(Exception):
    """A condition the module cannot act through; its text is the failure message."""


def power_plan(state: str, status: str) -> list[str]:
    """The actions ("stop", "start") that take an instance in a settled status to the state asked."""
    if state == "stopped":
        return ["stop"] if status == RUNNING else []
    if state == "running":
        return ["start"] if status in POWERED_OFF_STATUSES else []
    return ["stop", "start"] if status == RUNNING else ["start"]


def satisfies(state: str, status: str | None) -> bool:
    """Whether a status is the end of the road for the state asked (IMAGING is powered off)."""
    if state == "stopped":
        return status in POWERED_OFF_STATUSES
    return status == RUNNING


class InstancePower(AnsibleZenlayer):

    def __init__(self, module: Any) -> None:
        super().__init__(module)
        if module.params["wait_timeout"] <= 0:
            module.fail_json(msg="wait_timeout must be a number of seconds above 0, not %s" % module.params["wait_timeout"])
        self.state: str = module.params["state"]
        self.instance_ids = list(dict.fromkeys(module.params["instance_ids"] or []))
        self.deadline = time.monotonic() + module.params["wait_timeout"]
        self.raw: dict[str, dict[str, Any]] = {}
        self.statuses: dict[str, str] = {}
        self.changed = False
        self.step = "Reading the instances"

    # -- reading ---------------------------------------------------------------------------------------------------

    def _fetch(self) -> None:
        if not self.instance_ids:
            return  # describe_instances() without ids would list every instance of the account
        found = {item["instanceId"]: item for item in describe_instances(self.client, self.instance_ids)}
        missing = [instance_id for instance_id in self.instance_ids if instance_id not in found]
        if missing:
            raise PowerError("instance(s) not found: %s" % ", ".join(missing))
        self.raw = {instance_id: found[instance_id] for instance_id in self.instance_ids}
        self.statuses = {instance_id: item.get("instanceStatus") for instance_id, item in self.raw.items()}

    def _refuse_unactionable(self, statuses: dict[str, str]) -> None:
        refused = ["%s is %s (%s)" % (instance_id, status, why_unactionable(status))
                   for instance_id, status in statuses.items() if why_unactionable(status)]
        if refused:
            raise PowerError("cannot make instance(s) %s: %s" % (self.state, "; ".join(refused)))

    def _image_being_made(self, instance_id: str) -> str:
        zone_id = self.raw[instance_id].get("zoneId")
        images = creating_images_in_zone(self.client, zone_id) if zone_id else []
        named = ", ".join("%s (%s)" % (image.get("imageId"), image.get("imageName")) for image in images)
        if len(images) == 1:
            return "image %s" % named
        if images:
            return "one of the images being created in zone %s: %s" % (zone_id, named)
        return "an image (none is listed as CREATING in zone %s)" % zone_id

    # -- waiting ---------------------------------------------------------------------------------------------------

    def _wait_for(self, instance_ids: list[str], done: Callable[[str | None], bool], what: str) -> None:
        """Poll the statuses of instance_ids (batched) until done() holds for each; fail on a dead-end state."""
        if not instance_ids:
            return

        def all_done(statuses: dict[str, str]) -> bool:
            self.statuses.update(statuses)
            gone = [instance_id for instance_id in instance_ids if instance_id not in statuses]
            if gone:
                raise PowerError("instance(s) disappeared while waiting for them to be %s: %s" % (what, ", ".join(gone)))
            self._refuse_unactionable(statuses)
            return all(done(statuses[instance_id]) for instance_id in instance_ids)

        try:
            # every caller passes only instances it has just seen (or just sent) on their way: no look at once
            poll_until(lambda: instance_statuses(self.client, instance_ids), all_done,
                       max(0.0, self.deadline - time.monotonic()), fetch_first=False)
        except WaitTimeout as timeout:
            late = sorted(instance_id for instance_id in instance_ids if not done(self.statuses.get(instance_id)))
            raise PowerError("timed out after %.0f s (wait_timeout=%s) waiting for instance(s) to be %s: %s"
                             % (timeout.waited, self.module.params["wait_timeout"], what, self._describe_late(late)))

    def _describe_late(self, instance_ids: list[str]) -> str:
        parts = []
        for instance_id in instance_ids:
            status = self.statuses.get(instance_id)
            detail = "%s is %s" % (instance_id, status)
            if status == IMAGING:
                detail += " until %s is done" % self._image_being_made(instance_id)
            parts.append(detail)
        return "; ".join(parts)

    # -- acting ----------------------------------------------------------------------------------------------------

    def _send(self, action: str, instance_ids: list[str], from_status: str, params: dict[str, Any]) -> None:
        """Send a power action in chunks of 100. A lost answer is checked before the action is sent again."""
        for chunk in chunks(instance_ids):
            try:
                self.client.call(action, dict(params, instanceIds=chunk))
            except ZenlayerOutcomeUnknown:
                current = instance_statuses(self.client, chunk)
                not_done = [instance_id for instance_id in chunk if current.get(instance_id) == from_status]
                if not_done:
                    self.client.call(action, dict(params, instanceIds=not_done))
            self.changed = True

    def _stop(self, instance_ids: list[str]) -> None:
        self.step = "Stopping instance(s) %s" % ", ".join(instance_ids)
        self._send("StopInstances", instance_ids, RUNNING, {"forceShutdown": self.module.params["force_shutdown"]})
        self.statuses.update(dict.fromkeys(instance_ids, STOPPING))

    def _start(self, instance_ids: list[str]) -> None:
        self.step = "Starting instance(s) %s" % ", ".join(instance_ids)
        self._send("StartInstances", instance_ids, STOPPED, {})
        self.statuses.update(dict.fromkeys(instance_ids, BOOTING))

    def _planned(self, action: str) -> list[str]:
        return [instance_id for instance_id, status in self.statuses.items() if action in power_plan(self.state, status)]

    def _settled(self, status: str | None) -> bool:
        """Whether an instance is done moving by itself (stopping an IMAGING instance needs no wait)."""
        return status not in SETTLES_TO or (status == IMAGING and self.state == "stopped")

    def apply(self) -> None:
        # An instance on its way somewhere is waited out only when an action must follow (BOOTING -> stopped,
        # IMAGING -> running); one already heading to the state asked is left to the final wait.
        self.step = "Waiting out transitional states"
        must_settle = [instance_id for instance_id, status in self.statuses.items()
                       if not self._settled(status) and power_plan(self.state, SETTLES_TO[status])]
        self._wait_for(must_settle, self._settled, "settled (out of transitional states)")
        to_stop = self._planned("stop")
        to_start = [instance_id for instance_id in self._planned("start") if instance_id not in to_stop]
        if to_stop:
            self._stop(to_stop)
            if self.state == "restarted":
                self.step = "Waiting for instance(s) to stop"
                self._wait_for(to_stop, lambda status: status == STOPPED, STOPPED)
                to_start = to_stop + to_start
        if to_start:
            self._start(to_start)
        if self.module.params["wait"]:
            self.step = "Waiting for instance(s) to be %s" % TARGET_STATUS[self.state]
            moving = [instance_id for instance_id in self.instance_ids if not satisfies(self.state, self.statuses[instance_id])]
            self._wait_for(moving, lambda status: satisfies(self.state, status), TARGET_STATUS[self.state])

    def predict(self) -> None:
        """Check mode: the statuses a real run would leave, without a single write."""
        for instance_id, status in list(self.statuses.items()):
            settled = status if self._settled(status) else SETTLES_TO[status]
            if power_plan(self.state, settled):
                self.changed = True
                if status == IMAGING:
                    self.module.warn("instance %s is IMAGING: a real run first waits for %s to finish, then starts it"
                                     % (instance_id, self._image_being_made(instance_id)))
                self.statuses[instance_id] = TARGET_STATUS[self.state] if self.module.params["wait"] else BOOTING
            elif self.module.params["wait"] and not satisfies(self.state, status):
                self.statuses[instance_id] = settled

    # -- result ----------------------------------------------------------------------------------------------------

    def instances(self) -> list[dict[str, Any]]:
        return [shape_instance(dict(self.raw[instance_id], instanceStatus=self.statuses.get(instance_id)))
                for instance_id in self.instance_ids]

    def run(self) -> None:
        before: dict[str, str] = {}
        try:
            self._fetch()
            before = dict(self.statuses)
            self._refuse_unactionable(before)
            if self.module.check_mode:
                self.predict()
            else:
                self.apply()
        except PowerError as problem:
            self.module.fail_json(msg=str(problem), changed=self.changed, instances=self.instances() if self.raw else [])
        except ZenlayerAPIError as err:
            self.fail_api(self.step, err, changed=self.changed, instances=self.instances() if self.raw else [])
        self.module.exit_json(changed=self.changed or (self.state == "restarted" and bool(self.instance_ids)),
                              instances=self.instances(),
                              diff={"before": {"instances": before}, "after": {"instances": dict(self.statuses)}})


def main() -> None:
    module = AnsibleZenlayer.create_module(
        argument_spec={
            "instance_ids": {"type": "list", "elements": "str", "required": True, "aliases": ["instance_id"]},
            "state": {"type": "str", "required": True, "choices": ["running", "stopped", "restarted"]},
            "force_shutdown": {"type": "bool", "default": False},
            "wait": {"type": "bool", "default": True},
            "wait_timeout": {"type": "int", "default": 600},
        },
        supports_check_mode=True,
    )
    InstancePower(module).run()


if __name__ == "__main__":
    main()
