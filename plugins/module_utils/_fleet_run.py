# -*- coding: utf-8 -*-
# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""FleetRun: the engine of zenlayer_image_fleet - the look, the power records, the cycle, its polls and its writes.

The module gives it itself (its write(), step(), check_mode, clock, paced clients and warnings) and its members
(_fleet.Member). run() looks first, then, for real, stops, images and puts the power back in one cycle of ticks; in
check mode it predicts instead. A member's outcome is ok only for what a poll showed: its image AVAILABLE (made, or
adopted by name) and, when this run changed its power or holds its record, that power back as asked. An error that
ends the whole run fails every unfinished member with the reason, and still puts back the power of those it
stopped (or gives their records up to the next run where it cannot)."""

from __future__ import annotations

import threading
import time
import traceback
from typing import Any

from ansible_collections.zenlayer.cloud.plugins.module_utils._api import ZenlayerAPIError
from ansible_collections.zenlayer.cloud.plugins.module_utils._base import ZenlayerError
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
    named_images,
    predicted_image,
    progress_counts,
    summary,
)
from ansible_collections.zenlayer.cloud.plugins.module_utils._image import (
    AVAILABLE,
    CUSTOM_IMAGE,
    describe_images,
    image_quotas,
    zone_supports_images,
)
from ansible_collections.zenlayer.cloud.plugins.module_utils._image_module import access_denied
from ansible_collections.zenlayer.cloud.plugins.module_utils._instance import (
    ENDING_STATUSES,
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
from ansible_collections.zenlayer.cloud.plugins.module_utils._fleet_resume import run_from_resume, run_to_resume
from ansible_collections.zenlayer.cloud.plugins.module_utils._lease import lock_timeout
from ansible_collections.zenlayer.cloud.plugins.module_utils._pace import each_concurrently
from ansible_collections.zenlayer.cloud.plugins.module_utils._progress import SliceEnded
from ansible_collections.zenlayer.cloud.plugins.module_utils._wait import POWER_WAIT, Polls, WaitTimeout, poll_until
from ansible_collections.zenlayer.cloud.plugins.module_utils._record import (
    RECORD_TAG_KEY,
    TAG_DENIED_CODE,
    decode_record,
    is_live,
    lapse,
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
# While they wait for their images, the instances' statuses are read this often (one call per 100): it shows an
# instance recycled, released or deleted, which ends its wait.
CREATING_STATUS_POLL = 15.0
# The share of rate_limit that polls may take: a poll costing more calls (1 per 100 instances, 1 per zone and
# page of images) waits longer, so that the writes keep most of the rate.
POLL_SHARE = 0.2
# Refusals of a power write that say only "not in the state this needs yet" (still imaging, still moving): the status
# is read again and the write sent again (no sooner than NOT_YET_RETRY_SECONDS later) until the deadline.
NOT_YET_CODES = frozenset({"UNSUPPORTED_OPERATION_DISK_MAKING_IMAGE", "OPERATION_DENIED_INSTANCE_NOT_STOPPED",
                           "OPERATION_DENIED_INSTANCE_NOT_RUNNING", "UNSUPPORTED_OPERATION_INSTANCE_STATE_STARTING"})
NOT_YET_RETRY_SECONDS = 10.0
TAG_DENIED_WARNING = ("the access key may not tag instances (%s), so no power records are kept: if this job is "
                      "cancelled or killed while instances are stopped, nothing tells the next job to put them back. "
                      "Allow the key to call the resource-manager service's ModifyResourceTags to have that guarantee")
DISK_DENIED_WARNING = ("the access key may not call DescribeDisks (%s), so the system disks were not checked before the "
                       "stop: an instance whose disk cannot be imaged now is stopped, its CreateImage refused, and its "
                       "power put back (it fails alone). Allow the key to call DescribeDisks to have them checked first")


def _interval(poll: tuple[float, float, float], waited: float) -> float:
    first, cap, divisor = poll
    return max(first, min(cap, waited / divisor))


def _utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _doing(err: ZenlayerAPIError) -> str:
    return "%s failed: %s" % (err.doing or "The %s call" % (err.action or "API"), err)


class FleetRun:
    """One run of zenlayer_image_fleet over its members (see the module docstring above)."""

    def __init__(self, module: Any) -> None:
        self.module = module
        self.params: dict[str, Any] = module.params
        self.members: list[Member] = module.members
        self.tags_allowed = True
        self._tag_denied_lock = threading.Lock()
        self._next_status = self._next_images = self._next_creating_status = 0.0
        self._status_since = self._images_since = 0.0
        self._status_wanted = False  # a member waits for a fresh status before its power can be put back
        self._settling = False
        self._image_poll_calls = 1
        self._poll_errors: dict[str, str] = {}  # "statuses"/"images": the last failure, until one succeeds
        # progress (see _progress.py): the cycle's start, its polls, whether this run takes up a slice's resume, and
        # whether it is putting the power back after an error (that cycle runs in one piece)
        self._cycle_started = 0.0
        self._polls = Polls()
        self._resumed = False
        self._ending = False

    @property
    def clock(self) -> Any:
        return self.module.clock

    # -- the run -----------------------------------------------------------------------------------------------------

    def run(self) -> None:
        """Look, then image for real (or predict, in check mode). Raises ZenlayerError when an error ended the run
        (every unfinished member failed, with the reason); the members' own failures are left to the caller."""
        try:
            if not self._resumed:  # a resumed slice goes straight back into the cycle its last slice ended in
                self._look()
                if self.module.check_mode:
                    self._predict()
                    return
                self._start_clock()
            self._polls = self.module.wait_polls("fleet", lambda: (progress_counts(self.members), ""))
            if self._resumed:
                self._pause()  # the rest of the pause the last slice ended before
            self._cycle()
        except (ZenlayerAPIError, ZenlayerError) as err:
            reason = _doing(err) if isinstance(err, ZenlayerAPIError) else str(err)
            self._end_early(reason)
            raise self._ended_early(reason, **({"error": err.to_dict()} if isinstance(err, ZenlayerAPIError) else {})) from err
        except Exception as err:  # pylint: disable=broad-exception-caught
            # an answer this code could not read (or a fault of its own): the power still goes back
            reason = "%s: %s (an error of zenlayer_image_fleet, see the exception)" % (type(err).__name__, err)
            trace = traceback.format_exc()
            self._end_early(reason)
            raise self._ended_early(reason, exception=trace) from err
        self._check_proof()

    def _ended_early(self, reason: str, **details: Any) -> ZenlayerError:
        """The module's failure when an error ended the run: the reason once, then each member's own outcome."""
        return ZenlayerError("The run ended early: %s. %s" % (reason, summary(self.members).replace(reason, "that error")),
                             **details)

    def _end_early(self, reason: str) -> None:
        """Fail every unfinished member with the reason; put back the power of those it touched, in one more bounded
        cycle (stop_timeout, in one piece: no slice ends in it); give up the records of those it cannot."""
        self._ending = True
        now = self.clock.monotonic()
        for member in self.members:
            if member.phase not in ACTIVE_PHASES or member.phase == RELEASING_PHASE:
                continue  # done, or its power is back and only its record is left to remove
            member.fail("the run ended before this instance was done: " + reason)
            member.phase = RESTORING_PHASE if member.touched and not self.module.check_mode else DONE_PHASE
            member.deadline, member.status_fresh = now + self.params["stop_timeout"], False
        if self.module.check_mode:
            return
        self._status_wanted, self._status_since = True, now
        try:
            self._cycle()
        except Exception as err:  # pylint: disable=broad-exception-caught
            self.abandon("putting the power back failed as well (%s: %s)" % (type(err).__name__, err))

    def abandon(self, why: str) -> None:
        """Stop working on every unfinished member: say why, and give its record up so that the next run puts its
        power back at once. Never raises."""
        for member in self.members:
            if member.phase not in ACTIVE_PHASES:
                continue
            releasing, member.phase = member.phase == RELEASING_PHASE, DONE_PHASE
            if releasing:
                continue  # its power is back: only its record is left, and it says to keep that power
            member.add_failure("its power was not seen put back (%s): %s" % (member.target, why))
            try:
                self._give_up_record(member)
            except Exception:  # pylint: disable=broad-exception-caught
                pass  # the record stays as written: it expires, and the next run takes it over then

    def _check_proof(self) -> None:
        """An outcome is ok only for what was seen: its image AVAILABLE and, when this run touched its power or
        record, its power back as asked."""
        for member in self.members:
            if member.failure:
                continue
            if not member.image or member.image.get("imageStatus") != AVAILABLE:
                member.fail("image %s was not seen AVAILABLE (last seen %s)"
                            % (member.name, (member.image or {}).get("imageStatus", "not listed")))
            elif member.touched and member.status != STATUS_OF_POWER[member.target or "running"]:
                member.fail("the power of instance %s was not seen put back (%s): it was last seen %s"
                            % (member.instance_id, member.target, member.status))

    # -- looking first -----------------------------------------------------------------------------------------------

    def _look(self) -> None:
        given = [m for m in self.members if not m.failure]  # the others' input was refused: nothing is sent for them
        if not given:
            return
        with self.module.step("Reading the %d instances" % len(given)):
            found = {item["instanceId"]: item for item in describe_instances(self.module.client, [m.instance_id for m in given])}
        for member in given:
            self._take_instance(member, found.get(member.instance_id))
        self._wait_for_holders()
        zones = sorted({m.zone_id for m in self.members if m.zone_id and zone_supports_images(m.zone_id)})
        with self.module.step("Listing the custom images of zones %s" % ", ".join(zones)):
            images = {zone: describe_images(self.module.client, zone, imageType=CUSTOM_IMAGE) for zone in zones}
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
        if self._held_by_another(record):
            member.held_by = record
            return
        member.held_by = None
        member.old_record = record
        before = record["power"] if record else power_to_restore(member.status)
        member.target = before if self.params["power_after"] == "previous" else self.params["power_after"]

    def _held_by_another(self, record: dict[str, Any] | None) -> bool:
        return (record is not None and record["owner"] != self.module.owner and is_live(record, self.clock.time())
                and not self.params["take_over"])

    def _wait_for_holders(self) -> None:
        """Members whose record another job holds (its lease live) are waited for, together, up to lock_timeout: a
        holder that gave its lease up or stopped renewing frees them; one that is alive fails them, named."""
        held = [m for m in self.members if m.held_by is not None]
        if not held:
            return
        started, renewed = self.clock.time(), {}

        def fetch() -> dict[str, dict[str, Any]]:
            return {item["instanceId"]: item for item in describe_instances(self.module.client, [m.instance_id for m in held])}

        def freed(found: dict[str, dict[str, Any]]) -> bool:
            for member in held:
                record = decode_record(tags_of(found.get(member.instance_id) or {}).get(RECORD_TAG_KEY))
                if record and member.held_by and record["expires"] > member.held_by["expires"]:
                    renewed[member.instance_id] = self.clock.time()
                self._take_instance(member, found.get(member.instance_id))
            held[:] = [m for m in held if m.held_by is not None and not m.failure]
            return not held

        try:
            with self.module.step("Waiting for the jobs holding %d instances" % len(held)):
                poll_until(fetch, freed, self._lock_timeout(), schedule=POWER_WAIT, clock=self.clock,
                           fetch_first=False, between=self.module.between_polls)
        except WaitTimeout:
            for member in held:
                member.fail(self._held_message(member, renewed.get(member.instance_id), started))

    def _lock_timeout(self) -> float:
        timeout = self.params["lock_timeout"]
        return lock_timeout(self.params["lease"]) if timeout is None else timeout

    def _held_message(self, member: Member, renewal: float | None, started: float) -> str:
        held = member.held_by or {}
        seen = ("it renewed its lease at %s, seen while this run waited" % _utc(renewal) if renewal
                else "no renewal seen in the %.0f s this run waited since %s" % (self._lock_timeout(), _utc(started)))
        return ("instance %s is held by job %s, its lease live until %s (+60 s margin for clocks); %s. Its power record "
                "says to put it back %s. Re-run when that job is done, or with take_over when you know it is gone"
                % (member.instance_id, held.get("owner"), _utc(held.get("expires", 0)), seen, held.get("power")))

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
        with self.module.step("Reading the image quota of zones %s" % ", ".join(zones)):
            allot_quota(makers, image_quotas(self.module.client, zones))
        self._check_disks(makers, zones)
        for member in makers:
            if member.failure:
                member.phase = RESTORING_PHASE if member.old_record else DONE_PHASE

    def _check_disks(self, makers: list[Member], zones: list[str]) -> None:
        """A key that may not read disks is warned once, and the API's own CreateImage checks the disks instead."""
        disks: dict[str, dict[str, Any]] = {}
        try:
            with self.module.step("Reading the system disks of zones %s" % ", ".join(zones)):
                for zone in zones:
                    disks.update(system_disks_in_zone(self.module.client, zone))
        except ZenlayerAPIError as err:
            if not access_denied(err):
                raise
            self.module.module.warn(DISK_DENIED_WARNING % err.code)
            return
        for member in makers:
            problem = unusable_disk_problem(member.instance_id, disks.get(member.instance_id))
            if problem:
                member.fail(problem)

    def _predict(self) -> None:
        for member in self.members:
            if member.phase == STOPPING_PHASE and not member.failure:
                member.image = predicted_image(member)
            if member.phase in ACTIVE_PHASES and (member.phase != CREATING_PHASE or member.old_record):
                member.changed = True
                self.module.changed = True

    # -- power records -----------------------------------------------------------------------------------------------

    def _record_next_hundred(self) -> None:
        """Before their stop: the records of the next 100 instances to stop (those left stopped need none)."""
        hundred = self._awaiting_record()[:MAX_IDS_PER_CALL]
        if not hundred:
            return
        each_concurrently(self._record, [m for m in hundred if m.target == "running"])
        for member in hundred:
            if member.failure:
                member.phase = RESTORING_PHASE if member.old_record else DONE_PHASE
            member.cleared_to_stop = True

    def _awaiting_record(self) -> list[Member]:
        return [m for m in self.members if m.phase == STOPPING_PHASE and not m.cleared_to_stop]

    def _record(self, member: Member) -> None:
        if not self.tags_allowed:
            return
        now = int(self.clock.time())
        record = {"power": member.target, "since": member.old_record["since"] if member.old_record else now,
                  "expires": now + self.params["lease"], "owner": self.module.owner}
        self.module.lease.hold(member.instance_id, record)  # from now on a cancel gives it up, written or not
        member.recorded = self._write_tag(member, record)
        member.record = record if member.recorded else None
        if not member.recorded:
            self.module.lease.release(member.instance_id)

    def _write_tag(self, member: Member, record: dict[str, Any] | None) -> bool:
        """Set (or with None remove) a member's record; False when the key may not tag (warned once) or it failed."""
        try:
            with self.module.step("Writing the power record of instance %s" % member.instance_id):
                self.module.write("ModifyResourceTags", write_params(member.instance_id, record), client=self.module.zrm,
                                  safe_to_retry=True)
        except ZenlayerAPIError as err:
            if err.code == TAG_DENIED_CODE:
                with self._tag_denied_lock:  # several threads may learn it at once: one warning
                    if self.tags_allowed:
                        self.module.module.warn(TAG_DENIED_WARNING % err.code)
                    self.tags_allowed = False
            else:
                member.fail("%s failed: %s" % (err.doing, err))
            return False
        member.changed = True
        return True

    def _release(self, member: Member) -> None:
        self._write_tag(member, None)
        self.module.lease.release(member.instance_id)

    def renew_leases(self) -> None:
        """The records whose lease has less than a third left, renewed on the paced threads like the other writes
        (a renewal that fails is tried again at the next tick)."""
        lease = self.module.lease
        each_concurrently(lambda instance_id: self._renew(lease, instance_id), lease.due())

    def _renew(self, lease: Any, instance_id: str) -> None:
        try:
            lease.renew(instance_id)
        except ZenlayerAPIError:
            pass

    def _give_up_record(self, member: Member) -> None:
        """Its power could not be put back: the record keeps the power to put back and releases the claim (lapse), so
        that the next run takes it over at once."""
        held = member.record or member.old_record
        self.module.lease.release(member.instance_id)
        if held is None or not self.tags_allowed or not (member.recorded or member.old_record):
            return
        self._write_tag(member, lapse(dict(held, power=member.target or "running", owner=self.module.owner)))

    # -- the cycle ---------------------------------------------------------------------------------------------------

    def _start_clock(self) -> None:
        now = self._cycle_started = self.clock.monotonic()
        for member in self.members:
            member.deadline = now + (self.params["wait_timeout"] if member.phase == CREATING_PHASE else self.params["stop_timeout"])
        self._status_since = self._images_since = now
        self._next_creating_status = now + CREATING_STATUS_POLL

    def _cycle(self) -> None:
        while any(m.phase in ACTIVE_PHASES for m in self.members):
            self._tick()
            if self._awaiting_record() or (self._status_wanted and self._powered()):
                continue  # the next hundred is recorded and stopped, or a status read, without waiting for a poll
            self._pause()

    def _pause(self) -> None:
        """Sleep until the next tick has something to do; the module's slice may end first (SliceEnded)."""
        wake = self._next_wakeup()
        if wake is None:
            return
        pause = max(0.0, wake - self.clock.monotonic())
        self._end_slice_before(pause)
        self.clock.sleep(pause)

    def _end_slice_before(self, pause: float) -> None:
        """End the module's slice before this pause when its rule says so (_progress.Slice.over): at the cycle's first
        pause (its first progress line), then before a pause that would end after the slice's end."""
        waiting, piece = self.module.waiting, self.module.slice
        if self._ending or piece is None or waiting is None:
            return
        waiting.polls.next_pause = pause
        if piece.over(waiting):
            raise SliceEnded()

    # -- slices ------------------------------------------------------------------------------------------------------

    def waited(self) -> float:
        """Seconds since the cycle started (0 before it has)."""
        return max(0.0, self.clock.monotonic() - self._cycle_started) if self._cycle_started else 0.0

    def resume_state(self) -> dict[str, Any]:
        """Where the run stands at the end of a slice (JSON data: see _fleet_resume.py)."""
        return run_to_resume(self, self.clock.monotonic())

    def restore(self, state: dict[str, Any], away: float) -> None:
        """Take up where the last slice, `away` seconds ago, stood: run() then goes straight back into the cycle."""
        run_from_resume(self, state, self.clock.monotonic(), away)
        self._resumed = True

    def _powered(self) -> list[Member]:
        """The members whose power is being moved (stopped, or put back)."""
        return [m for m in self.members if m.phase in (STOPPING_PHASE, RESTORING_PHASE)]

    def _creating(self) -> list[Member]:
        return [m for m in self.members if m.phase == CREATING_PHASE]

    def _next_wakeup(self) -> float | None:
        """When the next tick has something to do: a poll that falls due (or other work due between polls)."""
        due = []
        if self._powered():
            due.append(self._next_status)
        if self._creating():
            due += [self._next_images, self._next_creating_status]
        return min(due) if due else None

    def _tick(self) -> None:
        """The work due between polls, each poll that is due (images, then statuses, so that a member whose image
        settled has a fresh status), then the writes their answers call for. A poll is scheduled again only once it
        was done, so frequent polls of one kind never push the other kind back."""
        self._work_due_between_polls()
        now = self.clock.monotonic()
        creating = self._creating()
        images_due = bool(creating) and now >= self._next_images
        if images_due:
            self._poll_images(creating)
        powered, creating = self._powered(), self._creating()
        creating_due = bool(creating) and now >= self._next_creating_status
        powered_due = bool(powered) and (now >= self._next_status or self._status_wanted or creating_due)
        if powered_due or creating_due:  # one poll for both (one call per 100 instances)
            self._poll_statuses((powered if powered_due else []) + (creating if creating_due else []))
        self._power_writes(self._powered())
        releasing = [m for m in self.members if m.phase == RELEASING_PHASE]
        each_concurrently(self._release, [m for m in releasing if m.recorded or (m.old_record and self.tags_allowed)])
        for member in releasing:
            member.phase = DONE_PHASE
        self._schedule(powered_due, images_due, creating_due)

    def _work_due_between_polls(self) -> None:
        """Writes that fall due whatever the polls say, once per tick: the records of the next hundred to stop, and
        the module's own work between polls (the renewal of the leases it holds)."""
        self._record_next_hundred()
        self.module.between_polls()

    def _schedule(self, status_done: bool, images_done: bool, creating_watched: bool) -> None:
        later = self.clock.monotonic()
        powered, creating = len(self._powered()), bool(self._creating())
        if status_done or not powered:
            status_calls = -(-powered // MAX_IDS_PER_CALL)
            self._next_status = later + max(self._poll_floor(status_calls), _interval(STATUS_POLL, later - self._status_since))
        if creating_watched or not creating:
            self._next_creating_status = later + CREATING_STATUS_POLL
        if images_done or not creating:
            # images made together settle together: once one has, the others are looked at more often
            poll = SETTLING_POLL if self._settling else _interval(IMAGE_POLL, later - self._images_since)
            self._next_images = later + max(self._poll_floor(self._image_poll_calls), poll)

    def _poll_floor(self, calls: int) -> float:
        """The shortest wait between two polls of `calls` requests each that keeps polls within POLL_SHARE of the rate."""
        return calls / (POLL_SHARE * self.module.pacer.ceiling)

    # -- polls -------------------------------------------------------------------------------------------------------

    def _poll_statuses(self, members: list[Member]) -> None:
        """A poll that fails (past the client's own retries) is tried again at the next poll time: the members'
        deadlines bound the wait, and their messages then say why."""
        self._status_wanted = False
        self._polls.made += 1
        try:
            with self.module.step("Reading the status of %d instances" % len(members)):
                statuses = instance_statuses(self.module.client, [m.instance_id for m in members])
        except ZenlayerAPIError as err:
            self._poll_errors["statuses"] = _doing(err)
            return
        self._poll_errors.pop("statuses", None)
        for member in members:
            member.status, member.status_fresh = statuses.get(member.instance_id), True
            if member.status is None or member.status in ENDING_STATUSES:
                self._instance_ended(member)
            elif member.phase == RESTORING_PHASE and member.status == STATUS_OF_POWER[member.target or "running"]:
                member.phase = RELEASING_PHASE
            elif member.status == IMAGING:
                # a start accepted before its CreateImage took effect comes to nothing (the API does not start an
                # instance that is imaging): this proves it, so the start is sent again once the instance is STOPPED
                member.start_sent = False

    def _instance_ended(self, member: Member) -> None:
        """Deleted, recycled or released: every wait of it ends; its record (if the instance is still there) is given
        up with the power to put back, should it come back from the recycle bin."""
        if member.status is None:
            member.add_failure("instance %s disappeared (deleted while it was being imaged)" % member.instance_id)
        else:
            member.add_failure("instance %s is %s (%s) while it was being imaged: its wait ends, and its power cannot be "
                               "put back (%s)" % (member.instance_id, member.status, ENDING_STATUSES[member.status],
                                                  member.target))
            self._give_up_record(member)
        member.phase = DONE_PHASE

    def _poll_images(self, members: list[Member]) -> None:
        zones = sorted({m.zone_id for m in members if m.zone_id})
        calls_before = self.module.client.calls_sent
        images: dict[str, list[dict[str, Any]]] | None = None
        self._polls.made += 1
        try:
            with self.module.step("Waiting for the images of %d instances" % len(members)):
                images = {zone: describe_images(self.module.client, zone, imageType=CUSTOM_IMAGE) for zone in zones}
            self._poll_errors.pop("images", None)
        except ZenlayerAPIError as err:
            self._poll_errors["images"] = _doing(err)  # tried again at the next poll, until each member's deadline
        self._image_poll_calls = max(1, self.module.client.calls_sent - calls_before)
        now = self.clock.monotonic()
        for member in members:
            outcome = None if images is None else image_outcome(member, named_images(images[member.zone_id or ""], member.name))
            if outcome is None and now > member.deadline:
                member.fail(self._image_wait_over(member))
            if outcome is not None or member.failure:
                self._settling = self._settling or outcome is not None
                self._image_wait_ended(member, now)

    def _image_wait_over(self, member: Member) -> str:
        """Why the image of a member was not seen done within wait_timeout."""
        failing = self._poll_errors.get("images")
        listing = "; the image listing failed: %s" % failing if failing else ""
        if member.image is not None:
            return ("image %s (%s) is still %s after wait_timeout=%s s%s; it keeps being made: a re-run adopts it once it "
                    "is AVAILABLE" % (member.image_id, member.name, member.image.get("imageStatus"),
                                      self.params["wait_timeout"], listing))
        if member.create_lost:
            return ("the outcome of CreateImage for image %s is unknown: %s, and no image of that name showed in zone %s "
                    "within wait_timeout=%s s%s. It was not sent again (a second image could be made); a re-run adopts "
                    "the image if it was made, or makes it" % (member.name, member.create_lost, member.zone_id,
                                                               self.params["wait_timeout"], listing))
        return ("no image named %s showed in zone %s within wait_timeout=%s s of its CreateImage (answered with image id "
                "%s)%s; a re-run adopts it if it shows, or makes it" % (member.name, member.zone_id,
                                                                        self.params["wait_timeout"], member.image_id, listing))

    def _image_wait_ended(self, member: Member, now: float) -> None:
        """Its image settled or its wait ended: its power goes back next, decided on a status read from now on."""
        member.phase = RESTORING_PHASE if member.touched else DONE_PHASE
        member.deadline, member.status_fresh = now + self.params["stop_timeout"], False
        self._status_wanted = self._status_wanted or member.touched

    # -- power writes ------------------------------------------------------------------------------------------------

    def _power_writes(self, members: list[Member]) -> None:
        now = self.clock.monotonic()
        ready = [m for m in members if m.status_fresh and now >= m.not_before]
        to_stop = [m for m in ready if m.status == RUNNING and not m.stop_sent
                   and ((m.phase == STOPPING_PHASE and m.cleared_to_stop) or (m.phase == RESTORING_PHASE and m.target == "stopped"))]
        to_start = [m for m in ready if m.phase == RESTORING_PHASE and m.target == "running" and m.status == STOPPED
                    and not m.start_sent]
        self._batch("StopInstances", to_stop, {"forceShutdown": self.params["force_shutdown"]})
        self._batch("StartInstances", to_start, {})
        makers = [m for m in ready if m.phase == STOPPING_PHASE and m.status == STOPPED and m.cleared_to_stop]
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
            with self.module.step("%s for %d instances" % (action, len(members))):
                self.module.write(action, dict(extra, instanceIds=[m.instance_id for m in members]))
        except ZenlayerAPIError as err:
            if err.performed is False:
                if len(members) == 1:
                    self._refused(members[0], err)
                return False
        for member in members:  # done, or maybe done: the status polls tell
            member.changed = True
            setattr(member, "stop_sent" if action == "StopInstances" else "start_sent", True)
        return True

    def _refused(self, member: Member, err: ZenlayerAPIError) -> None:
        """A power write refused for this one instance: tried again on a fresh status when it is only "not yet" (still
        imaging, still moving), else given up at once."""
        if err.code in NOT_YET_CODES:
            member.status_fresh, member.not_before = False, self.clock.monotonic() + NOT_YET_RETRY_SECONDS
            return
        member.fail("%s failed: %s" % (err.doing, err))
        member.deadline = 0.0  # it cannot reach its power: give up at once

    def _create(self, member: Member) -> None:
        member.phase, member.created_at, member.status_fresh = CREATING_PHASE, self.clock.monotonic(), False
        member.deadline = member.created_at + self.params["wait_timeout"]
        params = {"instanceId": member.instance_id, "imageName": member.name, "imageDescription": member.description}
        try:
            with self.module.step("Creating image %s from instance %s" % (member.name, member.instance_id)):
                payload = self.module.write("CreateImage", params)
        except ZenlayerAPIError as err:
            member.changed = member.changed or err.outcome_unknown
            if err.outcome_unknown:  # never sent again: the image polls look for it by name until the deadline
                member.create_lost = "its answer was lost or an error (%s)" % (err.code or err)
                return
            member.fail("%s failed: %s" % (err.doing, err))
            member.phase, member.status_fresh = RESTORING_PHASE, True  # refused: the instance is as it was, STOPPED
            member.deadline = self.clock.monotonic() + self.params["stop_timeout"]
            return
        member.changed, member.create_answered = True, True
        member.image_id = (payload or {}).get("imageId")

    def _out_of_time(self, member: Member) -> None:
        """The power could not be brought where it must be in time: give the record up for the next run, and say so."""
        failing = self._poll_errors.get("statuses")
        unread = "; its status could not be read: %s" % failing if failing else ""
        if member.phase == STOPPING_PHASE:
            member.fail("instance %s did not stop within stop_timeout=%s s (it is %s)%s"
                        % (member.instance_id, self.params["stop_timeout"], member.status, unread))
            member.phase = RESTORING_PHASE
            member.deadline = self.clock.monotonic() + self.params["stop_timeout"]
            return
        member.add_failure("the power of instance %s could not be put back (%s) within stop_timeout=%s s: it is %s%s. "
                           "Re-run (the power record makes the next run put it back first), or set it with "
                           "zenlayer.cloud.zenlayer_instance_power" % (member.instance_id, member.target,
                                                                       self.params["stop_timeout"], member.status, unread))
        self._give_up_record(member)
        member.phase = DONE_PHASE
