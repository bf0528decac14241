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
      - Polls with a short first interval growing to at most 12 seconds.
    type: bool
    default: true
  wait_timeout:
    description:
      - How many seconds to wait, above 0.
      - When it runs out, the module fails with the image id and its status; the image keeps being made, and a
        re-run of the same task resumes the wait.
    type: int
    default: 1800
extends_documentation_fragment:
  - zenlayer.cloud.zenlayer
attributes:
  check_mode:
    support: full
    description:
      - No write call is made. The module reports the C(changed) a real run would report and the predicted
        RV(image) (its C(image_id) is V(null) and its status V(CREATING) until it exists), and fails where a real
        run would fail, except that an instance that is not yet shut down is only a warning (in a play the task
        before it usually stops it).
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
diff:
  description: The image's name, description and status before and after the task; V({}) where there is no image.
  returned: always
  type: dict
  sample: {"before": {}, "after": {"image_name": "web-golden", "image_description": null, "image_status": "CREATING"}}
"""

import time
from typing import Any

from ansible_collections.zenlayer.cloud.plugins.module_utils._api import ZenlayerAPIError
from ansible_collections.zenlayer.cloud.plugins.module_utils._base import AnsibleZenlayer, WaitTimeout, poll_until
from ansible_collections.zenlayer.cloud.plugins.module_utils._image import (
    CREATING,
    CUSTOM_IMAGE,
    PUBLIC_IMAGE,
    UNAVAILABLE,
    custom_images_named,
    describe_image_list,
    describe_images,
    description_problem,
    find_image_anywhere,
    get_image,
    image_quota,
    image_wait_schedule,
    name_problem,
    quota_is_full,
    shape_image,
    zone_supports_images,
)
from ansible_collections.zenlayer.cloud.plugins.module_utils._instance import (
    IMAGING,
    STOPPED,
    get_instance,
    instance_statuses,
)

ARGUMENT_SPEC = {
    "name": {"type": "str", "aliases": ["image_name"]},
    "instance_id": {"type": "str"},
    "description": {"type": "str", "aliases": ["image_description"]},
    "zone_id": {"type": "str"},
    "image_id": {"type": "str"},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "wait": {"type": "bool", "default": True},
    "wait_timeout": {"type": "int", "default": 1800},
}

DISK_MAKING_IMAGE = "UNSUPPORTED_OPERATION_DISK_MAKING_IMAGE"
READ_TIMEOUT = "READ_TIMEOUT"
# After a lost CreateImage answer, an instance that is IMAGING may not list its image yet: look again a few times.
LOST_ANSWER_LOOKS = 5
LOST_ANSWER_PAUSE_SECONDS = 1.0
SHUTDOWN_HINT = ("shut it down first with zenlayer.cloud.zenlayer_instance_power (state=stopped), or use the role "
                 "zenlayer.cloud.image_from_instance, which stops it, makes the image and restores its power state")
CREATE_HINTS = {
    "INVALID_INSTANCE_NOT_FOUND": "check instance_id",
    "UNSUPPORTED_OPERATION_ZONE_NOT_SUPPORT": "this zone does not support custom images; use an instance in another zone",
    "LIMIT_EXCEEDED_IMAGE_QUOTA": "the zone's custom image quota is full; delete an image (state=absent) or ask "
                                  "Zenlayer support to raise the quota",
    "UNSUPPORTED_OPERATION_INSTANCE_STATE_STARTING": "the instance must be shut down: " + SHUTDOWN_HINT,
    "UNSUPPORTED_OPERATION_DISK_UNAVAILABLE": "the instance's system disk cannot be imaged in its current state",
}


def input_problem(params: dict[str, Any]) -> str | None:
    """What is wrong with the options, checked before any request, or None."""
    problem = (params["name"] is not None and name_problem(params["name"])) or description_problem(params["description"])
    if problem:
        return problem
    if params["wait_timeout"] <= 0:
        return "wait_timeout must be a number of seconds above 0, not %s" % params["wait_timeout"]
    if params["state"] == "present":
        return _present_problem(params)
    return _absent_problem(params)


def _present_problem(params: dict[str, Any]) -> str | None:
    if not params["name"]:
        return "state=present needs name: the image name, which identifies it among the custom images of its zone"
    if params["image_id"]:
        return "image_id is only used with state=absent; with state=present the image is identified by name"
    if not params["instance_id"] and not params["zone_id"]:
        return "state=present needs instance_id (the instance to make the image from) or zone_id (to find an existing image)"
    return None


def _absent_problem(params: dict[str, Any]) -> str | None:
    if params["image_id"] and params["name"]:
        return "state=absent takes image_id or name, not both"
    if not params["image_id"] and not params["name"]:
        return "state=absent needs image_id, or name with zone_id or instance_id"
    if params["name"] and not params["zone_id"] and not params["instance_id"]:
        return "state=absent with name needs zone_id or instance_id, to know which zone's images to look at"
    return None


def diff_view(image: dict[str, Any] | None) -> dict[str, Any]:
    if not image:
        return {}
    return {"image_name": image.get("imageName"), "image_description": image.get("imageDescription"),
            "image_status": image.get("imageStatus")}


class ImageUnusable(Exception):
    """The image vanished while it was waited for."""


class ZenlayerImage(AnsibleZenlayer):
    def __init__(self, module: Any) -> None:
        super().__init__(module)
        problem = input_problem(module.params)
        if problem:
            module.fail_json(msg=problem)
        self.params = module.params
        self.name: str | None = self.params["name"]
        self.check_mode = module.check_mode
        self._instance: dict[str, Any] | None = None
        self._zone: str | None = None
        self._doing = "Looking up the image"

    # -- lookups -----------------------------------------------------------------------------------------------------

    def _fetch_instance(self) -> dict[str, Any]:
        if self._instance is None:
            instance_id = self.params["instance_id"]
            self._doing = "Looking up instance %s" % instance_id
            instance = get_instance(self.client, instance_id)
            if instance is None:
                self.module.fail_json(msg="instance %s was not found; check instance_id" % instance_id)
            zone_id = self.params["zone_id"]
            if zone_id and instance.get("zoneId") != zone_id:
                self.module.fail_json(msg="instance %s is in zone %s, but zone_id is %s: an image is made in its "
                                          "instance's zone; fix or drop zone_id" % (instance_id, instance.get("zoneId"), zone_id))
            self._instance = instance
        return self._instance

    def _zone_id(self) -> str:
        if self._zone is None:
            # With both given, reading the instance proves they agree: an image is never reported for the wrong zone.
            self._zone = self._fetch_instance()["zoneId"] if self.params["instance_id"] else self.params["zone_id"]
        return self._zone

    def _fetch_by_name(self, zone_id: str) -> dict[str, Any] | None:
        self._doing = "Looking up image %s in zone %s" % (self.name, zone_id)
        matches = custom_images_named(self.client, zone_id, self.name)
        if len(matches) > 1:
            self.module.fail_json(msg="%d custom images in zone %s are named %s: %s; delete the extra ones by image_id "
                                      "(state=absent) - this module does not guess"
                                      % (len(matches), zone_id, self.name, describe_image_list(matches)),
                                  image_ids=[image["imageId"] for image in matches])
        return matches[0] if matches else None

    def _fetch_for_absent(self) -> tuple[dict[str, Any] | None, str | None]:
        image_id = self.params["image_id"]
        if not image_id:
            zone_id = self._zone_id()
            return self._fetch_by_name(zone_id), zone_id
        self._doing = "Looking up image %s" % image_id
        if self.params["zone_id"] or self.params["instance_id"]:
            zone_id = self._zone_id()
            return get_image(self.client, zone_id, image_id), zone_id
        return find_image_anywhere(self.client, image_id)

    # -- waiting -----------------------------------------------------------------------------------------------------

    def _wait_while_creating(self, image_id: str, zone_id: str) -> dict[str, Any]:
        """The image once it is no longer CREATING; fails on timeout or when it vanished."""
        self._doing = "Waiting for image %s" % image_id

        def settled(image: dict[str, Any] | None) -> bool:
            if image is None:
                raise ImageUnusable()
            return image.get("imageStatus") != CREATING

        try:
            image, _polls = poll_until(lambda: get_image(self.client, zone_id, image_id), settled,
                                       self.params["wait_timeout"], schedule=image_wait_schedule(),
                                       fetch_first=False)  # every caller has just seen it CREATING
        except WaitTimeout as timeout:
            status = timeout.last.get("imageStatus") if timeout.last else "unknown"
            self.module.fail_json(msg="image %s (%s) is still %s after waiting %.0f s (wait_timeout=%s); it keeps being "
                                      "made: re-run the task to resume the wait"
                                      % (image_id, self.name, status, timeout.waited, self.params["wait_timeout"]),
                                  image=shape_image(timeout.last, zone_id) if timeout.last else None)
        except ImageUnusable:
            self.module.fail_json(msg="image %s disappeared from zone %s while it was being waited for" % (image_id, zone_id))
        return image

    def _fail_unavailable(self, image: dict[str, Any], zone_id: str) -> None:
        self.module.fail_json(msg="image %s (%s) in zone %s is UNAVAILABLE: making it failed. Delete it (state=absent) "
                                  "and create it again" % (image["imageId"], image.get("imageName"), zone_id),
                              image=shape_image(image, zone_id))

    # -- state=present -----------------------------------------------------------------------------------------------

    def present(self) -> dict[str, Any]:
        zone_id = self._zone_id()
        image = self._fetch_by_name(zone_id)
        if image is None:
            return self._create(zone_id)
        if image.get("imageStatus") == CREATING and self.params["wait"]:
            image = self._wait_while_creating(image["imageId"], zone_id)
        if image.get("imageStatus") == UNAVAILABLE:
            self._fail_unavailable(image, zone_id)
        return self._update_description(image, zone_id)

    def _update_description(self, image: dict[str, Any], zone_id: str) -> dict[str, Any]:
        wanted = self.params["description"]
        before = diff_view(image)
        if wanted is None or (image.get("imageDescription") or "") == wanted:
            return self._result(False, image, zone_id, before)
        if image.get("imageStatus") == CREATING:
            self.module.warn("image %s is still CREATING: its description can only be updated once it is AVAILABLE; "
                             "re-run with wait=true" % image["imageId"])
            return self._result(False, image, zone_id, before)
        updated = dict(image, imageDescription=wanted)
        if not self.check_mode:
            self._doing = "Updating the description of image %s" % image["imageId"]
            self.client.call("ModifyImagesAttributes", {"imageIds": [image["imageId"]], "imageDescription": wanted},
                             safe_to_retry=True)
        return self._result(True, updated, zone_id, before)

    def _create(self, zone_id: str) -> dict[str, Any]:
        instance_id = self.params["instance_id"]
        if not instance_id:
            self.module.fail_json(msg="no custom image named %s in zone %s; give instance_id to create it" % (self.name, zone_id))
        instance = self._fetch_instance()
        self._check_can_create(instance, zone_id)
        if self.check_mode:
            predicted = {"imageId": None, "imageName": self.name, "imageDescription": self.params["description"],
                         "imageStatus": CREATING, "imageType": CUSTOM_IMAGE,
                         "imageSize": (instance.get("systemDisk") or {}).get("diskSize")}
            return self._result(True, predicted, zone_id, {}, instance_id=instance_id)
        image_id, verified, changed = self._send_create(zone_id)
        if self.params["wait"]:
            image = self._wait_while_creating(image_id, zone_id)
            if image.get("imageStatus") == UNAVAILABLE:
                self._fail_unavailable(image, zone_id)
        else:
            image = get_image(self.client, zone_id, image_id) or {"imageId": image_id, "imageName": self.name,
                                                                  "imageStatus": CREATING, "imageType": CUSTOM_IMAGE}
        return self._result(changed, image, zone_id, {} if changed else diff_view(image),
                            instance_id=instance_id if verified else None)

    def _check_can_create(self, instance: dict[str, Any], zone_id: str) -> None:
        """Fail on what CreateImage would refuse, before calling it (and in check mode)."""
        instance_id = instance["instanceId"]
        if not zone_supports_images(zone_id):
            self.module.fail_json(msg="zone %s (of instance %s) does not support custom images; images can only be made "
                                      "from instances in other zones" % (zone_id, instance_id))
        self._doing = "Reading the image quota of zone %s" % zone_id
        quota = image_quota(self.client, zone_id)
        if quota_is_full(quota):
            images = describe_images(self.client, zone_id, imageType=CUSTOM_IMAGE)
            self.module.fail_json(msg="zone %s already holds %s of %s custom images, the quota: %s. Delete one "
                                      "(zenlayer.cloud.zenlayer_image state=absent) or ask Zenlayer support to raise the quota"
                                      % (zone_id, quota["count"], quota["maxCount"], describe_image_list(images)),
                                  images=[shape_image(image, zone_id) for image in images])
        status = instance.get("instanceStatus")
        if status == IMAGING:
            making = describe_images(self.client, zone_id, imageType=CUSTOM_IMAGE, imageStatus=CREATING)
            self.module.fail_json(msg="instance %s is already being imaged (IMAGING): image %s is being made from it; "
                                      "wait until it is done, then re-run" % (instance_id, describe_image_list(making)))
        if status != STOPPED:
            message = "instance %s is %s; it must be shut down (STOPPED) before an image is made: %s" % (instance_id, status, SHUTDOWN_HINT)
            if not self.check_mode:
                self.module.fail_json(msg=message)
            self.module.warn("instance %s is %s: the image can only be made once it is shut down (STOPPED); check mode "
                             "goes on as if an earlier task (such as the shutdown step of zenlayer.cloud.image_from_instance) "
                             "stopped it" % (instance_id, status))

    def _send_create(self, zone_id: str) -> tuple[str, bool, bool]:
        """(image id, whether this run's CreateImage is known to have made it, whether this run may have made it).

        Never makes a second image: a lost answer is followed by a look-up, and a retry only when proven not done."""
        params = {"instanceId": self.params["instance_id"], "imageName": self.name,
                  "imageDescription": self.params["description"]}
        lost_answers = 0
        while True:
            self._doing = "Creating image %s from instance %s" % (self.name, params["instanceId"])
            try:
                return self.client.call("CreateImage", params, safe_to_retry=False)["imageId"], True, True
            except ZenlayerAPIError as err:
                adopted = self._adopt_after_failed_create(err, zone_id, lost_answers)
                ours = lost_answers > 0 or err.outcome_unknown  # else a parallel run made it
            if adopted is not None:
                return adopted["imageId"], False, ours
            lost_answers += 1

    def _adopt_after_failed_create(self, err: ZenlayerAPIError, zone_id: str, lost_answers: int) -> dict[str, Any] | None:
        """An image with our name to adopt, None when CreateImage proved not done (try again), or fail."""
        if err.code == DISK_MAKING_IMAGE:
            image = self._fetch_by_name(zone_id)
            if image is not None and image.get("imageStatus") == CREATING:
                return image
        if not err.outcome_unknown:
            self._fail_create(err)
        # After a read timeout the request may still be in flight: a second CreateImage could make a second image.
        in_flight = err.code == READ_TIMEOUT
        image = self._look_after_lost_answer(zone_id, in_flight)
        if image is None and in_flight:
            self._fail_create(err, "no image named %s has appeared since; the request may still be processed, so it is "
                                   "not sent again: re-run the task later (it adopts the image if it was made), and "
                                   "raise client_timeout" % self.name)
        if image is None and lost_answers >= self.client.retries:
            self._fail_create(err, "no image named %s was made; re-run the task" % self.name)
        return image

    def _look_after_lost_answer(self, zone_id: str, in_flight: bool = False) -> dict[str, Any] | None:
        """The image made by a CreateImage whose answer was lost; None when it was proven not made (or, in flight,
        not seen within the looks)."""
        instance_id = self.params["instance_id"]
        for look in range(LOST_ANSWER_LOOKS):
            self._doing = "Looking for image %s after a lost CreateImage answer" % self.name
            status = instance_statuses(self.client, [instance_id]).get(instance_id)
            image = self._fetch_by_name(zone_id)
            if image is not None or (status != IMAGING and not in_flight):
                return image
            time.sleep(LOST_ANSWER_PAUSE_SECONDS * (look + 1))
        if in_flight:
            return None
        self.module.fail_json(msg="the answer to CreateImage was lost and instance %s is IMAGING, but no image named %s "
                                  "is listed in zone %s; re-run the task later to adopt it" % (instance_id, self.name, zone_id))
        return None

    def _fail_create(self, err: ZenlayerAPIError, hint: str | None = None) -> None:
        hint = hint or CREATE_HINTS.get(err.code or "")
        self.module.fail_json(msg="%s failed: %s%s" % (self._doing, err, "; " + hint if hint else ""), error=err.to_dict())

    # -- state=absent ------------------------------------------------------------------------------------------------

    def absent(self) -> dict[str, Any]:
        image, zone_id = self._fetch_for_absent()
        if image is None:
            return self._result(False, None, zone_id, {})
        if image.get("imageType") == PUBLIC_IMAGE:
            self.module.fail_json(msg="image %s (%s) is a public image; this module never deletes public images"
                                      % (image["imageId"], image.get("imageName")))
        before = diff_view(image)
        if image.get("imageStatus") == CREATING:
            if not self.params["wait"]:
                self.module.fail_json(msg="image %s is still being made (CREATING) and cannot be deleted until it is done; "
                                          "set wait=true or re-run later" % image["imageId"])
            if not self.check_mode:
                image = self._wait_while_creating(image["imageId"], zone_id)
        if not self.check_mode:
            self._delete(image["imageId"])
        return self._result(True, image, zone_id, before, after={})

    def _delete(self, image_id: str) -> None:
        self._doing = "Deleting image %s" % image_id
        try:
            self.client.call("DeleteImages", {"imageIds": [image_id]}, safe_to_retry=True)
        except ZenlayerAPIError as err:
            if err.code != "INVALID_IMAGE_NOT_FOUND":  # a retried delete whose first try was done
                raise

    # -- result ------------------------------------------------------------------------------------------------------

    def _result(self, changed: bool, image: dict[str, Any] | None, zone_id: str | None, before: dict[str, Any],
                after: dict[str, Any] | None = None, instance_id: str | None = None) -> dict[str, Any]:
        return {"changed": changed, "image": shape_image(image, zone_id, instance_id) if image else None,
                "diff": {"before": before, "after": diff_view(image) if after is None else after}}

    def run(self) -> None:
        try:
            result = self.present() if self.params["state"] == "present" else self.absent()
        except ZenlayerAPIError as err:
            self.fail_api(self._doing, err)
        self.module.exit_json(**result)


def main() -> None:
    module = AnsibleZenlayer.create_module(ARGUMENT_SPEC, supports_check_mode=True)
    ZenlayerImage(module).run()


if __name__ == "__main__":
    main()
