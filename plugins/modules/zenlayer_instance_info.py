#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: zenlayer_instance_info
short_description: List Zenlayer Cloud VM instances
version_added: 0.1.0
description:
  - Lists the Zenlayer Cloud VM instances that match every filter given, reading all pages of the answer.
  - Without a filter it lists every instance of the account.
author: zenlayer.cloud maintainers (@zenlayer-cloud)
options:
  instance_ids:
    description:
      - Only these instances (asked in chunks of 100, the most the API takes in one call).
      - An ID that does not exist is left out of the result; it is not an error.
      - An empty list is refused (it never means every instance); leave the option out to list them all.
    type: list
    elements: str
    aliases: [instance_id]
  zone_id:
    description:
      - Only instances of this zone, for example V(HKG-A).
    type: str
  name:
    description:
      - Only instances with exactly this name. A trailing V(*) makes it a prefix match (V(web-*)).
    type: str
  status:
    description:
      - Only instances in this status, for example V(RUNNING) or V(STOPPED).
    type: str
extends_documentation_fragment:
  - zenlayer.cloud.zenlayer
attributes:
  check_mode:
    description: The module only reads; it runs the same in check mode.
    support: full
  diff_mode:
    description: The module changes nothing, so it has no diff.
    support: N/A
seealso:
  - module: zenlayer.cloud.zenlayer_instance_power
"""

EXAMPLES = r"""
- name: Read one instance
  zenlayer.cloud.zenlayer_instance_info:
    instance_id: "{{ instance_id }}"
  register: result

- name: Show its status
  ansible.builtin.debug:
    msg: "{{ result.instances[0].instance_status }}"

- name: Every running web server in Hong Kong
  zenlayer.cloud.zenlayer_instance_info:
    zone_id: HKG-A
    name: web-*
    status: RUNNING
  register: web
"""

RETURN = r"""
instances:
  description: The instances found, [] when none. The same shape as the result of M(zenlayer.cloud.zenlayer_instance_power).
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
      description: The status, for example V(RUNNING), V(STOPPED), V(STOPPING), V(BOOTING), V(IMAGING), V(RECYCLE).
      type: str
      sample: RUNNING
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

from typing import Any

from ansible_collections.zenlayer.cloud.plugins.module_utils._base import AnsibleZenlayer, ZenlayerError
from ansible_collections.zenlayer.cloud.plugins.module_utils._instance import describe_instances, shape_instance


def name_matches(pattern: str | None, name: str | None) -> bool:
    """Exact, or a prefix match for a trailing '*' (checked here too: how the API matches is not documented)."""
    if pattern is None:
        return True
    if pattern.endswith("*"):
        return (name or "").startswith(pattern[:-1])
    return name == pattern


class InstanceInfo(AnsibleZenlayer):
    argument_spec = {
        "instance_ids": {"type": "list", "elements": "str", "aliases": ["instance_id"]},
        "zone_id": {"type": "str"},
        "name": {"type": "str"},
        "status": {"type": "str"},
    }

    def validate(self) -> None:
        if self.params["instance_ids"] == []:
            raise ZenlayerError("instance_ids is an empty list: give at least one instance id, or leave instance_ids "
                                "out to list every instance (an empty list never means all)")

    def execute(self) -> dict[str, Any]:
        params = self.params
        with self.step("Listing instances"):
            raw = describe_instances(self.client, params["instance_ids"], zoneId=params["zone_id"],
                                     instanceName=params["name"], instanceStatus=params["status"])
        unique = {item["instanceId"]: item for item in raw if name_matches(params["name"], item.get("instanceName"))}
        return {"instances": [shape_instance(item, self.clock.time()) for item in unique.values()]}


def main() -> None:
    InstanceInfo.main()


if __name__ == "__main__":
    main()
