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
    image of the name that is UNAVAILABLE, an instance another job holds) fails alone, before anything is stopped.
  - A power record an earlier job left on an instance (see M(zenlayer.cloud.zenlayer_instance_power_record)) is
    honoured first - its power state is the one put back, whatever else happens.
  - Before the stop, it records on every running instance the power to put back (a resource-manager tag, one
    C(ModifyResourceTags) each). When the key may not tag instances, it warns once and carries on without the record.
    The records are written 100 at a time, each hundred stopped as soon as its records are written.
  - One C(StopInstances) per 100 instances, one C(DescribeInstancesStatus) per 100 per poll, one C(CreateImage) per
    instance as soon as it is C(STOPPED), one C(DescribeImages) per zone per poll, C(StartInstances) for the instances
    whose image is done (per 100), and the record removed once the power is back.
  - Calls are spaced under O(rate_limit) requests per second; 429 answers lower the pace and their C(Retry-After) is
    waited out, so a fleet does not crowd other users of the same account out of the API. The writes that concern
    one instance each (records, C(CreateImage)) are sent by up to 8 threads at once, so that the round trip of one
    request does not hold the next; polls are spaced so that they use at most a fifth of O(rate_limit).
  - A CreateImage whose answer was lost is never sent again - the image is looked for by name, and adopted when it
    shows; when it does not show within a grace window, that instance fails (power put back) and a re-run adopts it.
  - Failures are per instance - one that fails has its power put back and is reported in RV(outcomes); the others go
    on. The module fails when any instance failed, with every instance's result.
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
    description: Seconds to wait for instances to stop, and again for them to start.
    type: int
    default: 600
  wait_timeout:
    description: Seconds to wait for the images to settle (V(AVAILABLE) or V(UNAVAILABLE)), from the last CreateImage.
    type: int
    default: 1800
  owner:
    description:
      - Who this run is, in the power records (for example the AWX job id); 1 to 30 letters, digits, V(-) or V(_).
      - Defaults to a random name for this run.
    type: str
  take_over:
    description: Take over power records of other jobs that have not expired yet (when you know those jobs are gone).
    type: bool
    default: false
  rate_limit:
    description:
      - The most requests per second this module sends (over both the VM and the resource-manager services). It
        starts at this pace, lowers it on every 429 answer, and comes back up slowly.
      - Zenlayer does not publish its rate limit; lower this when other jobs share the account.
    type: float
    default: 20
extends_documentation_fragment:
  - zenlayer.cloud.zenlayer
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
  - A record held by another job that has not expired makes that instance fail at once (it does not wait); re-run
    later, or with O(take_over=true) when that job is gone.
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
    - C(image) is the image as M(zenlayer.cloud.zenlayer_image) returns it (V(null) when none was made);
      C(changed) whether anything was done (or would be, in check mode) to this instance; C(failed) and C(msg) its
      failure; C(instance_status_before) and C(instance_status) its status as first and last seen; C(power_after) the
      power it was to be left in.
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
import threading
from typing import Any

from ansible_collections.zenlayer.cloud.plugins.module_utils._api import ZenlayerAPIError, ZenlayerClient
from ansible_collections.zenlayer.cloud.plugins.module_utils._base import AnsibleZenlayer, ZenlayerError, build_client
from ansible_collections.zenlayer.cloud.plugins.module_utils._fleet import (
    ACTIVE_PHASES,
    CREATING_PHASE,
    DONE_PHASE,
    RELEASING_PHASE,
    RESTORING_PHASE,
    STATUS_OF_POWER,
    STOPPING_PHASE,
    Member,
    allot_quota,
    image_outcome,
    input_problem,
    item_problem,
    named_images,
    predicted_image,
    summary,
)
from ansible_collections.zenlayer.cloud.plugins.module_utils._image import (
    CUSTOM_IMAGE,
    describe_images,
    image_quotas,
    zone_supports_images,
)
from ansible_collections.zenlayer.cloud.plugins.module_utils._instance import (
    IMAGING,
    MAX_IDS_PER_CALL,
    RUNNING,
    STOPPED,
    chunks,
    describe_instances,
    instance_statuses,
    system_disks_in_zone,
    unusable_disk_problem,
    why_unactionable,
)
from ansible_collections.zenlayer.cloud.plugins.module_utils._pace import WRITE_WORKERS, Pacer, each_concurrently
from ansible_collections.zenlayer.cloud.plugins.module_utils._record import (
    RECORD_TAG_KEY,
    TAG_DENIED_CODE,
    ZRM_API_VERSION,
    ZRM_SERVICE,
    decode_record,
    owner_problem,
    power_to_restore,
    tags_of,
    write_params,
)

# Polls: statuses every 0.5 s at first, images every second, each growing with the time waited (a twentieth, a
# sixtieth) up to 10 s and 15 s. Each poll reads the whole fleet, so a short gap costs few calls per instance, and the
# first image seen AVAILABLE starts the instances (and the removal of their records) that much sooner.
STATUS_POLL = (0.5, 10.0, 20.0)
IMAGE_POLL = (1.0, 15.0, 60.0)
SETTLING_POLL = 0.5
# The share of rate_limit that polls may take: a poll costing more calls (1 per 100 instances, 1 per zone and
# page of images) waits longer, so that the writes keep most of the rate.
POLL_SHARE = 0.2
# How long an image is looked for after its CreateImage (writes are asynchronous: it may be listed late).
LISTED_GRACE_SECONDS = 10.0
TAG_DENIED_WARNING = ("the access key may not tag instances (%s), so no power records are kept: if this job is "
                      "cancelled or killed while instances are stopped, nothing tells the next job to put them back. "
                      "Allow the key to call the resource-manager service's ModifyResourceTags to have that guarantee")


def _interval(poll: tuple[float, float, float], waited: float) -> float:
    first, cap, divisor = poll
    return max(first, min(cap, waited / divisor))


class ZenlayerImageFleet(AnsibleZenlayer):
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
        self.tags_allowed = True
        self._tag_denied_lock = threading.Lock()
        self._zrm: ZenlayerClient | None = None
        self._next_status = self._next_images = 0.0
        self._status_since = self._images_since = 0.0
        self._settling = False
        self._image_poll_calls = 1

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

    def execute(self) -> dict[str, Any]:
        self.pacer.clock = self.clock  # tests may put another clock in place after __init__
        self._look()
        if self.check_mode:
            self._predict()
        else:
            self._cycle()
        if any(member.failure for member in self.members):
            raise ZenlayerError(summary(self.members))
        return self.partial_result()

    def partial_result(self) -> dict[str, Any]:
        return {"outcomes": {member.key: member.result() for member in self.members},
                "failed_keys": [member.key for member in self.members if member.failure],
                "recorded": self.tags_allowed, "throttled": self.pacer.throttled_count}

    # -- looking first -----------------------------------------------------------------------------------------------

    def _look(self) -> None:
        given = [m for m in self.members if not m.failure]  # the others' input was refused: nothing is sent for them
        if not given:
            return
        with self.step("Reading the %d instances" % len(given)):
            found = {item["instanceId"]: item for item in describe_instances(self.client, [m.instance_id for m in given])}
        for member in given:
            self._take_instance(member, found.get(member.instance_id))
        zones = sorted({m.zone_id for m in self.members if m.zone_id and zone_supports_images(m.zone_id)})
        with self.step("Listing the custom images of zones %s" % ", ".join(zones)):
            images = {zone: describe_images(self.client, zone, imageType=CUSTOM_IMAGE) for zone in zones}
        for member in self.members:
            if member.zone_id and not member.failure:
                self._decide(member, images.get(member.zone_id, []))
        self._check_creatable([m for m in self.members if m.phase == STOPPING_PHASE and not m.failure])

    def _take_instance(self, member: Member, raw: dict[str, Any] | None) -> None:
        if raw is None:
            member.fail("instance %s was not found (deleted, or not visible to this key); check its instance_id"
                        % member.instance_id)
            return
        member.zone_id, member.status = raw.get("zoneId"), raw.get("instanceStatus")
        member.status_before = member.status
        member.disk_size = (raw.get("systemDisk") or {}).get("diskSize")
        record = decode_record(tags_of(raw).get(RECORD_TAG_KEY))
        if record and record["owner"] != self.owner and record["expires"] > self.clock.time() and not self.params["take_over"]:
            member.fail("instance %s is held by job %s (its power record says to put it back %s, until unix time %s): "
                        "another job is working on it. Re-run later, or with take_over when that job is gone"
                        % (member.instance_id, record["owner"], record["power"], record["expires"]))
            return
        member.old_record = record
        before = record["power"] if record else power_to_restore(member.status)
        member.target = before if self.params["power_after"] == "previous" else self.params["power_after"]

    def _decide(self, member: Member, zone_images: list[dict[str, Any]]) -> None:
        """The member's first phase: wait for an image being made, make one, or only put back what a record says."""
        named = named_images(zone_images, member.name)
        if named:
            outcome = image_outcome(member, named)
            member.phase = CREATING_PHASE if outcome is None else DONE_PHASE
        else:
            problem = self._why_not_creatable(member)
            if problem:
                member.fail(problem)
            else:
                member.phase = STOPPING_PHASE
        if member.phase == DONE_PHASE and member.old_record is not None:
            member.phase = RESTORING_PHASE  # an earlier job's record: its power goes back first
            member.target = member.old_record["power"]

    @staticmethod
    def _why_not_creatable(member: Member) -> str | None:
        if not zone_supports_images(member.zone_id or ""):
            return "zone %s (of instance %s) does not support custom images" % (member.zone_id, member.instance_id)
        if member.status == IMAGING:
            return "instance %s is already being imaged (IMAGING) under another name: wait until it is done" % member.instance_id
        why = why_unactionable(member.status)
        return "instance %s cannot be shut down: %s" % (member.instance_id, why) if why else None

    def _check_creatable(self, makers: list[Member]) -> None:
        """Quota room and system disks, per zone, before anything is stopped."""
        zones = sorted({m.zone_id for m in makers if m.zone_id})
        if not zones:
            return
        with self.step("Reading the image quota of zones %s" % ", ".join(zones)):
            allot_quota(makers, image_quotas(self.client, zones))
        with self.step("Reading the system disks of zones %s" % ", ".join(zones)):
            disks = {}
            for zone in zones:
                disks.update(system_disks_in_zone(self.client, zone))
        for member in makers:
            problem = unusable_disk_problem(member.instance_id, disks.get(member.instance_id))
            if problem:
                member.fail(problem)
        for member in makers:
            if member.failure:
                member.phase = RESTORING_PHASE if member.old_record else DONE_PHASE

    def _predict(self) -> None:
        for member in self.members:
            if member.phase == STOPPING_PHASE and not member.failure:
                member.image = predicted_image(member)
            if member.phase in ACTIVE_PHASES and (member.phase != CREATING_PHASE or member.old_record):
                member.changed = True
                self._mark_as_changed()

    # -- power records -----------------------------------------------------------------------------------------------

    def _record_next_hundred(self) -> None:
        """Before their stop: the records of the next 100 instances to stop (those left stopped need none)."""
        hundred = self._awaiting_record()[:MAX_IDS_PER_CALL]
        lifetime = 2 * self.params["stop_timeout"] + self.params["wait_timeout"] + 30 + int(4 * len(self.members) / self.pacer.ceiling)
        each_concurrently(lambda member: self._record(member, lifetime), [m for m in hundred if m.target == "running"])
        for member in hundred:
            if member.failure:
                member.phase = RESTORING_PHASE if member.old_record else DONE_PHASE
            member.cleared_to_stop = True

    def _awaiting_record(self) -> list[Member]:
        return [m for m in self.members if m.phase == STOPPING_PHASE and not m.cleared_to_stop]

    def _record(self, member: Member, lifetime: int) -> None:
        if not self.tags_allowed:
            return
        now = int(self.clock.time())
        record = {"power": member.target, "since": member.old_record["since"] if member.old_record else now,
                  "expires": now + lifetime, "owner": self.owner}
        member.recorded = self._write_tag(member, record)

    def _write_tag(self, member: Member, record: dict[str, Any] | None) -> bool:
        """Set (or with None remove) a member's record; False when the key may not tag (warned once) or it failed."""
        try:
            with self.step("Writing the power record of instance %s" % member.instance_id):
                self.write("ModifyResourceTags", write_params(member.instance_id, record), client=self.zrm, safe_to_retry=True)
        except ZenlayerAPIError as err:
            if err.code == TAG_DENIED_CODE:
                with self._tag_denied_lock:  # several threads may learn it at once: one warning
                    if self.tags_allowed:
                        self.module.warn(TAG_DENIED_WARNING % err.code)
                    self.tags_allowed = False
            else:
                member.fail("%s failed: %s" % (err.doing, err))
            return False
        member.changed = True
        return True

    # -- the cycle ---------------------------------------------------------------------------------------------------

    def _cycle(self) -> None:
        now = self.clock.monotonic()
        for member in self.members:
            member.deadline = now + (self.params["wait_timeout"] if member.phase == CREATING_PHASE else self.params["stop_timeout"])
        self._status_since = self._images_since = now
        while any(m.phase in ACTIVE_PHASES for m in self.members):
            self._tick()
            if self._awaiting_record():
                continue  # the next hundred is recorded and stopped without waiting for a poll
            due = [when for when, phases in ((self._next_status, (STOPPING_PHASE, RESTORING_PHASE)),
                                             (self._next_images, (CREATING_PHASE,)))
                   if any(m.phase in phases for m in self.members)]
            if due:
                self.clock.sleep(max(0.0, min(due) - self.clock.monotonic()))

    def _tick(self) -> None:
        """The records of the next hundred to stop, each poll that is due (statuses, images), then the writes their
        answers call for. A poll is scheduled again only once it was done, so frequent polls of one kind never push
        the other kind back."""
        self._record_next_hundred()
        now = self.clock.monotonic()
        active = [m for m in self.members if m.phase in ACTIVE_PHASES]
        powered = [m for m in active if m.phase in (STOPPING_PHASE, RESTORING_PHASE)]
        status_due = bool(powered) and now >= self._next_status
        if status_due:
            self._poll_statuses(powered)
        creating = [m for m in active if m.phase == CREATING_PHASE]
        images_due = bool(creating) and now >= self._next_images
        if images_due:
            self._poll_images(creating)
        self._power_writes([m for m in self.members if m.phase in (STOPPING_PHASE, RESTORING_PHASE)])
        releasing = [m for m in self.members if m.phase == RELEASING_PHASE]
        each_concurrently(self._release, [m for m in releasing if m.recorded or (m.old_record and self.tags_allowed)])
        for member in releasing:
            member.phase = DONE_PHASE
        self._schedule(status_due, images_due)

    def _release(self, member: Member) -> None:
        self._write_tag(member, None)

    def _schedule(self, status_done: bool, images_done: bool) -> None:
        later = self.clock.monotonic()
        powered = sum(1 for m in self.members if m.phase in (STOPPING_PHASE, RESTORING_PHASE))
        if status_done or not powered:
            status_calls = -(-powered // MAX_IDS_PER_CALL)
            self._next_status = later + max(self._poll_floor(status_calls), _interval(STATUS_POLL, later - self._status_since))
        if images_done or not any(m.phase == CREATING_PHASE for m in self.members):
            # images made together settle together: once one has, the others are looked at more often
            poll = SETTLING_POLL if self._settling else _interval(IMAGE_POLL, later - self._images_since)
            self._next_images = later + max(self._poll_floor(self._image_poll_calls), poll)

    def _poll_floor(self, calls: int) -> float:
        """The shortest wait between two polls of `calls` requests each that keeps polls within POLL_SHARE of the rate."""
        return calls / (POLL_SHARE * self.pacer.ceiling)

    def _poll_statuses(self, members: list[Member]) -> None:
        with self.step("Reading the status of %d instances" % len(members)):
            statuses = instance_statuses(self.client, [m.instance_id for m in members])
        for member in members:
            member.status = statuses.get(member.instance_id)
            if member.status is None:
                member.fail("instance %s disappeared (deleted while it was being imaged)" % member.instance_id)
                member.phase = DONE_PHASE
            elif member.phase == RESTORING_PHASE and member.status == STATUS_OF_POWER[member.target or "running"]:
                member.phase = RELEASING_PHASE

    def _poll_images(self, members: list[Member]) -> None:
        zones = sorted({m.zone_id for m in members if m.zone_id})
        calls_before = self.client.calls_sent
        with self.step("Waiting for the images of %d instances" % len(members)):
            images = {zone: describe_images(self.client, zone, imageType=CUSTOM_IMAGE) for zone in zones}
        self._image_poll_calls = self.client.calls_sent - calls_before
        now = self.clock.monotonic()
        for member in members:
            outcome = image_outcome(member, named_images(images[member.zone_id or ""], member.name))
            if outcome is None:
                self._still_creating(member, now)
            if outcome is not None or member.failure:
                self._settling = True
                member.phase = RESTORING_PHASE if member.touched else DONE_PHASE
                member.deadline = now + self.params["stop_timeout"]

    def _still_creating(self, member: Member, now: float) -> None:
        if member.image is None and member.created_at is not None and now - member.created_at > LISTED_GRACE_SECONDS:
            member.fail("no image named %s appeared in zone %s after CreateImage%s; it is not sent again (it would make a "
                        "second image if the first was made): re-run later, it adopts the image if it shows"
                        % (member.name, member.zone_id, "" if member.create_answered else " (its answer was lost)"))
        elif now > member.deadline:
            member.fail("image %s (%s) is still CREATING after wait_timeout=%s s; it keeps being made: re-run to resume "
                        "the wait" % (member.image_id, member.name, self.params["wait_timeout"]))

    # -- power writes ------------------------------------------------------------------------------------------------

    def _power_writes(self, members: list[Member]) -> None:
        now = self.clock.monotonic()
        to_stop = [m for m in members if m.status == RUNNING and not m.stop_sent
                   and ((m.phase == STOPPING_PHASE and m.cleared_to_stop) or (m.phase == RESTORING_PHASE and m.target == "stopped"))]
        to_start = [m for m in members if m.phase == RESTORING_PHASE and m.target == "running" and m.status == STOPPED
                    and not m.start_sent]
        self._batch("StopInstances", to_stop, {"forceShutdown": self.params["force_shutdown"]})
        self._batch("StartInstances", to_start, {})
        makers = [m for m in members if m.phase == STOPPING_PHASE and m.status == STOPPED and m.cleared_to_stop]
        if makers:
            self._images_since = now
            self._next_images = min(self._next_images, now + IMAGE_POLL[0])
            each_concurrently(self._create, makers)
        for member in [m for m in members if m.phase in (STOPPING_PHASE, RESTORING_PHASE) and now > m.deadline]:
            self._out_of_time(member)

    def _batch(self, action: str, members: list[Member], extra: dict[str, Any]) -> None:
        """One call per 100; a batch the API refuses is sent again one by one, so that a refusal stays with its instance."""
        if members:
            self._status_since = self.clock.monotonic()
            self._next_status = min(self._next_status, self._status_since + STATUS_POLL[0])
        for chunk in chunks(members):
            if not self._send_power(action, chunk, extra) and len(chunk) > 1:
                for member in chunk:
                    self._send_power(action, [member], extra)

    def _send_power(self, action: str, members: list[Member], extra: dict[str, Any]) -> bool:
        """False when the API refused it (nothing was done); else the members count as sent."""
        try:
            with self.step("%s for %d instances" % (action, len(members))):
                self.write(action, dict(extra, instanceIds=[m.instance_id for m in members]))
        except ZenlayerAPIError as err:
            if err.performed is False:
                if len(members) == 1:
                    members[0].fail("%s failed: %s" % (err.doing, err))
                    members[0].deadline = 0.0  # it cannot reach its power: give up at once
                return False
        for member in members:  # done, or maybe done: the status polls tell
            member.changed = True
            setattr(member, "stop_sent" if action == "StopInstances" else "start_sent", True)
        return True

    def _create(self, member: Member) -> None:
        member.phase, member.created_at = CREATING_PHASE, self.clock.monotonic()
        member.deadline = member.created_at + self.params["wait_timeout"]
        params = {"instanceId": member.instance_id, "imageName": member.name, "imageDescription": member.description}
        try:
            with self.step("Creating image %s from instance %s" % (member.name, member.instance_id)):
                payload = self.write("CreateImage", params)
        except ZenlayerAPIError as err:
            member.changed = member.changed or err.outcome_unknown
            if not err.outcome_unknown:
                member.fail("%s failed: %s" % (err.doing, err))
                member.phase = RESTORING_PHASE
                member.deadline = self.clock.monotonic() + self.params["stop_timeout"]
            return  # outcome unknown: the image polls look for it by name, and never send it again
        member.changed, member.create_answered = True, True
        member.image_id = (payload or {}).get("imageId")

    def _out_of_time(self, member: Member) -> None:
        """The power could not be brought where it must be in time: give the record up for the next run, and say so."""
        if member.phase == STOPPING_PHASE:
            member.fail("instance %s did not stop within stop_timeout=%s s (it is %s)"
                        % (member.instance_id, self.params["stop_timeout"], member.status))
            member.phase = RESTORING_PHASE
            member.deadline = self.clock.monotonic() + self.params["stop_timeout"]
            return
        member.fail("the power of instance %s could not be put back (%s) within stop_timeout=%s s: it is %s. Re-run "
                    "(the power record makes the next run put it back first), or set it with "
                    "zenlayer.cloud.zenlayer_instance_power" % (member.instance_id, member.target,
                                                                self.params["stop_timeout"], member.status))
        if member.recorded or member.old_record:
            self._give_up_record(member)
        member.phase = DONE_PHASE

    def _give_up_record(self, member: Member) -> None:
        now = int(self.clock.time())
        power = member.target or "running"
        if self.tags_allowed:
            self._write_tag(member, {"power": power, "since": now, "expires": now, "owner": self.owner})


def main() -> None:
    ZenlayerImageFleet.main()


if __name__ == "__main__":
    main()
