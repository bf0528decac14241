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
  - O(state=restarted) restarts running instances with the API's C(RebootInstances) action, and starts stopped ones.
  - All status checks are batched, one C(DescribeInstancesStatus) call per 100 instances per poll. Start and stop
    requests are sent in chunks of 100, the most the API takes in one call.
  - A power action whose outcome is unknown (lost answer, server error) is never sent again in the same run. Its effect
    is waited for until O(wait_timeout) runs out - for a restart, the instance leaving V(RUNNING) - and when it does
    not show, the module fails saying so; a re-run sends it if the instance did not move.
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
      - V(restarted) restarts every running instance (C(RebootInstances)); a stopped instance is only started.
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
      - With V(false) the module returns once the requests are accepted; instances then report V(STOPPING),
        V(BOOTING) or V(REBOOT).
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
  - zenlayer.cloud.power_record
  - zenlayer.cloud.progress
attributes:
  check_mode:
    description:
      - Runs the same code as a real run with the start, stop and restart requests left out, and reports the same
        C(changed), RV(instances) and diff. Where a real run would wait for instances, check mode takes the status
        the wait would end with instead of polling.
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
    tags:
      description: The instance's tags, as a dict.
      type: dict
      returned: when the API returns them
    power_record:
      description:
        - The power state a job recorded to put back (see M(zenlayer.cloud.zenlayer_instance_power_record)), with
          C(power), C(since), C(expires), C(owner) and C(stale); V(null) when the instance has none.
      type: dict
      returned: when the API returns tags
    power_to_restore:
      description:
        - The power an imaging job puts the instance back to after it stopped it, from its status now -
          V(stopped) for C(STOPPED), C(STOPPING) and C(IMAGING), else V(running).
      type: str
      returned: when the status is known
      sample: running
"""

from typing import Any, Callable

from ansible_collections.zenlayer.cloud.plugins.module_utils._api import ZenlayerAPIError
from ansible_collections.zenlayer.cloud.plugins.module_utils._base import AnsibleZenlayer, ZenlayerError
from ansible_collections.zenlayer.cloud.plugins.module_utils._image import creating_images
from ansible_collections.zenlayer.cloud.plugins.module_utils._instance import (
    BOOTING,
    IMAGING,
    POWERED_OFF_STATUSES,
    REBOOT,
    RUNNING,
    SETTLES_TO,
    STOPPED,
    STOPPING,
    chunks,
    describe_instances,
    instance_statuses,
    shape_instance,
    why_unactionable,
)
from ansible_collections.zenlayer.cloud.plugins.module_utils._progress import count_statuses
from ansible_collections.zenlayer.cloud.plugins.module_utils._wait import POWER_WAIT, WaitTimeout, poll_until

TARGET_STATUS = {"running": RUNNING, "stopped": STOPPED, "restarted": RUNNING}
# action: (API action, the status it starts from, the status it leaves the instance in at once, what it is called)
POWER_ACTIONS = {
    "stop": ("StopInstances", RUNNING, STOPPING, "Stopping"),
    "reboot": ("RebootInstances", RUNNING, REBOOT, "Restarting"),
    "start": ("StartInstances", STOPPED, BOOTING, "Starting"),
}
# A power action whose outcome is unknown (lost answer, 5xx) is never sent again in the same run (one rule for every
# write of the collection): its effect is looked for until the deadline - a stop or start by the final wait itself, a
# reboot (which ends RUNNING, like it began) by a look for the instance leaving RUNNING.


def power_plan(state: str, status: str) -> list[str]:
    """The action ("stop", "reboot", "start") that takes an instance in a settled status to the state asked."""
    if state == "stopped":
        return ["stop"] if status == RUNNING else []
    if status in POWERED_OFF_STATUSES:
        return ["start"]
    return ["reboot"] if state == "restarted" and status == RUNNING else []


def satisfies(state: str, status: str | None) -> bool:
    """Whether a status is the end of the road for the state asked (IMAGING is powered off)."""
    if state == "stopped":
        return status in POWERED_OFF_STATUSES
    return status == RUNNING


class InstancePower(AnsibleZenlayer):
    works_under_lease = True
    reports_progress = True
    argument_spec = {
        "instance_ids": {"type": "list", "elements": "str", "required": True, "aliases": ["instance_id"]},
        "state": {"type": "str", "required": True, "choices": ["running", "stopped", "restarted"]},
        "force_shutdown": {"type": "bool", "default": False},
        "wait": {"type": "bool", "default": True},
        "wait_timeout": {"type": "int", "default": 600},
    }

    def __init__(self, module: Any) -> None:
        super().__init__(module)
        self.state: str = self.params["state"]
        self.instance_ids = list(dict.fromkeys(self.params["instance_ids"] or []))
        self.raw: dict[str, dict[str, Any]] = {}
        self.statuses: dict[str, str] = {}
        self.deadline = 0.0
        self.unknown_outcome: dict[str, ZenlayerAPIError] = {}  # API action -> the error that left its outcome unknown
        self.before: dict[str, str] = {}
        # Where the run stands: "settle" (waiting out transitional states), "send" (the actions of self.pending, each
        # [action, instance ids, chunks sent]), "final" (waiting for the state asked)
        self.phase = "settle"
        self.pending: list[list[Any]] = []
        self.wait_ids: list[str] = []  # the instances of the wait in progress
        self.looked: dict[str, str] | None = None  # the last look for a restart of unknown outcome

    def validate(self) -> None:
        if self.params["wait_timeout"] <= 0:
            raise ZenlayerError("wait_timeout must be a number of seconds above 0, not %s" % self.params["wait_timeout"])

    def execute(self) -> dict[str, Any]:
        if not self.resuming:
            self.deadline = self.clock.monotonic() + self.params["wait_timeout"]
            self._fetch()
            self.before = dict(self.statuses)
            self._refuse_unactionable(self.before)
        if self.phase == "settle":
            self._settle_where_an_action_follows()
            self.pending = [[action, [instance_id for instance_id, status in self.statuses.items()
                                      if action in power_plan(self.state, status)], 0] for action in POWER_ACTIONS]
            self.phase = "send"
        if self.phase == "send":
            while self.pending:
                self._send(*self.pending[0])
                self.pending.pop(0)
            self.phase = "final"
            if self.unknown_outcome and not self.params["wait"]:
                self.module.warn("not waited for (wait=false): %s" % self._unknown_outcomes().lstrip("; "))
        if self.params["wait"]:
            target = TARGET_STATUS[self.state]
            moving = [instance_id for instance_id in self.instance_ids if not satisfies(self.state, self.statuses[instance_id])]
            self._wait_for(moving, lambda status: satisfies(self.state, status), target, dict.fromkeys(moving, target))
        return {"instances": self.instances(),
                "diff": {"before": {"instances": self.before}, "after": {"instances": dict(self.statuses)}}}

    # -- slices (see _progress.py) ---------------------------------------------------------------------------------

    def resume_state(self) -> dict[str, Any]:
        return {"waited": self.time_waited(), "raw": self.raw, "statuses": self.statuses, "before": self.before,
                "phase": self.phase, "pending": self.pending, "wait_ids": self.wait_ids, "looked": self.looked,
                "unknown_outcome": {action: err.to_dict() for action, err in self.unknown_outcome.items()}}

    def restore(self, state: dict[str, Any], away: float) -> None:
        self.deadline = self.clock.monotonic() + self.params["wait_timeout"] - (float(state["waited"]) + away)
        self.raw, self.statuses, self.before = state["raw"], state["statuses"], state["before"]
        self.phase, self.pending, self.wait_ids, self.looked = state["phase"], state["pending"], state["wait_ids"], state["looked"]
        self.unknown_outcome = {action: ZenlayerAPIError(**error, performed=None)
                                for action, error in state["unknown_outcome"].items()}

    def time_waited(self) -> float:
        return self.clock.monotonic() - (self.deadline - self.params["wait_timeout"])

    def _describe_wait(self) -> tuple[str, str]:
        statuses = self.looked if self.waiting is not None and self.waiting.kind == "restart" else self.statuses
        seen = [(statuses or {}).get(instance_id) or "not seen" for instance_id in self.wait_ids]
        if len(self.wait_ids) == 1:
            return self.wait_ids[0], str(seen[0])
        return "%d instances:" % len(self.wait_ids), count_statuses(seen)

    def partial_result(self) -> dict[str, Any]:
        return {"instances": self.instances()}

    def leased_instances(self) -> list[str]:
        return self.instance_ids

    def instances(self) -> list[dict[str, Any]]:
        return [shape_instance(dict(self.raw[instance_id], instanceStatus=self.statuses.get(instance_id)), self.clock.time())
                for instance_id in self.instance_ids if instance_id in self.raw]

    # -- reading ---------------------------------------------------------------------------------------------------

    def _fetch(self) -> None:
        if not self.instance_ids:
            return  # describe_instances() without ids would list every instance of the account
        with self.step("Reading the instances"):
            found = {item["instanceId"]: item for item in describe_instances(self.client, self.instance_ids)}
        missing = [instance_id for instance_id in self.instance_ids if instance_id not in found]
        if missing:
            raise ZenlayerError("instance(s) not found: %s" % ", ".join(missing))
        self.raw = {instance_id: found[instance_id] for instance_id in self.instance_ids}
        self.statuses = {instance_id: item.get("instanceStatus") for instance_id, item in self.raw.items()}

    def _refuse_unactionable(self, statuses: dict[str, str]) -> None:
        refused = ["%s is %s (%s)" % (instance_id, status, why_unactionable(status))
                   for instance_id, status in statuses.items() if why_unactionable(status)]
        if refused:
            raise ZenlayerError("cannot make instance(s) %s: %s" % (self.state, "; ".join(refused)))

    def _image_being_made(self, instance_id: str) -> str:
        zone_id = self.raw[instance_id].get("zoneId")
        with self.step("Listing the images being made in zone %s" % zone_id):
            images = creating_images(self.client, zone_id) if zone_id else []
        named = ", ".join("%s (%s)" % (image.get("imageId"), image.get("imageName")) for image in images)
        if len(images) == 1:
            return "image %s" % named
        if images:
            return "one of the images being created in zone %s: %s" % (zone_id, named)
        return "an image (none is listed as CREATING in zone %s)" % zone_id

    # -- waiting ---------------------------------------------------------------------------------------------------

    def _settled(self, status: str | None) -> bool:
        """Whether an instance is done moving by itself (stopping an IMAGING instance needs no wait)."""
        return status not in SETTLES_TO or (status == IMAGING and self.state == "stopped")

    def _settle_where_an_action_follows(self) -> None:
        # An instance on its way somewhere is waited out only when an action must follow (BOOTING -> stopped,
        # IMAGING -> running); one already heading to the state asked is left to the final wait.
        must_settle = {instance_id: SETTLES_TO[status] for instance_id, status in self.statuses.items()
                       if not self._settled(status) and power_plan(self.state, SETTLES_TO[status])}
        self._wait_for(list(must_settle), self._settled, "settled (out of transitional states)", must_settle,
                       kind="settle")

    def _wait_for(self, instance_ids: list[str], done: Callable[[str | None], bool], what: str,
                  predicted: dict[str, str], kind: str = "final") -> None:
        """Poll the statuses of instance_ids (batched) until done() holds for each; in check mode, take the
        statuses a real wait would end with. Fails on a dead-end state or when wait_timeout runs out. A wait the last
        slice ended in goes on with the same instances."""
        if self.resumes(kind):
            instance_ids = self.wait_ids
        if not instance_ids or self.check_mode:
            self.statuses.update(predicted)
            return
        self.wait_ids = instance_ids
        polls = self.wait_polls(kind, self._describe_wait)

        def all_done(statuses: dict[str, str]) -> bool:
            self.statuses.update(statuses)
            gone = [instance_id for instance_id in instance_ids if instance_id not in statuses]
            if gone:
                raise ZenlayerError("instance(s) disappeared while waiting for them to be %s: %s" % (what, ", ".join(gone)))
            self._refuse_unactionable(statuses)
            return all(done(statuses[instance_id]) for instance_id in instance_ids)

        try:
            with self.step("Waiting for instance(s) to be %s" % what):
                # every caller passes only instances it has just seen (or just sent) on their way: no look at once
                poll_until(lambda: instance_statuses(self.client, instance_ids), all_done,
                           max(0.0, self.deadline - self.clock.monotonic()), schedule=POWER_WAIT, clock=self.clock,
                           fetch_first=False, between=self.between_polls, polls=polls)
        except WaitTimeout as timeout:
            late = sorted(instance_id for instance_id in instance_ids if not done(self.statuses.get(instance_id)))
            raise ZenlayerError("timed out after %.0f s (wait_timeout=%s) waiting for instance(s) to be %s: %s%s"
                                % (timeout.waited, self.params["wait_timeout"], what, self._describe_late(late),
                                   self._unknown_outcomes()))

    def _unknown_outcomes(self) -> str:
        return "".join("; the outcome of %s is unknown (%s): it was not sent again in this run - re-run the task, it "
                       "sends it if the instance did not move" % (action, err) for action, err in self.unknown_outcome.items())

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

    def _send(self, action: str, instance_ids: list[str], sent: int) -> None:
        """Send a power action in chunks of 100 (skipped in check mode), from the `sent`-th chunk on (self.pending[0]
        counts them); the instances then move on their own. A slice that ended in the look for a restart goes on
        with that look first."""
        if not instance_ids:
            return
        api_action, from_status, moving_status, verb = POWER_ACTIONS[action]
        params = {"forceShutdown": self.params["force_shutdown"]} if action == "stop" else {}
        parts = list(chunks(instance_ids))
        with self.step("%s instance(s) %s" % (verb, ", ".join(instance_ids))):
            if self.resumes("restart"):
                self._look_for_a_restart(self.wait_ids, self.unknown_outcome[api_action])
            for chunk in parts[sent:]:
                self.pending[0][2] += 1
                try:
                    self.write(api_action, dict(params, instanceIds=chunk))
                except ZenlayerAPIError as err:
                    if not err.outcome_unknown:
                        raise
                    self.unknown_outcome[api_action] = err
                    if action == "reboot":
                        self._look_for_a_restart(chunk, err)
        self.statuses.update(dict.fromkeys(instance_ids, moving_status))

    def _look_for_a_restart(self, instance_ids: list[str], err: ZenlayerAPIError) -> None:
        """A reboot whose outcome is unknown: the instances must be seen leaving RUNNING before the deadline (a
        second reboot would restart them twice); else fail, saying so."""
        self.wait_ids = instance_ids
        polls = self.wait_polls("restart", self._describe_wait)
        if not polls.made:
            self.looked = None

        def restarting(statuses: dict[str, str]) -> bool:
            self.looked = statuses
            return all(statuses.get(instance_id) != RUNNING for instance_id in instance_ids)

        try:  # a resumed look has made its first look in an earlier slice
            poll_until(lambda: instance_statuses(self.client, instance_ids), restarting,
                       max(0.0, self.deadline - self.clock.monotonic()), schedule=POWER_WAIT, clock=self.clock,
                       between=self.between_polls, fetch_first=not polls.made, polls=polls)
        except WaitTimeout:
            not_seen = [instance_id for instance_id in instance_ids if (self.looked or {}).get(instance_id) == RUNNING]
            raise ZenlayerError(
                "the outcome of RebootInstances for %s is unknown (%s) and no restart was seen within wait_timeout=%s s: "
                "it may have been too quick to see, or not done. It is not sent again (a second one would restart the "
                "instance twice): check the instance, and re-run if it did not restart"
                % (", ".join(not_seen), err, self.params["wait_timeout"]), error=err.to_dict())


def main() -> None:
    InstancePower.main()


if __name__ == "__main__":
    main()
