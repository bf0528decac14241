# -*- coding: utf-8 -*-
# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Instance lookups and the one shaping function shared by zenlayer_instance_power and zenlayer_instance_info."""

from __future__ import annotations

import time
from typing import Any, Iterable, Iterator

from ansible_collections.zenlayer.cloud.plugins.module_utils._api import ZenlayerClient
from ansible_collections.zenlayer.cloud.plugins.module_utils._record import power_record_of, power_to_restore, tags_of

MAX_IDS_PER_CALL = 100

# Zenlayer's own Terraform provider treats these as "still moving" when waiting for a power change.
TRANSITIONAL_STATUSES = frozenset({"PENDING", "DEPLOYING", "STOPPING", "BOOTING", "RELEASING", "REBUILDING",
                                   "RECYCLING", "REBOOT"})
IMAGING = "IMAGING"
RUNNING = "RUNNING"
STOPPED = "STOPPED"

_INSTANCE_FIELDS = (
    ("instanceId", "instance_id"),
    ("instanceName", "instance_name"),
    ("instanceStatus", "instance_status"),
    ("zoneId", "zone_id"),
    ("imageId", "image_id"),
    ("imageName", "image_name"),
    ("cpuCount", "cpu_count"),
    ("memory", "memory"),
    ("publicIpAddresses", "public_ip_addresses"),
    ("privateIpAddresses", "private_ip_addresses"),
    ("createTime", "create_time"),
    ("expiredTime", "expired_time"),
)


def shape_instance(raw: dict[str, Any], now: float | None = None) -> dict[str, Any]:
    """The API's InstanceInfo in the collection's snake_case; fields the answer lacks are left out. Tags come as a
    dict, and the power record a job left on the instance (see _record.py) decoded, or None; power_to_restore is
    the power an imaging job puts this status back to (the role reads it instead of deciding again). `now` is the
    module's clock.time(), that the record's lease is judged by."""
    shaped = {snake: raw[camel] for camel, snake in _INSTANCE_FIELDS if camel in raw}
    if "instance_status" in shaped:
        shaped["power_to_restore"] = power_to_restore(shaped["instance_status"])
    disk = raw.get("systemDisk")
    if isinstance(disk, dict):
        shaped["system_disk"] = {"disk_id": disk.get("diskId"), "disk_size": disk.get("diskSize"),
                                 "disk_category": disk.get("diskCategory")}
    if "tags" in raw:
        shaped["tags"] = tags_of(raw)
        shaped["power_record"] = power_record_of(shaped["tags"], time.time() if now is None else now)
    return shaped


def chunks(items: list[str], size: int = MAX_IDS_PER_CALL) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def describe_instances(client: ZenlayerClient, instance_ids: Iterable[str] | None = None,
                       **filters: Any) -> list[dict[str, Any]]:
    """Raw InstanceInfo of the given ids (in chunks of 100) or of every instance matching the filters."""
    ids = list(instance_ids or [])
    if not ids:
        return client.list_all("DescribeInstances", filters)
    found: list[dict[str, Any]] = []
    for chunk in chunks(ids):
        found.extend(client.list_all("DescribeInstances", dict(filters, instanceIds=chunk)))
    return found


def get_instance(client: ZenlayerClient, instance_id: str) -> dict[str, Any] | None:
    """Raw InstanceInfo of one instance, or None when it does not exist."""
    matches = [item for item in describe_instances(client, [instance_id]) if item.get("instanceId") == instance_id]
    return matches[0] if matches else None


def instance_statuses(client: ZenlayerClient, instance_ids: list[str]) -> dict[str, str]:
    """{instance_id: status} in one DescribeInstancesStatus call per 100 ids; missing ids are absent."""
    statuses: dict[str, str] = {}
    for chunk in chunks(instance_ids):
        for item in client.list_all("DescribeInstancesStatus", {"instanceIds": chunk}):
            statuses[item["instanceId"]] = item.get("instanceStatus")
    return statuses


# Power control (zenlayer_instance_power). A status in SETTLES_TO is on its way somewhere by itself: wait it out,
# then act. IMAGING counts as powered off: the instance returns to STOPPED when its image is done.
STOPPING = "STOPPING"
BOOTING = "BOOTING"
REBOOT = "REBOOT"
SETTLES_TO = {
    "PENDING": RUNNING, "DEPLOYING": RUNNING, "REBUILDING": RUNNING, REBOOT: RUNNING, BOOTING: RUNNING,
    STOPPING: STOPPED, IMAGING: STOPPED,
}
# States no power action can start from, with why (anything unknown is refused too).
UNACTIONABLE_STATUSES = {
    "RECYCLE": "it is in the recycle bin",
    "RECYCLING": "it is being moved to the recycle bin",
    "RELEASING": "it is being released",
    "CREATE_FAILED": "its creation failed",
}
POWERED_OFF_STATUSES = frozenset({STOPPED, IMAGING})
# An instance in one of these is on its way out: waiting for an image made from it ends, with this reason.
ENDING_STATUSES = {status: why for status, why in UNACTIONABLE_STATUSES.items() if status != "CREATE_FAILED"}


def why_unactionable(status: str | None) -> str | None:
    """Why no power action can be taken on an instance in this status, or None when one can (now or after a wait)."""
    if status in (RUNNING, STOPPED) or status in SETTLES_TO:
        return None
    return UNACTIONABLE_STATUSES.get(status or "", "its status %s is not one a power action can start from" % status)


# Zenlayer's own Terraform provider names these VM disk statuses besides IN_USE and AVAILABLE: a system disk in one
# of them is on its way out or not made yet, so CreateImage would refuse it. Other statuses are left to the API.
UNUSABLE_DISK_STATUSES = frozenset({"CREATING", "DELETING", "RECYCLING", "RECYCLED"})


def unusable_disk_problem(instance_id: str, disk: dict[str, Any] | None) -> str | None:
    """Why an image cannot be made from this system disk now, or None (unknown statuses are left to the API)."""
    status = (disk or {}).get("diskStatus")
    if status not in UNUSABLE_DISK_STATUSES:
        return None
    return ("the system disk %s of instance %s is %s: an image cannot be made from it now; wait until it is in use "
            "again (IN_USE)" % ((disk or {}).get("diskId"), instance_id, status))


def system_disks_in_zone(client: ZenlayerClient, zone_id: str) -> dict[str, dict[str, Any]]:
    """{instance_id: raw DiskInfo} of every system disk of a zone (DescribeDisks, 1000 a page)."""
    disks = client.list_all("DescribeDisks", {"zoneId": zone_id, "diskType": "SYSTEM"}, page_size=1000)
    return {disk["instanceId"]: disk for disk in disks if disk.get("instanceId") and disk.get("diskType") == "SYSTEM"}


def system_disk(client: ZenlayerClient, instance_id: str) -> dict[str, Any] | None:
    """The raw DiskInfo of an instance's system disk (DescribeDisks), or None when the API lists none."""
    disks = client.list_all("DescribeDisks", {"instanceId": instance_id, "diskType": "SYSTEM"})
    matches = [disk for disk in disks if disk.get("instanceId") == instance_id and disk.get("diskType") == "SYSTEM"]
    return matches[0] if matches else None
