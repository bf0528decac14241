#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: zenlayer_image
short_description: Create, update and delete custom images of Zenlayer Cloud VM instances
version_added: 0.1.0
author: zenlayer.cloud maintainers (@zenlayer-cloud)
description:
  - Makes a custom image from the system disk of a Zenlayer Cloud VM instance, updates its description, or deletes it.
  - An image is identified by its exact O(name) among the custom images of a zone (the zone of O(instance_id), or
    O(zone_id)). Names are compared exactly, so V(web) never matches V(web-old). When more than one custom image of
    the zone carries the name, the module fails and lists their ids instead of guessing.
  - The API has no idempotency token. A lost answer to CreateImage (broken connection, read timeout, server error
    after sending) never makes a second image - the module looks the name up again and adopts what it finds
    before it tries again.
  - Before it creates an image, the module checks what the API would refuse - the instance exists, its zone
    supports images, the zone's image quota has room, the instance is shut down (V(STOPPED)) and not already being
    imaged - and fails with a message that says what to do.
  - Waiting resumes - when an image named O(name) is still V(CREATING), for example after a O(wait_timeout) in an
    earlier run, a re-run waits for it instead of making another one.
options:
  name:
    description:
      - The image name, 1 to 24 characters of letters, digits, Chinese characters, V(-) and V(_).
      - Unique among the custom images of the zone as far as this module is concerned.
      - Required with O(state=present). With O(state=absent), give O(name) or O(image_id).
    type: str
    aliases: [image_name]
  instance_id:
    description:
      - The instance whose system disk the image is made from. Needed to create an image.
      - Its zone is where the image is looked for. The instance must be V(STOPPED) to create an image - shut it down
        first with M(zenlayer.cloud.zenlayer_instance_power), or use the role C(zenlayer.cloud.image_from_instance),
        which stops the instance, makes the image and restores the power state.
    type: str
  description:
    description:
      - The image description, at most 255 characters.
      - When the image exists and its description differs, the description is updated.
      - When not given, an existing description is left alone.
    type: str
    aliases: [image_description]
  zone_id:
    description:
      - The zone to look for the image in, for example V(HKG-A).
      - When O(instance_id) is given too, both must name the same zone, or the module fails.
      - Giving O(zone_id) without O(instance_id) saves one API call per run (enough to find, update or delete an
        existing image).
    type: str
  image_id:
    description:
      - The id of the image to delete with O(state=absent), instead of O(name).
      - Without O(zone_id) or O(instance_id), every zone is searched.
    type: str
  state:
    description:
      - V(present) makes sure a custom image named O(name) exists (and waits for it when O(wait=true)).
      - V(absent) deletes it. Public images are never deleted.
    type: str
    choices: [present, absent]
    default: present
  wait:
    description:
      - Wait until the image is V(AVAILABLE) (O(state=present)), or until an image that is still being created can
        be deleted (O(state=absent)).
      - Polls once after 2 seconds, then every 15 seconds.
    type: bool
    default: true
  wait_timeout:
    description:
      - How many seconds to wait, above 0.
      - When it runs out, the module fails with the image id and its status; the image keeps being made, and a
        re-run of the same task resumes the wait.
    type: int
    default: 1800
  assume_stopped:
    description:
      - Only used in check mode. Predict the run that follows a shutdown, for a pre-flight before a step that stops
        the instance - the role C(zenlayer.cloud.image_from_instance) asks this way whether an image could be made
        once the instance is stopped.
      - With V(true), an instance that a shutdown can bring to V(STOPPED) (V(RUNNING), or a state on its way) counts as
        stopped, without a warning. Everything else CreateImage would refuse still fails.
      - A real run always needs the instance V(STOPPED), whatever this says.
    type: bool
    default: false
    version_added: 0.2.0
extends_documentation_fragment:
  - zenlayer.cloud.zenlayer
attributes:
  check_mode:
    support: full
    description:
      - Check mode runs the same code as a real run, with the write calls left out. It reads what a real run reads
        (and waits where a real run waits for an image that already exists), reports the same C(changed), RV(image)
        and diff, and fails where a real run fails.
      - One exception, on purpose - an instance that is not shut down yet is only a warning, because in a play the
        task before this one usually stops it and check mode cannot see that (O(assume_stopped=true) silences the
        warning for such a pre-flight).
      - An image that would be created is returned with C(image_id) V(null), and with the C(category), C(os_type) and
        C(image_version) that only the API can tell as V(null).
  diff_mode:
    support: full
    description:
      - Shows the image's name, description and status before and after, for create, update and delete.
requirements:
  - python >= 3.9
  - requests
notes:
  - The API does not say which instance an image was made from, so RV(image.instance_id) is only returned when
    this run created the image.
  - The zones known to lack image support (V(SIN-E), V(LAX-A)) are refused before any write call, also in check
    mode; for every other zone the API's answer decides.
seealso:
  - module: zenlayer.cloud.zenlayer_image_info
  - module: zenlayer.cloud.zenlayer_instance_power
"""

EXAMPLES = r"""
- name: Make an image of a stopped instance and wait until it is available
  zenlayer.cloud.zenlayer_image:
    instance_id: "{{ instance_id }}"
    name: web-golden
    description: Web server golden image
  register: web_image

- name: Use its id
  ansible.builtin.debug:
    msg: "{{ web_image.image.image_id }}"

- name: Start making an image without waiting; a later run with wait=true waits for it
  zenlayer.cloud.zenlayer_image:
    instance_id: "{{ instance_id }}"
    name: web-golden
    wait: false

- name: Update the description of an existing image (one API call with zone_id)
  zenlayer.cloud.zenlayer_image:
    zone_id: HKG-A
    name: web-golden
    description: Web server golden image, patched

- name: Delete an image by name
  zenlayer.cloud.zenlayer_image:
    zone_id: HKG-A
    name: web-golden
    state: absent

- name: Delete an image by id
  zenlayer.cloud.zenlayer_image:
    image_id: img-0123456789abcdef
    state: absent

- name: Credentials for every Zenlayer task of a play
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/zenlayer.cloud.zenlayer:
      access_key_id: "{{ zenlayer_access_key_id }}"
      access_key_password: "{{ zenlayer_access_key_password }}"
  tasks:
    - name: Make the image
      zenlayer.cloud.zenlayer_image:
        instance_id: "{{ instance_id }}"
        name: app-base
"""

RETURN = r"""
image:
  description:
    - The image after the task (or as a real run would leave it, in check mode).
    - With O(state=absent), the image as it was before it was deleted, or V(null) when there was none.
  returned: always
  type: dict
  contains:
    image_id:
      description: The image id; V(null) in check mode when the image would be created.
      type: str
      sample: img-0123456789abcdef
    image_name:
      description: The image name.
      type: str
      sample: web-golden
    image_description:
      description: The image description, V(null) when it has none.
      type: str
      sample: Web server golden image
    image_status:
      description: V(CREATING), V(AVAILABLE) or V(UNAVAILABLE).
      type: str
      sample: AVAILABLE
    image_size:
      description: The image size in GB (the size of the instance's system disk); an integer.
      type: int
      sample: 40
    image_type:
      description: V(CUSTOM_IMAGE) or V(PUBLIC_IMAGE).
      type: str
      sample: CUSTOM_IMAGE
    category:
      description: The OS family, as the API reports it.
      type: str
      sample: Ubuntu
    os_type:
      description: V(linux) or V(windows), as the API reports it.
      type: str
      sample: linux
    image_version:
      description: The image version, as the API reports it.
      type: str
      sample: "1"
    zone_id:
      description: The zone of the image.
      type: str
      sample: HKG-A
    instance_id:
      description:
        - The instance the image was made from.
        - Only returned when this run created the image (the API does not return the source instance).
      type: str
      returned: when this run created the image, or in check mode when it would
      sample: ins-0123456789
instance:
  description:
    - The instance O(instance_id) as this task read it (before any change), in the shape
      M(zenlayer.cloud.zenlayer_instance_info) returns, also when the task fails after reading it.
    - Its C(power_record) is the power state a job recorded to put back (see
      M(zenlayer.cloud.zenlayer_instance_power_record)), or V(null).
  returned: when O(instance_id) was given and the instance was found
  type: dict
  sample: {"instance_id": "ins-0123456789", "instance_status": "RUNNING", "zone_id": "HKG-A", "power_record": null}
diff:
  description: The image's name, description and status before and after the task; V({}) where there is no image.
  returned: always
  type: dict
  sample: {"before": {}, "after": {"image_name": "web-golden", "image_description": null, "image_status": "CREATING"}}
"""

from typing import Any

from ansible_collections.zenlayer.cloud.plugins.module_utils._api import ZenlayerAPIError
from ansible_collections.zenlayer.cloud.plugins.module_utils._base import AnsibleZenlayer, ZenlayerError
from ansible_collections.zenlayer.cloud.plugins.module_utils._image import (
    AVAILABLE,
    CREATING,
    CUSTOM_IMAGE,
    PUBLIC_IMAGE,
    UNAVAILABLE,
    creating_images,
    custom_images_named,
    describe_image_list,
    describe_images,
    description_problem,
    find_image_anywhere,
    get_image,
    image_quota,
    name_problem,
    quota_is_full,
    shape_image,
    zone_supports_images,
)
from ansible_collections.zenlayer.cloud.plugins.module_utils._instance import (
    IMAGING,
    STOPPED,
    UNUSABLE_DISK_STATUSES,
    get_instance,
    instance_statuses,
    shape_instance,
    system_disk,
    why_unactionable,
)
from ansible_collections.zenlayer.cloud.plugins.module_utils._wait import IMAGE_WAIT, LOST_ANSWER_LOOKS, WaitTimeout, poll_until

ARGUMENT_SPEC = {
    "name": {"type": "str", "aliases": ["image_name"]},
    "instance_id": {"type": "str"},
    "description": {"type": "str", "aliases": ["image_description"]},
    "zone_id": {"type": "str"},
    "image_id": {"type": "str"},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "wait": {"type": "bool", "default": True},
    "wait_timeout": {"type": "int", "default": 1800},
    "assume_stopped": {"type": "bool", "default": False},
}
ARGUMENT_RULES = {
    "required_if": [("state", "present", ("name",)), ("state", "present", ("instance_id", "zone_id"), True),
                    ("state", "absent", ("image_id", "name"), True)],
    "mutually_exclusive": [("name", "image_id")],
}

DISK_MAKING_IMAGE = "UNSUPPORTED_OPERATION_DISK_MAKING_IMAGE"
READ_TIMEOUT = "READ_TIMEOUT"
# How long a CreateImage whose answer was lost is looked for (writes are asynchronous: the image may be listed late).
LOST_ANSWER_GRACE_SECONDS = 10.0
SHUTDOWN_HINT = ("shut it down first with zenlayer.cloud.zenlayer_instance_power (state=stopped), or use the role "
                 "zenlayer.cloud.image_from_instance, which stops it, makes the image and restores its power state")


def diff_view(image: dict[str, Any] | None) -> dict[str, Any]:
    if not image:
        return {}
    return {"image_name": image.get("imageName"), "image_description": image.get("imageDescription"),
            "image_status": image.get("imageStatus")}


class ZenlayerImage(AnsibleZenlayer):
    argument_spec = ARGUMENT_SPEC
    argument_rules = ARGUMENT_RULES
    error_hints = {
        "INVALID_INSTANCE_NOT_FOUND": "check instance_id",
        "UNSUPPORTED_OPERATION_ZONE_NOT_SUPPORT": "this zone does not support custom images; use an instance in another zone",
        "LIMIT_EXCEEDED_IMAGE_QUOTA": "the zone's custom image quota is full; delete an image (state=absent) or ask "
                                      "Zenlayer support to raise the quota",
        "UNSUPPORTED_OPERATION_INSTANCE_STATE_STARTING": "the instance must be shut down: " + SHUTDOWN_HINT,
        "UNSUPPORTED_OPERATION_DISK_UNAVAILABLE": "the instance's system disk cannot be imaged in its current state",
    }

    def __init__(self, module: Any) -> None:
        super().__init__(module)
        self.name: str | None = self.params["name"]
        self.zone_id: str | None = None
        self.created_from: str | None = None  # the instance, when this run's CreateImage answered (or would)
        self._instance: dict[str, Any] | None = None

    def validate(self) -> None:
        problem = (self.name is not None and name_problem(self.name)) or description_problem(self.params["description"])
        if problem:
            raise ZenlayerError(problem)
        if self.params["wait_timeout"] <= 0:
            raise ZenlayerError("wait_timeout must be a number of seconds above 0, not %s" % self.params["wait_timeout"])
        if self.name and not (self.params["zone_id"] or self.params["instance_id"]):
            raise ZenlayerError("name needs zone_id or instance_id, to know which zone's images to look at")

    def execute(self) -> dict[str, Any]:
        if self.params["state"] == "present":
            before, after = self.present()
            reported = after
        else:
            before, reported = self.absent()
            after = None
        return dict(self.partial_result(), image=self._shape(reported),
                    diff={"before": diff_view(before), "after": diff_view(after)})

    def partial_result(self) -> dict[str, Any]:
        return {"instance": shape_instance(self._instance)} if self._instance else {}

    def _shape(self, image: dict[str, Any] | None) -> dict[str, Any] | None:
        return shape_image(image, self.zone_id, self.created_from) if image else None

    # -- lookups -----------------------------------------------------------------------------------------------------

    def _fetch_instance(self) -> dict[str, Any]:
        if self._instance is None:
            raise ZenlayerError("instance %s was not found; check instance_id" % self.params["instance_id"])
        return self._instance

    def _find_zone(self) -> str:
        """The zone to look in. With both instance_id and zone_id, reading the instance proves they agree (an image
        is never reported for the wrong zone) - unless the instance is gone: its image may well outlive it."""
        instance_id, zone_id = self.params["instance_id"], self.params["zone_id"]
        if not instance_id:
            self.zone_id = zone_id
            return self.zone_id
        with self.step("Looking up instance %s" % instance_id):
            self._instance = get_instance(self.client, instance_id)
        if self._instance is None and not zone_id:
            raise ZenlayerError("instance %s was not found; check instance_id (to find an image whose instance is gone, "
                                "give zone_id too)" % instance_id)
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
        if image.get("imageStatus") == CREATING and self.params["wait"]:
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
        # A just-made image may not be listed at once (asynchronous writes); one seen before may not vanish.
        listed_by = self.clock.monotonic() + (LOST_ANSWER_GRACE_SECONDS if self.created_from else 0.0)

        def no_longer_creating(current: dict[str, Any] | None) -> bool:
            if current is None and self.clock.monotonic() >= listed_by:
                raise ZenlayerError("image %s (%s) disappeared from zone %s while it was being waited for"
                                    % (image_id, image.get("imageName"), self.zone_id))
            return current is not None and current.get("imageStatus") != CREATING

        try:
            with self.step("Waiting for image %s" % image_id):
                # every caller has just seen it CREATING (or just made it): no look at once
                return poll_until(lambda: self._look_at_image(image_id), no_longer_creating,
                                  self.params["wait_timeout"], schedule=IMAGE_WAIT, clock=self.clock, fetch_first=False)
        except WaitTimeout as timeout:
            status = timeout.last.get("imageStatus") if timeout.last else "not listed yet"
            raise ZenlayerError("image %s (%s) is still %s after waiting %.0f s (wait_timeout=%s); it keeps being made: "
                                "re-run the task to resume the wait"
                                % (image_id, image.get("imageName"), status, timeout.waited, self.params["wait_timeout"]),
                                image=self._shape(timeout.last or image))

    def _look_at_image(self, image_id: str) -> dict[str, Any] | None:
        """The image, and while it is still being made, a look at its instance: one that vanished ends the wait."""
        image = get_image(self.client, self.zone_id, image_id)
        if self._instance is None or (image is not None and image.get("imageStatus") != CREATING):
            return image
        instance_id = self._instance["instanceId"]
        if instance_statuses(self.client, [instance_id]).get(instance_id) is None:
            raise ZenlayerError("instance %s disappeared while image %s (%s) was being made from it: the image may still "
                                "finish, or fail. Re-run with zone_id %s instead of instance_id to wait for it, or delete it "
                                "(state=absent)" % (instance_id, image_id, self.name, self.zone_id),
                                image=self._shape(image) if image else None)
        return image

    def _check_no_twin(self) -> None:
        """Two jobs making the same name at once both succeed at the API: say so, with both ids (raises)."""
        self._find_by_name()

    # -- state=present -----------------------------------------------------------------------------------------------

    def present(self) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """(the image before, the image after) - after as a real run leaves it, in check mode too."""
        self._find_zone()
        existing = self._find_by_name()
        image = existing if existing is not None else self._create()
        image = self._settle(image)
        if existing is None and image["imageId"] is not None:
            self._check_no_twin()
        return existing, self._update_description(image)

    def _update_description(self, image: dict[str, Any]) -> dict[str, Any]:
        wanted = self.params["description"]
        if wanted is None or (image.get("imageDescription") or "") == wanted:
            return image
        if image.get("imageStatus") == CREATING:
            self.module.warn("image %s is still CREATING: its description can only be updated once it is AVAILABLE; "
                             "re-run with wait=true" % image["imageId"])
            return image
        with self.step("Updating the description of image %s" % image["imageId"]):
            self.write("ModifyImagesAttributes", {"imageIds": [image["imageId"]], "imageDescription": wanted},
                       safe_to_retry=True)
        return dict(image, imageDescription=wanted)

    def _create(self) -> dict[str, Any]:
        if not self.params["instance_id"]:
            raise ZenlayerError("no custom image named %s in zone %s; give instance_id to create it" % (self.name, self.zone_id))
        instance = self._fetch_instance()
        self._check_can_create(instance)
        made = {"imageId": None, "imageName": self.name, "imageDescription": self.params["description"],
                "imageStatus": CREATING, "imageType": CUSTOM_IMAGE,
                "imageSize": (instance.get("systemDisk") or {}).get("diskSize")}
        with self.step("Creating image %s from instance %s" % (self.name, instance["instanceId"])):
            image_id, answered = self._send_create()
        if answered:
            self.created_from = instance["instanceId"]
        if image_id is None or self.params["wait"]:
            return dict(made, imageId=image_id)  # check mode, or the wait reads it
        with self.step("Reading image %s" % image_id):
            return get_image(self.client, self.zone_id, image_id) or dict(made, imageId=image_id)

    def _check_can_create(self, instance: dict[str, Any]) -> None:
        """Raise what CreateImage would refuse, before calling it (and in check mode)."""
        instance_id, zone_id = instance["instanceId"], self.zone_id
        if not zone_supports_images(zone_id):
            raise ZenlayerError("zone %s (of instance %s) does not support custom images; images can only be made "
                                "from instances in other zones" % (zone_id, instance_id))
        with self.step("Reading the image quota of zone %s" % zone_id):
            quota = image_quota(self.client, zone_id)
            full = quota_is_full(quota)
            images = describe_images(self.client, zone_id, imageType=CUSTOM_IMAGE) if full else []
        if full:
            raise ZenlayerError("zone %s already holds %s of %s custom images, the quota: %s. Delete one "
                                "(zenlayer.cloud.zenlayer_image state=absent) or ask Zenlayer support to raise the quota"
                                % (zone_id, quota["count"], quota["maxCount"], describe_image_list(images)),
                                images=[shape_image(image, zone_id) for image in images])
        self._check_instance_status(instance)
        self._check_system_disk(instance_id)

    def _check_system_disk(self, instance_id: str) -> None:
        with self.step("Reading the system disk of instance %s" % instance_id):
            disk = system_disk(self.client, instance_id)
        status = (disk or {}).get("diskStatus")
        if status in UNUSABLE_DISK_STATUSES:
            raise ZenlayerError("the system disk %s of instance %s is %s: an image cannot be made from it now; wait until "
                                "it is in use again (IN_USE)" % (disk.get("diskId"), instance_id, status))

    def _check_instance_status(self, instance: dict[str, Any]) -> None:
        instance_id, status = instance["instanceId"], instance.get("instanceStatus")
        if status == IMAGING:
            with self.step("Listing the images being made in zone %s" % self.zone_id):
                making = creating_images(self.client, self.zone_id)
            raise ZenlayerError("instance %s is already being imaged (IMAGING): image %s is being made from it; wait "
                                "until it is done, then re-run" % (instance_id, describe_image_list(making)))
        if status == STOPPED or (self.check_mode and self.params["assume_stopped"] and not why_unactionable(status)):
            return
        if not self.check_mode:
            raise ZenlayerError("instance %s is %s; it must be shut down (STOPPED) before an image is made: %s"
                                % (instance_id, status, SHUTDOWN_HINT))
        self.module.warn("instance %s is %s: the image can only be made once it is shut down (STOPPED); check mode "
                         "goes on as if an earlier task stopped it" % (instance_id, status))

    def _send_create(self) -> tuple[str | None, bool]:
        """(image id, whether CreateImage answered). Never makes a second image: after a lost answer it looks, and
        sends again only when the look proves the first one was not done. (None, True) in check mode."""
        params = {"instanceId": self.params["instance_id"], "imageName": self.name,
                  "imageDescription": self.params["description"]}
        for _attempt in range(self.client.retries + 1):
            try:
                payload = self.write("CreateImage", params)
            except ZenlayerAPIError as err:
                adopted = self._after_failed_create(err)
                if adopted is not None:
                    return adopted["imageId"], False
                continue
            return (payload["imageId"] if payload else None), True
        raise ZenlayerError("CreateImage for %s was answered with errors %d times and no image named %s was made; "
                            "re-run the task" % (self.params["instance_id"], self.client.retries + 1, self.name))

    def _after_failed_create(self, err: ZenlayerAPIError) -> dict[str, Any] | None:
        """The image to adopt after a failed CreateImage; None when it is proven not made (send again); else raise."""
        if err.code == DISK_MAKING_IMAGE:
            image = self._find_by_name()
            if image is not None and image.get("imageStatus") == CREATING:
                return image  # made by an earlier (lost) request of ours, or by a parallel run under this name
        if not err.outcome_unknown:
            raise err
        image = self._look_after_lost_answer()
        if image is None and err.code == READ_TIMEOUT:
            # the first request may still be processed: a second CreateImage could make a second image
            raise ZenlayerError("Creating image %s failed: %s; no image named %s has appeared since; the request may "
                                "still be processed, so it is not sent again: re-run the task later (it adopts the "
                                "image if it was made), and raise client_timeout" % (self.name, err, self.name),
                                error=err.to_dict())
        return image

    def _look_after_lost_answer(self) -> dict[str, Any] | None:
        """The image a CreateImage whose answer was lost made, or None once a grace window shows no sign of it
        (writes are asynchronous: neither the image nor the instance's IMAGING status may show at once)."""
        instance_id = self.params["instance_id"]

        def look() -> tuple[dict[str, Any] | None, str | None]:
            return self._find_by_name(), instance_statuses(self.client, [instance_id]).get(instance_id)

        with self.step("Looking for image %s after a lost CreateImage answer" % self.name):
            try:
                image, _status = poll_until(look, lambda seen: seen[0] is not None, LOST_ANSWER_GRACE_SECONDS,
                                            schedule=LOST_ANSWER_LOOKS, clock=self.clock)
                return image
            except WaitTimeout as timeout:
                last_status = timeout.last[1] if timeout.last else None
        if last_status == IMAGING:
            raise ZenlayerError("the answer to CreateImage was lost and instance %s is IMAGING, but no image named %s is "
                                "listed in zone %s; re-run the task later to adopt it" % (instance_id, self.name, self.zone_id))
        return None

    # -- state=absent ------------------------------------------------------------------------------------------------

    def absent(self) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """(the image before, the image as it was when it was deleted); (None, None) when there is none."""
        image = self._fetch_for_absent()
        if image is None:
            return None, None
        if image.get("imageType") == PUBLIC_IMAGE:
            raise ZenlayerError("image %s (%s) is a public image; this module never deletes public images"
                                % (image["imageId"], image.get("imageName")))
        if image.get("imageStatus") == CREATING and not self.params["wait"]:
            raise ZenlayerError("image %s is still being made (CREATING) and cannot be deleted until it is done; set "
                                "wait=true or re-run later" % image["imageId"])
        settled = self._wait_while_creating(image) if image.get("imageStatus") == CREATING else image
        self._delete(settled["imageId"])
        return image, settled

    def _fetch_for_absent(self) -> dict[str, Any] | None:
        image_id = self.params["image_id"]
        if not image_id:
            self._find_zone()
            return self._find_by_name()
        with self.step("Looking up image %s" % image_id):
            if self.params["zone_id"] or self.params["instance_id"]:
                return get_image(self.client, self._find_zone(), image_id)
            image, self.zone_id = find_image_anywhere(self.client, image_id)
            return image

    def _delete(self, image_id: str) -> None:
        with self.step("Deleting image %s" % image_id):
            try:
                self.write("DeleteImages", {"imageIds": [image_id]}, safe_to_retry=True)
            except ZenlayerAPIError as err:
                if err.code != "INVALID_IMAGE_NOT_FOUND":
                    raise
                self._mark_as_changed()  # a retried delete whose first try was done: the image seen above is gone


def main() -> None:
    ZenlayerImage.main()


if __name__ == "__main__":
    main()
