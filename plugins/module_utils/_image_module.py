# -*- coding: utf-8 -*-
# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""ImageModule: what every module that makes or deletes images does the same way, on top of AnsibleZenlayer.

Finding the instance and its zone, the checks before CreateImage, sending it without ever making a second image,
waiting for an image, and deleting one. zenlayer_image and zenlayer_image_line build on it; each sets `self.name`
(the image name to make) and reads its own options for the rest."""

from __future__ import annotations

from typing import Any

from ansible_collections.zenlayer.cloud.plugins.module_utils._api import ZenlayerAPIError
from ansible_collections.zenlayer.cloud.plugins.module_utils._base import AnsibleZenlayer, ZenlayerError
from ansible_collections.zenlayer.cloud.plugins.module_utils._image import (
    AVAILABLE,
    CREATING,
    CUSTOM_IMAGE,
    UNAVAILABLE,
    creating_images,
    custom_images_named,
    describe_image_list,
    describe_images,
    get_image,
    image_quota,
    quota_is_full,
    shape_image,
    zone_supports_images,
)
from ansible_collections.zenlayer.cloud.plugins.module_utils._instance import (
    ENDING_STATUSES,
    IMAGING,
    STOPPED,
    get_instance,
    instance_statuses,
    shape_instance,
    system_disk,
    unusable_disk_problem,
    why_unactionable,
)
from ansible_collections.zenlayer.cloud.plugins.module_utils._wait import IMAGE_WAIT, WaitTimeout, poll_until

DISK_MAKING_IMAGE = "UNSUPPORTED_OPERATION_DISK_MAKING_IMAGE"
SECURITY_CHALLENGE = "SECURITY_CHALLENGE"  # _api.py's code for a 403 from a network challenge, not from the API
SHUTDOWN_HINT = ("shut it down first with zenlayer.cloud.zenlayer_instance_power (state=stopped), or use the role "
                 "zenlayer.cloud.image_from_instance, which stops it, makes the image and restores its power state")
IMAGE_ERROR_HINTS = {
    "INVALID_INSTANCE_NOT_FOUND": "check instance_id",
    "UNSUPPORTED_OPERATION_ZONE_NOT_SUPPORT": "this zone does not support custom images; use an instance in another zone",
    "LIMIT_EXCEEDED_IMAGE_QUOTA": "the zone's custom image quota is full; delete an image (state=absent) or ask "
                                  "Zenlayer support to raise the quota",
    "UNSUPPORTED_OPERATION_INSTANCE_STATE_STARTING": "the instance must be shut down: " + SHUTDOWN_HINT,
    "UNSUPPORTED_OPERATION_DISK_UNAVAILABLE": "the instance's system disk cannot be imaged in its current state",
}


def access_denied(err: ZenlayerAPIError) -> bool:
    """Whether the API refused the call for the key's permissions (HTTP 403; Zenlayer documents no code for it), not
    for a network challenge in front of the API."""
    return err.http_status == 403 and err.performed is False and err.code != SECURITY_CHALLENGE


class ImageModule(AnsibleZenlayer):
    """A module that makes images (from `instance_id`) and deletes them. Options it reads: instance_id, zone_id,
    description, wait (true when the module has none), wait_timeout, assume_stopped."""

    error_hints = IMAGE_ERROR_HINTS
    works_under_lease = True
    reports_progress = True

    def __init__(self, module: Any) -> None:
        super().__init__(module)
        self.name: str | None = self.params.get("name")
        self.zone_id: str | None = None
        self.created_from: str | None = None  # the instance, when this run's CreateImage answered (or would)
        self._wait_started: float | None = None
        self._instance: dict[str, Any] | None = None
        # the wait for an image in progress: the image as the wait began, its last look, whether it was listed yet
        self._awaited: dict[str, Any] | None = None
        self._last_look: dict[str, Any] | None = None
        self._listed = False
        self._lost_create: dict[str, Any] | None = None  # while looking for the image of a CreateImage of unknown outcome

    def leased_instances(self) -> list[str]:
        return [self.params["instance_id"]] if self.params.get("instance_id") else []

    def _shape(self, image: dict[str, Any] | None) -> dict[str, Any] | None:
        return shape_image(image, self.zone_id, self.created_from) if image else None

    # -- slices (see _progress.py): where a wait stands, for the next slice ------------------------------------------

    def resume_state(self) -> dict[str, Any]:
        return {"name": self.name, "zone_id": self.zone_id, "instance": self._instance, "created_from": self.created_from,
                "waited": self.time_waited(), "awaited": self._awaited, "last_look": self._last_look,
                "listed": self._listed, "lost_create": self._lost_create}

    def restore(self, state: dict[str, Any], away: float) -> None:
        self.name, self.zone_id, self._instance = state["name"], state["zone_id"], state["instance"]
        self.created_from = state["created_from"]
        self._wait_started = self.clock.monotonic() - (float(state["waited"]) + away)
        self._awaited, self._last_look, self._listed = state["awaited"], state["last_look"], bool(state["listed"])
        self._lost_create = state["lost_create"]

    def time_waited(self) -> float:
        return 0.0 if self._wait_started is None else self.clock.monotonic() - self._wait_started

    def _resumed_image(self) -> dict[str, Any]:
        """The image as a run in one piece would hold it where the last slice ended: being waited for (still
        CREATING: the caller's _settle() goes back into the wait), or looked for after a CreateImage of unknown
        outcome (the look goes on here)."""
        if self._lost_create is None:
            return self._awaited  # type: ignore[return-value]
        instance = self._fetch_instance()
        with self.step("Creating image %s from instance %s" % (self.name, instance["instanceId"])):
            image = self._adopt_after_lost_answer(ZenlayerAPIError(**self._lost_create, performed=None))
        return self._created(instance, image["imageId"], False)

    # -- lookups -----------------------------------------------------------------------------------------------------

    def partial_result(self) -> dict[str, Any]:
        return {"instance": shape_instance(self._instance, self.clock.time())} if self._instance else {}

    def _fetch_instance(self) -> dict[str, Any]:
        if self._instance is None:
            raise ZenlayerError("instance %s was not found; check instance_id" % self.params["instance_id"])
        return self._instance

    def _find_zone(self) -> str:
        """The zone to look in. With both instance_id and zone_id, reading the instance proves they agree (an image
        is never reported for the wrong zone) - unless the instance is gone: its image may well outlive it."""
        instance_id, zone_id = self.params["instance_id"], self.params.get("zone_id")
        if not instance_id:
            self.zone_id = zone_id
            return self.zone_id
        with self.step("Looking up instance %s" % instance_id):
            self._instance = get_instance(self.client, instance_id)
        if self._instance is None and not zone_id:
            hint = " (to find an image whose instance is gone, give zone_id too)" if "zone_id" in self.params else ""
            raise ZenlayerError("instance %s was not found; check instance_id%s" % (instance_id, hint))
        if self._instance is not None and zone_id and self._instance.get("zoneId") != zone_id:
            raise ZenlayerError("instance %s is in zone %s, but zone_id is %s: an image is made in its instance's zone; "
                                "fix or drop zone_id" % (instance_id, self._instance.get("zoneId"), zone_id))
        self.zone_id = self._instance["zoneId"] if self._instance else zone_id
        return self.zone_id

    def _find_by_name(self) -> dict[str, Any] | None:
        with self.step("Looking up image %s in zone %s" % (self.name, self.zone_id)):
            matches = custom_images_named(self.client, self.zone_id, self.name)
        if len(matches) > 1:
            raise ZenlayerError("%d custom images in zone %s are named %s: %s; delete the extra ones by image_id "
                                "(state=absent) - this module does not guess"
                                % (len(matches), self.zone_id, self.name, describe_image_list(matches)),
                                image_ids=[image["imageId"] for image in matches])
        return matches[0] if matches else None

    # -- waiting -----------------------------------------------------------------------------------------------------

    def _settle(self, image: dict[str, Any]) -> dict[str, Any]:
        """The image once it is no longer CREATING (with wait=true); fails when it ended UNAVAILABLE."""
        if image.get("imageStatus") == CREATING and self.params.get("wait", True):
            image = self._wait_while_creating(image)
        if image.get("imageStatus") == UNAVAILABLE:
            raise ZenlayerError("image %s (%s) in zone %s is UNAVAILABLE: making it failed. Delete it (state=absent) "
                                "and create it again" % (image["imageId"], image.get("imageName"), self.zone_id),
                                image=self._shape(image))
        return image

    def _wait_while_creating(self, image: dict[str, Any]) -> dict[str, Any]:
        if image["imageId"] is None:  # check mode: the image a real run would make and wait for
            return dict(image, imageStatus=AVAILABLE)
        image_id = image["imageId"]
        polls = self.wait_polls("image", self._describe_image_wait)
        if not self.waiting.announced:  # a new wait (not one the last slice ended in)
            # A just-made image may be listed late (asynchronous writes): it is waited for until the deadline. One
            # that was listed and vanishes is gone.
            self._awaited, self._last_look, self._listed = image, None, not self.created_from

        def no_longer_creating(current: dict[str, Any] | None) -> bool:
            if current is None and self._listed:
                raise ZenlayerError("image %s (%s) disappeared from zone %s while it was being waited for"
                                    % (image_id, image.get("imageName"), self.zone_id))
            self._listed = self._listed or current is not None
            self._last_look = current
            return current is not None and current.get("imageStatus") != CREATING

        try:
            with self.step("Waiting for image %s" % image_id):
                # every caller has just seen it CREATING (or just made it): no look at once
                return poll_until(lambda: self._look_at_image(image_id), no_longer_creating,
                                  self._wait_left(), schedule=IMAGE_WAIT, clock=self.clock, fetch_first=False,
                                  between=self.between_polls, polls=polls)
        except WaitTimeout as timeout:
            last = self._last_look
            status = self._describe_image_wait()[1]  # "not listed yet" only after looks that did not find it
            raise ZenlayerError("image %s (%s) is still %s after waiting %.0f s (wait_timeout=%s); it keeps being made: "
                                "re-run the task to resume the wait"
                                % (image_id, image.get("imageName"), status, timeout.waited, self.params["wait_timeout"]),
                                image=self._shape(last or image))

    def _describe_image_wait(self) -> tuple[str, str]:
        """('web (img-1)', its status as last seen): before the first look, as CreateImage (or the look that found
        it) left it; 'not listed yet' after looks that did not find a just-made image."""
        image = self._awaited or {}
        if self._last_look is not None:
            status = self._last_look.get("imageStatus")
        else:
            status = image.get("imageStatus") if self._listed or not self.waiting or not self.waiting.polls.made else "not listed yet"
        return "%s (%s)" % (image.get("imageName") or self.name, image.get("imageId")), str(status)

    def _wait_left(self) -> float:
        """Seconds left of wait_timeout, counted from the first wait of this run (a look after a lost answer counts)."""
        if self._wait_started is None:
            self._wait_started = self.clock.monotonic()
        return max(0.0, self.params["wait_timeout"] - (self.clock.monotonic() - self._wait_started))

    def _look_at_image(self, image_id: str) -> dict[str, Any] | None:
        """The image, and while it is still being made, a look at its instance: one that vanished, or is being
        recycled or released, ends the wait."""
        image = get_image(self.client, self.zone_id, image_id)
        if self._instance is None or (image is not None and image.get("imageStatus") != CREATING):
            return image
        instance_id = self._instance["instanceId"]
        status = instance_statuses(self.client, [instance_id]).get(instance_id)
        if status is None or status in ENDING_STATUSES:
            what = "disappeared" if status is None else "is %s (%s)" % (status, ENDING_STATUSES[status])
            raise ZenlayerError("instance %s %s while image %s (%s) was being made from it: the image may still finish, "
                                "or fail. Re-run with zone_id %s instead of instance_id to wait for it, or delete it "
                                "(state=absent)" % (instance_id, what, image_id, self.name, self.zone_id),
                                image=self._shape(image) if image else None)
        return image

    def _check_no_twin(self) -> None:
        """Two jobs making the same name at once both succeed at the API: say so, with both ids (raises)."""
        self._find_by_name()

    # -- creating --

    def _create(self) -> dict[str, Any]:
        if not self.params["instance_id"]:
            raise ZenlayerError("no custom image named %s in zone %s; give instance_id to create it" % (self.name, self.zone_id))
        instance = self._fetch_instance()
        self._check_can_create(instance)
        with self.step("Creating image %s from instance %s" % (self.name, instance["instanceId"])):
            image_id, answered = self._send_create()
        return self._created(instance, image_id, answered)

    def _created(self, instance: dict[str, Any], image_id: str | None, answered: bool) -> dict[str, Any]:
        """The image CreateImage made (image_id None in check mode): to wait for, or read once without a wait."""
        made = {"imageId": None, "imageName": self.name, "imageDescription": self.params.get("description"),
                "imageStatus": CREATING, "imageType": CUSTOM_IMAGE,
                "imageSize": (instance.get("systemDisk") or {}).get("diskSize")}
        if answered:
            self.created_from = instance["instanceId"]
        if image_id is None or self.params.get("wait", True):
            return dict(made, imageId=image_id)  # check mode, or the wait reads it
        with self.step("Reading image %s" % image_id):
            return get_image(self.client, self.zone_id, image_id) or dict(made, imageId=image_id)

    def _check_can_create(self, instance: dict[str, Any]) -> None:
        """Raise what CreateImage would refuse, before calling it (and in check mode), in the API's own order. The
        quota comes last: `_on_full_quota` is the one step that may change something (zenlayer_image_line's
        make_room deletes), so it runs only once every other check has passed."""
        self._check_zone(instance)
        self._check_instance_status(instance)
        self._check_system_disk(instance["instanceId"])
        quota = self._read_quota()
        if quota_is_full(quota):
            self._on_full_quota(quota)  # type: ignore[arg-type]

    def _on_full_quota(self, quota: dict[str, Any]) -> None:
        """CreateImage would be refused for the quota: say so with the zone's images (raises)."""
        self._refuse_full_quota(quota)

    def _check_system_disk(self, instance_id: str) -> None:
        """A system disk that cannot be imaged now fails the run. A key that may not read disks skips this check with
        a warning: CreateImage's own answer then decides, as it did before this check existed."""
        try:
            with self.step("Reading the system disk of instance %s" % instance_id):
                disk = system_disk(self.client, instance_id)
        except ZenlayerAPIError as err:
            if not access_denied(err):
                raise
            self.module.warn("the access key may not read disks (DescribeDisks: %s), so the system disk of instance %s "
                             "was not checked before CreateImage; grant the key DescribeDisks to have it checked"
                             % (err, instance_id))
            return
        problem = unusable_disk_problem(instance_id, disk)
        if problem:
            raise ZenlayerError(problem)

    def _check_zone(self, instance: dict[str, Any]) -> None:
        if not zone_supports_images(self.zone_id):
            raise ZenlayerError("zone %s (of instance %s) does not support custom images; images can only be made "
                                "from instances in other zones" % (self.zone_id, instance["instanceId"]))

    def _read_quota(self) -> dict[str, Any] | None:
        with self.step("Reading the image quota of zone %s" % self.zone_id):
            return image_quota(self.client, self.zone_id)

    def _refuse_full_quota(self, quota: dict[str, Any], advice: str = "") -> None:
        zone_id = self.zone_id
        with self.step("Listing the custom images of zone %s" % zone_id):
            images = describe_images(self.client, zone_id, imageType=CUSTOM_IMAGE)
        raise ZenlayerError("zone %s already holds %s of %s custom images, the quota: %s. %sDelete one "
                            "(zenlayer.cloud.zenlayer_image state=absent) or ask Zenlayer support to raise the quota"
                            % (zone_id, quota["count"], quota["maxCount"], describe_image_list(images), advice),
                            images=[shape_image(image, zone_id) for image in images])

    def _check_instance_status(self, instance: dict[str, Any]) -> None:
        instance_id, status = instance["instanceId"], instance.get("instanceStatus")
        if status == IMAGING:
            with self.step("Listing the images being made in zone %s" % self.zone_id):
                making = creating_images(self.client, self.zone_id)
            raise ZenlayerError("instance %s is already being imaged (IMAGING): image %s is being made from it; wait "
                                "until it is done, then re-run" % (instance_id, describe_image_list(making)))
        if status == STOPPED or (self.check_mode and self.params.get("assume_stopped") and not why_unactionable(status)):
            return
        if not self.check_mode:
            raise ZenlayerError("instance %s is %s; it must be shut down (STOPPED) before an image is made: %s"
                                % (instance_id, status, SHUTDOWN_HINT))
        self.module.warn("instance %s is %s: the image can only be made once it is shut down (STOPPED); check mode "
                         "goes on as if an earlier task stopped it" % (instance_id, status))

    def _send_create(self) -> tuple[str | None, bool]:
        """(image id, whether CreateImage answered); (None, True) in check mode. Never makes a second image: a
        CreateImage whose outcome is unknown (lost answer, 5xx) is never sent again in this run - its image is looked
        for until the wait's deadline, and adopted when it shows. (The client itself resends only what was proven
        not done: throttled or never sent.)"""
        params = {"instanceId": self.params["instance_id"], "imageName": self.name,
                  "imageDescription": self.params.get("description")}
        try:
            payload = self.write("CreateImage", params)
        except ZenlayerAPIError as err:
            return self._after_failed_create(err)["imageId"], False
        return (payload["imageId"] if payload else None), True

    def _after_failed_create(self, err: ZenlayerAPIError) -> dict[str, Any]:
        """The image to adopt after a failed CreateImage; else raise (the API's refusal, or an unknown outcome)."""
        if err.code == DISK_MAKING_IMAGE:
            image = self._find_by_name()
            if image is not None and image.get("imageStatus") == CREATING:
                return image  # made by an earlier (lost) request of ours, or by a parallel run under this name
        if not err.outcome_unknown:
            raise err
        return self._adopt_after_lost_answer(err)

    def _adopt_after_lost_answer(self, err: ZenlayerAPIError) -> dict[str, Any]:
        """The image a CreateImage of unknown outcome made, once it shows; else raise, saying the outcome is unknown."""
        self._lost_create = err.to_dict()
        image = self._look_after_lost_answer()
        self._lost_create = None
        if image is None:
            raise ZenlayerError(
                "Creating image %s failed and its outcome is unknown: %s. No image named %s appeared in zone %s in the "
                "%.0f s looked for it (wait_timeout=%s), and CreateImage is not sent again in this run: a second one "
                "could make a second image. Re-run the task: it adopts the image if it was made, or makes it"
                % (self.name, err, self.name, self.zone_id, self.params["wait_timeout"], self.params["wait_timeout"]),
                error=err.to_dict())
        return image

    def _look_after_lost_answer(self) -> dict[str, Any] | None:
        """The image a CreateImage of unknown outcome made, looked for until the wait's deadline (writes are
        asynchronous and listings may lag by more than any fixed grace), or None when it never showed."""
        polls = self.wait_polls("lost_create", lambda: (self.name or "", "not listed yet (CreateImage's answer was lost)"))
        with self.step("Looking for image %s after CreateImage failed with an unknown outcome" % self.name):
            try:  # a resumed look has made its first look in an earlier slice
                return poll_until(self._find_by_name, lambda image: image is not None, self._wait_left(),
                                  schedule=IMAGE_WAIT, clock=self.clock, between=self.between_polls,
                                  fetch_first=not polls.made, polls=polls)
            except WaitTimeout:
                return None

    # -- deleting --

    def _delete(self, image_id: str) -> None:
        with self.step("Deleting image %s" % image_id):
            try:
                self.write("DeleteImages", {"imageIds": [image_id]}, safe_to_retry=True)
            except ZenlayerAPIError as err:
                if err.code != "INVALID_IMAGE_NOT_FOUND":
                    raise
                self._mark_as_changed()  # a retried delete whose first try was done: the image seen above is gone
