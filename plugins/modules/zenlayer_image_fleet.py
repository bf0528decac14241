#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: zenlayer_image_fleet
short_description: Image many Zenlayer Cloud VM instances in one cloud cycle, putting each one's power back
version_added: 0.2.0
author: zenlayer.cloud maintainers (@zenlayer-cloud)
description:
  - Makes one custom image of each instance of a list, the whole list together - stop, image, start - in about the
    time one instance takes, with batched calls. The role C(zenlayer.cloud.image_from_instance) runs it once per
    play (or C(serial) batch) with C(tasks_from=fleet), and publishes each host's image.
  - Looks first, for all of them - one C(DescribeInstances) per 100 instances, one C(DescribeImages) per zone. An
    instance whose image (its exact O(instances[].name) in the instance's zone) exists is not touched; one whose image
    cannot be made (instance not found, zone without image support, quota without room, system disk not usable, an
    image of the name that is UNAVAILABLE) fails alone, before anything is stopped. An instance another job holds
    (its power record's lease is live) is waited for, together with the others held, up to O(lock_timeout); one
    still held then fails alone, naming that job and when it was last seen renewing.
  - A power record an earlier job left on an instance (see M(zenlayer.cloud.zenlayer_instance_power_record)) is
    honoured first - its power state is the one put back, whatever else happens.
  - Before the stop, it records on every running instance the power to put back (a resource-manager tag, one
    C(ModifyResourceTags) each). When the key may not tag instances, it warns once and carries on without the record.
    The records are written 100 at a time, each hundred stopped as soon as its records are written.
  - Each record is a lease of O(lease) seconds, renewed while the module works when less than a third is left (paced
    like its other writes, one call per record). When the module is cancelled (SIGINT, SIGTERM - Ctrl-C, or a job
    cancel that ansible-core passes on to the running task) it gives every record it holds up before it exits,
    keeping the power to put back, so that a relaunch takes them over and puts the power back at once. After a kill
    the leases lapse within O(lease) + 60 seconds.
  - One C(StopInstances) per 100 instances, one C(DescribeInstancesStatus) per 100 per poll, one C(CreateImage) per
    instance as soon as it is C(STOPPED), one C(DescribeImages) per zone per poll, C(StartInstances) for the instances
    whose image is done (per 100, on a status read after the image settled), and the record removed once the power
    is back. While the images are made, the statuses are read every 15 seconds too - an instance recycled, released
    or deleted meanwhile ends its wait with that reason.
  - Calls are spaced under O(rate_limit) requests per second; 429 answers lower the pace and their C(Retry-After) is
    waited out, so a fleet does not crowd other users of the same account out of the API. The writes that concern
    one instance each (records, C(CreateImage)) are sent by up to 8 threads at once, so that the round trip of one
    request does not hold the next; polls are spaced so that they use at most a fifth of O(rate_limit).
  - A CreateImage whose answer was lost (or a server error) is never sent again in the same run - the image is looked
    for by name until O(wait_timeout), and adopted when it shows; when it does not, that instance fails saying that
    the outcome is unknown (its power put back), and a re-run adopts the image or makes it.
  - An instance's outcome is ok only for what the module saw - its image V(AVAILABLE) (made, or an existing one
    adopted) and, when the run stopped it or holds its power record, its power back as asked (O(power_after)).
  - Failures are per instance - one that fails has its power put back and is reported in RV(outcomes); the others go
    on. The module fails when any instance failed, with every instance's result.
  - A status or image poll that fails (past the client's own retries, for example throttled for long) is tried again
    at the next poll time, until the instances' deadlines (O(stop_timeout), O(wait_timeout)); only then do they fail.
  - When an image wait runs out, the power is still put back - the status is read again, C(IMAGING) waited out within
    O(stop_timeout), then the instance started - and the message says whether it was.
  - An error that ends the whole run (for example a read the key may not make, or an answer that cannot be read)
    fails every instance not done yet, with that error in its message. The power of those it stopped is still put
    back within O(stop_timeout); where it cannot be, their power record is given up - it keeps the power to put back,
    and the next run takes it over at once and puts it back first.
  - When the key may not call C(DescribeDisks), the module warns once and the system disks are not checked before
    the stop; C(CreateImage) checks them, and an instance it refuses fails alone, its power put back.
options:
  instances:
    description:
      - The instances to image, each with the name of its image.
      - Instance ids, names and keys must each differ within the list; an empty list is refused.
      - An item with an empty O(instances[].instance_id), or a name or description that is not valid, fails alone
        (in RV(outcomes)) before any request is sent; the others go on.
    type: list
    elements: dict
    required: true
    suboptions:
      instance_id:
        description: The instance.
        type: str
        required: true
      name:
        description:
          - The image name, 1 to 24 characters of letters, digits, Chinese characters, V(-) and V(_).
          - It identifies the image among the custom images of the instance's zone, so a re-run finds it and does
            nothing.
        type: str
        required: true
      description:
        description: The image description, at most 255 characters.
        type: str
      key:
        description:
          - What RV(outcomes) is keyed by for this instance (the role uses the inventory host name). Defaults to
            O(instances[].instance_id).
        type: str
  force_shutdown:
    description: Force the shutdown (power off) instead of a graceful one. Always sent explicitly.
    type: bool
    default: false
  power_after:
    description:
      - The power state each imaged instance is left in, whether its image succeeded or failed after the stop.
      - V(previous) puts back the state it was in (or the one a power record left by an earlier job says).
    type: str
    choices: [previous, running, stopped]
    default: previous
  stop_timeout:
    description:
      - Seconds to wait for instances to stop, and again for their power to be put back (an instance still
        C(IMAGING) is waited for within it).
    type: int
    default: 600
  wait_timeout:
    description:
      - Seconds to wait for each image to settle (V(AVAILABLE) or V(UNAVAILABLE)), from its CreateImage (or from the
        start, for an image of the name already being made).
      - A CreateImage whose answer was lost is looked for that long before its outcome is reported unknown.
    type: int
    default: 1800
  owner:
    description:
      - Who this run is, in the power records (for example the AWX job id); 1 to 30 letters, digits, V(-) or V(_).
      - Defaults to a random name for this run.
    type: str
  take_over:
    description:
      - Take over power records of other jobs whose lease is live (when you know those jobs are gone). Rarely needed -
        a cancelled job gives its leases up, a killed one's lapse within its lease + 60 s.
    type: bool
    default: false
  lease:
    description:
      - Seconds of the lease on each power record this run writes (at least 60); renewed while the run works.
    type: int
    default: 300
  lock_timeout:
    description:
      - Seconds to wait for other jobs' live leases on instances of the list before those instances fail. V(0) fails
        them at once.
      - Defaults to O(lease) + 60 - a holder that stopped renewing has lapsed by then.
    type: int
  controller_pid:
    description:
      - Set by this module's action plugin only, on a local connection - the process id of the job's
        C(ansible-playbook), which the watchdog of a run in slices watches (see the notes).
    type: int
    version_added: 0.2.0
  rate_limit:
    description:
      - The most requests per second this module sends (over both the VM and the resource-manager services). It
        starts at this pace, lowers it on every 429 answer, and comes back up slowly.
      - Zenlayer does not publish its rate limit; lower this when other jobs share the account.
    type: float
    default: 20
extends_documentation_fragment:
  - zenlayer.cloud.zenlayer
  - zenlayer.cloud.progress
attributes:
  check_mode:
    support: full
    description:
      - Check mode reads what a real run reads, sends no write, and predicts each instance's outcome - the image that
        would be made (C(image_id) V(null), status V(AVAILABLE)), the existing image, or the failure.
  diff_mode:
    support: none
    description: No diff - RV(outcomes) says what changed on each instance.
requirements:
  - python >= 3.9
  - requests
notes:
  - Calls are sent one after the other (paced), so a real API's latency adds up - about 0.1 to 0.3 s per instance for
    each of its three own calls (record, CreateImage, record removal).
  - Leases are judged on this machine's clock with a margin of 60 seconds for the distance between controllers'
    clocks (see M(zenlayer.cloud.zenlayer_instance_power_record)).
  - "The fleet's progress line counts the instances whose image was seen V(AVAILABLE) of all, then the others by what
    they are at - their image's status (V(CREATING)), their instance's status as last polled while their power moves,
    or V(FAILED) - with the time since the cycle started of O(wait_timeout) and the polls made, for example
    C(zenlayer_image_fleet: 37/100 AVAILABLE, 55 CREATING, 8 STOPPING - 2m 10s of 30m, 41 polls). The lines start once
    the instances are looked at (no line while the run waits for other jobs' leases, O(lock_timeout)); the cycle that
    puts the power back after an error that ended the run runs in one piece."
  - A cancel between two slices (the job's C(ansible-playbook) gone while no slice runs) is handled like one during a
    slice - the watchdog that the first slice's end starts for the run (a process of its own, on the machine the
    module runs on) gives the power records up, their power to put back kept, so that a relaunch puts the power back
    at once. The run's end ends the watchdog. Without the action plugin (or on a connection other than local), a
    cancel there is like a kill - the leases lapse within O(lease) + 60 seconds.
seealso:
  - module: zenlayer.cloud.zenlayer_image
  - module: zenlayer.cloud.zenlayer_instance_power_record
"""

EXAMPLES = r"""
- name: Image three instances in one cloud cycle
  zenlayer.cloud.zenlayer_image_fleet:
    instances:
      - instance_id: ins-web-1
        name: web-1-golden
      - instance_id: ins-web-2
        name: web-2-golden
      - instance_id: ins-db-1
        name: db-1-golden
        description: Database golden image
  register: fleet

- name: Every image id, by instance
  ansible.builtin.debug:
    msg: "{{ fleet.outcomes | dict2items | map(attribute='value') | map(attribute='image.image_id') | list }}"

# In a play over an inventory of instances (each host has zenlayer_instance_id), the role does this once per batch
# and publishes each host's image_from_instance_image:
- name: Image every web server
  hosts: web
  connection: local
  gather_facts: false
  tasks:
    - name: Image the fleet
      ansible.builtin.import_role:
        name: zenlayer.cloud.image_from_instance
        tasks_from: fleet
      vars:
        image_from_instance_name: "{{ inventory_hostname }}-golden"
"""

RETURN = r"""
outcomes:
  description:
    - Each instance's outcome, keyed by O(instances[].key) (the instance id by default), also when the module fails.
    - C(image) is the image as M(zenlayer.cloud.zenlayer_image) returns it, as last seen (V(null) when none was
      seen); C(changed) whether anything was done (or would be, in check mode) to this instance; C(failed) and C(msg)
      its failure; C(instance_status_before) and C(instance_status) its status as first and last seen; C(power_after)
      the power it was to be left in.
    - C(failed) is V(false) only when its image was seen V(AVAILABLE) (made, or adopted) and, when the run stopped the
      instance or holds its power record, its power was seen back as C(power_after) says. C(msg) says why it failed,
      and when its power could not be put back, that too.
  returned: always
  type: dict
  sample:
    ins-web-1:
      key: ins-web-1
      instance_id: ins-web-1
      name: web-1-golden
      zone_id: HKG-A
      image: {"image_id": "img-0123456789abcdef", "image_status": "AVAILABLE"}
      changed: true
      failed: false
      msg: ""
      instance_status_before: RUNNING
      instance_status: RUNNING
      power_after: running
failed_keys:
  description: The keys of the instances that failed.
  returned: always
  type: list
  elements: str
recorded:
  description: Whether power records could be kept (V(false) when the key may not tag instances).
  returned: always
  type: bool
throttled:
  description: How many 429 answers the run received.
  returned: always
  type: int
"""

import secrets
from typing import Any

from ansible_collections.zenlayer.cloud.plugins.module_utils._api import ZenlayerClient
from ansible_collections.zenlayer.cloud.plugins.module_utils._base import (
    CANCEL_CALL_TIMEOUT,
    MIN_LEASE_SECONDS,
    AnsibleZenlayer,
    ZenlayerError,
    build_client,
)
from ansible_collections.zenlayer.cloud.plugins.module_utils._fleet import Member, input_problem, item_problem, summary
from ansible_collections.zenlayer.cloud.plugins.module_utils._fleet_resume import pacer_from_resume, pacer_to_resume
from ansible_collections.zenlayer.cloud.plugins.module_utils._fleet_watch import give_up_held, keep_watch, watched_slice
from ansible_collections.zenlayer.cloud.plugins.module_utils._fleet_run import FleetRun
from ansible_collections.zenlayer.cloud.plugins.module_utils._lease import Lease
from ansible_collections.zenlayer.cloud.plugins.module_utils._pace import WRITE_WORKERS, Pacer
from ansible_collections.zenlayer.cloud.plugins.module_utils._record import (
    DEFAULT_LEASE_SECONDS,
    ZRM_API_VERSION,
    ZRM_SERVICE,
    owner_problem,
)


class ZenlayerImageFleet(AnsibleZenlayer):
    reports_progress = True
    argument_spec = {
        "instances": {"type": "list", "elements": "dict", "required": True, "options": {
            "instance_id": {"type": "str", "required": True},
            "name": {"type": "str", "required": True},
            "description": {"type": "str"},
            "key": {"type": "str", "no_log": False},
        }},
        "force_shutdown": {"type": "bool", "default": False},
        "power_after": {"type": "str", "choices": ["previous", "running", "stopped"], "default": "previous"},
        "stop_timeout": {"type": "int", "default": 600},
        "wait_timeout": {"type": "int", "default": 1800},
        "owner": {"type": "str"},
        "take_over": {"type": "bool", "default": False},
        "rate_limit": {"type": "float", "default": 20.0},
        "lease": {"type": "int", "default": DEFAULT_LEASE_SECONDS},
        "lock_timeout": {"type": "int"},
        "controller_pid": {"type": "int"},
    }

    def __init__(self, module: Any) -> None:
        super().__init__(module)
        self.members = [Member(item) for item in self.params["instances"] or []]
        for member, item in zip(self.members, self.params["instances"] or []):
            problem = item_problem(item)
            if problem:
                member.fail(problem + " (checked before any request; nothing was done for this instance)")
        self.owner: str = self.params["owner"] or "fleet-" + secrets.token_hex(6)
        self.pacer = Pacer(max(self.params["rate_limit"], 0.1), self.clock)
        self._zrm: ZenlayerClient | None = None
        self.lease = Lease(self.owner, self.params["lease"], self.clock, None, self._renew_record)
        self.fleet = FleetRun(self)

    @property
    def client(self) -> ZenlayerClient:
        if self._client is None:
            self._client = build_client(self.params, self.clock, pacer=self.pacer, connections=WRITE_WORKERS)
        return self._client

    @property
    def zrm(self) -> ZenlayerClient:
        if self._zrm is None:
            self._zrm = build_client(self.params, self.clock, service=ZRM_SERVICE, api_version=ZRM_API_VERSION,
                                     pacer=self.pacer, connections=WRITE_WORKERS)
        return self._zrm

    def validate(self) -> None:
        problem = input_problem(self.params["instances"] or []) or owner_problem(self.owner)
        if problem:
            raise ZenlayerError(problem)
        for option in ("stop_timeout", "wait_timeout", "rate_limit"):
            if self.params[option] <= 0:
                raise ZenlayerError("%s must be above 0, not %s" % (option, self.params[option]))
        if self.params["lease"] < MIN_LEASE_SECONDS or (self.params["lock_timeout"] or 0) < 0:
            raise ZenlayerError("lease must be at least %d seconds and lock_timeout 0 or more, not %s and %s"
                                % (MIN_LEASE_SECONDS, self.params["lease"], self.params["lock_timeout"]))

    def between_polls(self) -> None:
        """The fleet renews its leases on its own paced threads."""
        self.fleet.renew_leases()

    def resume_state(self) -> dict[str, Any]:
        return {"owner": self.owner, "pacer": pacer_to_resume(self.pacer, self.clock.monotonic()),
                "fleet": self.fleet.resume_state()}

    def restore(self, state: dict[str, Any], away: float) -> None:
        """The same owner in every slice (a generated one too), the records it holds, the pacer, the run."""
        if self.params["owner"] and state["owner"] != self.params["owner"]:
            raise ValueError("the resume is of another owner")
        self.owner = self.lease.owner = str(state["owner"])
        for instance_id, record in sorted(dict((self._resumed or {}).get("lease") or {}).items()):
            self.lease.hold(instance_id, record)
        pacer_from_resume(self.pacer, state["pacer"], self.clock.monotonic(), away)
        self.fleet.restore(state["fleet"], away)

    def time_waited(self) -> float:
        return self.fleet.waited()

    def _end_of_slice(self) -> dict[str, Any]:
        """Between this slice and the next no module runs: a watchdog gives the records held up if the job ends there."""
        result = super()._end_of_slice()
        if self.params["controller_pid"] and self.lease.records:
            try:
                keep_watch(self.owner, self.lease.records, self.params["controller_pid"], self._give_up_after_the_job)
            except OSError as err:  # no watchdog: a cancel between two slices is then like a kill (the leases lapse)
                self.module.warn("no watchdog between two slices (%s): if the job is cancelled before the next slice, "
                                 "the power records lapse by themselves within the lease + 60 s" % err)
        return result

    def _give_up_after_the_job(self) -> None:
        """Run by the watchdog (a process of its own) once the job is gone between two slices."""
        quick = build_client(dict(self.params, client_timeout=min(CANCEL_CALL_TIMEOUT, self.params["client_timeout"]),
                                  api_retries=2), self.clock, service=ZRM_SERVICE, api_version=ZRM_API_VERSION)
        give_up_held(self.owner, quick, self.clock.time)

    def execute(self) -> dict[str, Any]:
        self.pacer.clock = self.lease.clock = self.clock  # tests may put another clock in place after __init__
        with watched_slice(self.owner, bool(self.params["controller_pid"]) and not self.check_mode):
            self.fleet.run()
        if any(member.failure for member in self.members):
            raise ZenlayerError(summary(self.members))
        return self.partial_result()

    def partial_result(self) -> dict[str, Any]:
        return {"outcomes": {member.key: member.result() for member in self.members},
                "failed_keys": [member.key for member in self.members if member.failure],
                "recorded": self.fleet.tags_allowed, "throttled": self.pacer.throttled_count}


def main() -> None:
    ZenlayerImageFleet.main()


if __name__ == "__main__":
    main()
