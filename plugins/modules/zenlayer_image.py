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
  - The API has no idempotency token. A CreateImage whose outcome is unknown (broken connection, read timeout, server
    error) is never sent again in the same run, so it never makes a second image - the module looks for the image by
    its name until O(wait_timeout) runs out (writes take effect late, and listings may lag), and adopts it when it
    shows. When nothing shows, it fails saying the outcome is unknown; a re-run adopts the image or makes it.
  - Before it creates an image, the module checks what the API would refuse - the instance exists, its zone
    supports images, the zone's image quota has room, the instance is shut down (V(STOPPED)) and not already being
    imaged - and fails with a message that says what to do.
  - When the access key may not call C(DescribeDisks) (HTTP 403), the module warns once and skips the check of the
    system disk; CreateImage's own answer then decides.
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
  - zenlayer.cloud.power_record
  - zenlayer.cloud.progress
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
    - Its C(power_to_restore) is the power an imaging job puts it back to after stopping it (V(stopped) when it
      is C(STOPPED), C(STOPPING) or C(IMAGING), else V(running)).
  returned: when O(instance_id) was given and the instance was found
  type: dict
  sample: {"instance_id": "ins-0123456789", "instance_status": "RUNNING", "zone_id": "HKG-A", "power_record": null,
           "power_to_restore": "running"}
diff:
  description: The image's name, description and status before and after the task; V({}) where there is no image.
  returned: always
  type: dict
  sample: {"before": {}, "after": {"image_name": "web-golden", "image_description": null, "image_status": "CREATING"}}
"""

from typing import Any

from ansible_collections.zenlayer.cloud.plugins.module_utils._base import ZenlayerError
from ansible_collections.zenlayer.cloud.plugins.module_utils._image import (
    CREATING,
    PUBLIC_IMAGE,
    description_problem,
    find_image_anywhere,
    get_image,
    name_problem,
)
from ansible_collections.zenlayer.cloud.plugins.module_utils._image_module import ImageModule

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


def diff_view(image: dict[str, Any] | None) -> dict[str, Any]:
    if not image:
        return {}
    return {"image_name": image.get("imageName"), "image_description": image.get("imageDescription"),
            "image_status": image.get("imageStatus")}


class ZenlayerImage(ImageModule):
    argument_spec = ARGUMENT_SPEC
    argument_rules = ARGUMENT_RULES

    def __init__(self, module: Any) -> None:
        super().__init__(module)
        self.before: dict[str, Any] | None = None  # the image as the task found it (the diff's before)

    def resume_state(self) -> dict[str, Any]:
        return dict(super().resume_state(), before=self.before)

    def restore(self, state: dict[str, Any], away: float) -> None:
        super().restore(state, away)
        self.before = state["before"]

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

    # -- state=present -----------------------------------------------------------------------------------------------

    def present(self) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """(the image before, the image after) - after as a real run leaves it, in check mode too."""
        if self.resuming:
            existing, image = self.before, self._resumed_image()
        else:
            self._find_zone()
            existing = self.before = self._find_by_name()
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

    # -- state=absent ------------------------------------------------------------------------------------------------

    def absent(self) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """(the image before, the image as it was when it was deleted); (None, None) when there is none."""
        image = self.before = self.before if self.resuming else self._fetch_for_absent()
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


def main() -> None:
    ZenlayerImage.main()


if __name__ == "__main__":
    main()
