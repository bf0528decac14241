# -*- coding: utf-8 -*-
# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The fleet of zenlayer_image_fleet: one Member per instance, its phase, and the pure decisions about it.

A member moves through phases: STOPPING (shut down, then CreateImage), CREATING (wait for the image), RESTORING (put
the power back), RELEASING (remove the power record), DONE. A member that fails keeps its failure and still goes
through RESTORING and RELEASING when anything was changed on its instance."""

from __future__ import annotations

from typing import Any

from ansible_collections.zenlayer.cloud.plugins.module_utils._image import (
    AVAILABLE,
    CUSTOM_IMAGE,
    UNAVAILABLE,
    describe_image_list,
    description_problem,
    name_problem,
    quota_is_full,
    shape_image,
)
from ansible_collections.zenlayer.cloud.plugins.module_utils._instance import RUNNING, STOPPED
from ansible_collections.zenlayer.cloud.plugins.module_utils._progress import count_statuses

STOPPING_PHASE = "stopping"
CREATING_PHASE = "creating"
RESTORING_PHASE = "restoring"
RELEASING_PHASE = "releasing"
DONE_PHASE = "done"
ACTIVE_PHASES = (STOPPING_PHASE, CREATING_PHASE, RESTORING_PHASE, RELEASING_PHASE)
STATUS_OF_POWER = {"running": RUNNING, "stopped": STOPPED}


class Member:
    """One instance of the fleet: what was asked, what was seen, what was done."""

    def __init__(self, item: dict[str, Any]) -> None:
        self.instance_id: str = item["instance_id"]
        self.name: str = item["name"]
        self.description: str | None = item.get("description") or None
        self.key: str = item.get("key") or self.instance_id
        self.zone_id: str | None = None
        self.status: str | None = None
        self.status_before: str | None = None
        self.old_record: dict[str, Any] | None = None  # a record an earlier job left
        self.held_by: dict[str, Any] | None = None  # the live record of another job, while this run waits for it
        self.target: str | None = None  # running | stopped: the power to leave it in
        self.phase = DONE_PHASE
        self.deadline = 0.0
        self.image: dict[str, Any] | None = None
        self.image_id: str | None = None
        self.created_at: float | None = None  # when this run's CreateImage was sent
        self.create_answered = False
        self.create_lost: str | None = None  # why the answer of its CreateImage is unknown (lost, or a 5xx)
        self.record: dict[str, Any] | None = None  # the record this run wrote
        self.recorded = False  # this run wrote its record
        self.cleared_to_stop = False  # its record is written, or it needs none: it may be stopped
        self.stop_sent = False
        self.start_sent = False
        # status is what a poll showed since the last thing that moves it (a CreateImage, an end of the image wait,
        # a refused power write): only then is a power write or CreateImage decided on it
        self.status_fresh = True
        self.not_before = 0.0  # a power write refused as "not yet" is tried again from then on
        self.changed = False
        self.failure: str | None = None
        self.disk_size: Any = None

    def fail(self, msg: str) -> None:
        """The first reason this member failed (later ones of the same cause are left out)."""
        if self.failure is None:
            self.failure = msg

    def add_failure(self, msg: str) -> None:
        """A further failure, said after the first one: its power was not put back, its instance was recycled."""
        self.failure = msg if self.failure is None else "%s; then %s" % (self.failure, msg)

    @property
    def touched(self) -> bool:
        """Whether its power may differ from the target, or a record must go: then RESTORING follows any end."""
        return self.stop_sent or self.old_record is not None or self.recorded

    def result(self) -> dict[str, Any]:
        made_from = self.instance_id if self.create_answered else None
        image = shape_image(self.image, self.zone_id, made_from) if self.image else None
        return {"key": self.key, "instance_id": self.instance_id, "name": self.name, "zone_id": self.zone_id,
                "image": image, "changed": self.changed, "failed": self.failure is not None, "msg": self.failure or "",
                "instance_status_before": self.status_before, "instance_status": self.status, "power_after": self.target}


def item_problem(item: dict[str, Any]) -> str | None:
    """Why this one instance of the list cannot be imaged as given, or None: checked before any request, and it
    fails that instance alone."""
    return (not (item.get("instance_id") or "").strip() and "instance_id is empty") \
        or name_problem(item["name"]) or description_problem(item.get("description"))


def input_problem(items: list[dict[str, Any]]) -> str | None:
    """Why the list as a whole cannot be run, or None: checked before any request."""
    if not items:
        return "instances is empty: give at least one {instance_id, name} (an empty list never means 'all')"
    for field in ("instance_id", "name", "key"):
        values = [item.get(field) or (item["instance_id"] if field == "key" else None) for item in items]
        twice = sorted({value for value in values if values.count(value) > 1})
        if twice:
            return ("%s must differ between instances (one instance is imaged once, each image has its own name), "
                    "but %s appear more than once" % (field, ", ".join(twice)))
    return None


def named_images(images: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """The custom images of a zone listing named exactly `name` (the API's name filter may match substrings)."""
    return [image for image in images if image.get("imageName") == name and image.get("imageType") == CUSTOM_IMAGE]


def image_outcome(member: Member, named: list[dict[str, Any]]) -> str | None:
    """Take what a zone listing shows of a member's image: 'ok' once seen AVAILABLE, 'failed', or None while it is not
    listed yet, CREATING, or in a status this collection does not know (it is waited for, never taken for done)."""
    if len(named) > 1:
        member.fail("%d images are named %s in zone %s: %s; delete the extra ones (zenlayer.cloud.zenlayer_image "
                    "state=absent image_id=...)" % (len(named), member.name, member.zone_id, describe_image_list(named)))
        return "failed"
    if not named:
        return None
    member.image, member.image_id = named[0], named[0]["imageId"]
    status = member.image.get("imageStatus")
    if status == AVAILABLE:
        return "ok"
    if status == UNAVAILABLE:
        member.fail("image %s (%s) in zone %s is UNAVAILABLE: making it failed. Delete it (zenlayer.cloud.zenlayer_image "
                    "state=absent) and run again" % (member.image_id, member.name, member.zone_id))
        return "failed"
    return None


def allot_quota(members: list[Member], quotas: dict[str, dict[str, Any] | None]) -> None:
    """Fail, in each zone, the members beyond the room its custom image quota has left (in the order given)."""
    room: dict[str, int] = {}
    for zone_id, quota in quotas.items():
        if quota and isinstance(quota.get("count"), int) and isinstance(quota.get("maxCount"), int):
            room[zone_id] = max(0, quota["maxCount"] - quota["count"])
    for member in members:
        left = room.get(member.zone_id or "")
        if left is None:
            continue  # the API does not say: it decides
        if left <= 0:
            quota = quotas[member.zone_id or ""] or {}
            member.fail("zone %s has no room for image %s: it holds %s of %s custom images%s. Delete images "
                        "(zenlayer.cloud.zenlayer_image state=absent) or ask Zenlayer support to raise the quota"
                        % (member.zone_id, member.name, quota.get("count"), quota.get("maxCount"),
                           "" if quota_is_full(quota) else ", and the rest of the room goes to instances listed earlier"))
            continue
        room[member.zone_id or ""] = left - 1


def predicted_image(member: Member) -> dict[str, Any]:
    """The image a real run would make, as check mode reports it (no id yet)."""
    return {"imageId": None, "imageName": member.name, "imageDescription": member.description,
            "imageStatus": AVAILABLE, "imageType": CUSTOM_IMAGE, "imageSize": member.disk_size}


def progress_status(member: Member) -> str:
    """What a member not seen AVAILABLE is at, for the progress line: FAILED, its image's status (CREATING until its
    image is listed), or its instance's status as last polled (STOPPING, STOPPED, STARTING...)."""
    if member.failure:
        return "FAILED"
    if member.phase == CREATING_PHASE:
        return str((member.image or {}).get("imageStatus") or "CREATING")
    return member.status or member.phase.upper()


def progress_counts(members: list[Member]) -> str:
    """'37/100 AVAILABLE, 55 CREATING, 8 STOPPING': the members whose image was seen AVAILABLE, then the others."""
    available = [member for member in members if (member.image or {}).get("imageStatus") == AVAILABLE]
    others = count_statuses([progress_status(member) for member in members if member not in available])
    return "%d/%d AVAILABLE%s" % (len(available), len(members), ", " + others if others else "")


def summary(members: list[Member]) -> str:
    failed = [member for member in members if member.failure]
    lines = ["%s (%s): %s" % (member.key, member.instance_id, member.failure) for member in failed]
    return "%d of %d instances failed: %s" % (len(failed), len(members), "; ".join(lines))
