#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: zenlayer_image_info
short_description: List Zenlayer Cloud VM images
version_added: 0.1.0
author: zenlayer.cloud maintainers (@zenlayer-cloud)
description:
  - Lists the custom and public images of one zone or of every zone, with optional filters.
  - Each image has the same shape as RV(zenlayer.cloud.zenlayer_image#module:image).
options:
  zone_id:
    description:
      - The zone whose images to list. When omitted, every zone is listed (one call per zone).
    type: str
  image_ids:
    description:
      - Only these image ids.
      - "An empty list is refused (it never means every image): leave the option out to list them all."
    type: list
    elements: str
  name:
    description:
      - Only images with exactly this name (V(web) does not match V(web-old)).
    type: str
    aliases: [image_name]
  image_type:
    description:
      - Only custom or only public images.
    type: str
    choices: [CUSTOM_IMAGE, PUBLIC_IMAGE]
  image_status:
    description:
      - Only images in this status.
    type: str
    choices: [CREATING, AVAILABLE, UNAVAILABLE]
extends_documentation_fragment:
  - zenlayer.cloud.zenlayer
attributes:
  check_mode:
    support: full
    description: The module only reads, and runs the same in check mode.
  diff_mode:
    support: none
    description: The module changes nothing.
requirements:
  - python >= 3.9
  - requests
seealso:
  - module: zenlayer.cloud.zenlayer_image
"""

EXAMPLES = r"""
- name: All custom images of a zone
  zenlayer.cloud.zenlayer_image_info:
    zone_id: HKG-A
    image_type: CUSTOM_IMAGE
  register: custom_images

- name: Their ids
  ansible.builtin.debug:
    msg: "{{ custom_images.images | map(attribute='image_id') | list }}"

- name: The image named web-golden, in whichever zone it is
  zenlayer.cloud.zenlayer_image_info:
    name: web-golden
    image_type: CUSTOM_IMAGE
  register: golden
"""

RETURN = r"""
images:
  description:
    - The matching images, V([]) when there are none.
    - A public image is offered in every zone and is listed once, with RV(images[].zone_id) V(null).
  returned: always
  type: list
  elements: dict
  contains:
    image_id:
      description: The image id.
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
      description: The image size in GB; an integer.
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
      description: The zone of a custom image; V(null) for a public image.
      type: str
      sample: HKG-A
"""

from typing import Any

from ansible_collections.zenlayer.cloud.plugins.module_utils._base import AnsibleZenlayer, ZenlayerError
from ansible_collections.zenlayer.cloud.plugins.module_utils._image import (
    IMAGE_STATUSES,
    IMAGE_TYPES,
    describe_images,
    shape_image,
    zone_ids,
)


class ZenlayerImageInfo(AnsibleZenlayer):
    argument_spec = {
        "zone_id": {"type": "str"},
        "image_ids": {"type": "list", "elements": "str"},
        "name": {"type": "str", "aliases": ["image_name"]},
        "image_type": {"type": "str", "choices": list(IMAGE_TYPES)},
        "image_status": {"type": "str", "choices": list(IMAGE_STATUSES)},
    }

    def validate(self) -> None:
        if self.params["image_ids"] == []:
            raise ZenlayerError("image_ids is an empty list: give at least one image id, or leave image_ids out to list "
                                "every image (an empty list never means all)")

    def execute(self) -> dict[str, Any]:
        with self.step("Listing images"):
            return {"images": self.images()}

    def _zones(self) -> list[str]:
        return [self.params["zone_id"]] if self.params["zone_id"] else zone_ids(self.client)

    def _images_of_zone(self, zone_id: str) -> list[dict[str, Any]]:
        params = self.params
        found = describe_images(self.client, zone_id, imageIds=params["image_ids"], imageName=params["name"],
                                imageType=params["image_type"], imageStatus=params["image_status"])
        if params["name"] is not None:
            found = [image for image in found if image.get("imageName") == params["name"]]
        return [shape_image(image, zone_id) for image in found]

    def images(self) -> list[dict[str, Any]]:
        images: list[dict[str, Any]] = []
        seen: set[str] = set()
        for zone_id in self._zones():
            for image in self._images_of_zone(zone_id):
                if image["image_id"] not in seen:  # a public image is listed in every zone
                    seen.add(image["image_id"])
                    images.append(image)
        return images


def main() -> None:
    ZenlayerImageInfo.main()


if __name__ == "__main__":
    main()
