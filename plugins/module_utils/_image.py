# -*- coding: utf-8 -*-
# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Image lookups, input rules and the one shaping function shared by zenlayer_image and zenlayer_image_info."""

from __future__ import annotations

import re
from typing import Any

from ansible_collections.zenlayer.cloud.plugins.module_utils._api import ZenlayerClient

CUSTOM_IMAGE = "CUSTOM_IMAGE"
PUBLIC_IMAGE = "PUBLIC_IMAGE"
IMAGE_TYPES = (CUSTOM_IMAGE, PUBLIC_IMAGE)
CREATING = "CREATING"
AVAILABLE = "AVAILABLE"
UNAVAILABLE = "UNAVAILABLE"
IMAGE_STATUSES = (CREATING, AVAILABLE, UNAVAILABLE)

# The API does not say which zones lack image support; these are the documented ones. A real run still trusts
# the API's own answer for every other zone.
ZONES_WITHOUT_IMAGES = frozenset({"SIN-E", "LAX-A"})

# The API allows pageSize up to 1000: one call reads every custom image of a zone.
PAGE_SIZE = 1000
NAME_MAX = 24
DESCRIPTION_MAX = 255
# Matched against the whole string (fullmatch): "$" would let a trailing newline through, as a YAML `name: |` adds.
_NAME_PATTERN = re.compile(r"[A-Za-z0-9_\-\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]{1,%d}" % NAME_MAX)

_IMAGE_FIELDS = (
    ("imageId", "image_id"),
    ("imageName", "image_name"),
    ("imageDescription", "image_description"),
    ("imageStatus", "image_status"),
    ("imageSize", "image_size"),
    ("imageType", "image_type"),
    ("category", "category"),
    ("osType", "os_type"),
    ("imageVersion", "image_version"),
)


def _size_in_gb(value: Any) -> Any:
    """The API sends the size as a string of GB; an integer is what playbooks compare."""
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return value


def shape_image(raw: dict[str, Any], zone_id: str | None = None, instance_id: str | None = None) -> dict[str, Any]:
    """ImageInfo in snake_case. zone_id is the zone it was listed in (None for a public image: every zone offers it);
    instance_id only when the caller knows it (the API never says which instance an image came from)."""
    shaped = {snake: raw.get(camel) for camel, snake in _IMAGE_FIELDS}
    shaped["image_size"] = _size_in_gb(shaped["image_size"])
    shaped["zone_id"] = None if shaped["image_type"] == PUBLIC_IMAGE else zone_id
    if instance_id is not None:
        shaped["instance_id"] = instance_id
    return shaped


def name_problem(name: str) -> str | None:
    """Why a name cannot be an image name, or None."""
    if not _NAME_PATTERN.fullmatch(name):
        return ("name must be 1 to %d characters of letters, digits, Chinese characters, '-' and '_' (no spaces or "
                "other signs), not %r (%d characters)" % (NAME_MAX, name, len(name)))
    return None


def description_problem(description: str | None) -> str | None:
    if description is not None and len(description) > DESCRIPTION_MAX:
        return "description must be at most %d characters, not %d" % (DESCRIPTION_MAX, len(description))
    return None


def describe_images(client: ZenlayerClient, zone_id: str, **filters: Any) -> list[dict[str, Any]]:
    """Raw ImageInfo of one zone matching the API filters (imageIds, imageName, imageType, imageStatus, ...)."""
    params = dict((key, value) for key, value in filters.items() if value is not None)
    params["zoneId"] = zone_id
    return client.list_all("DescribeImages", params, page_size=PAGE_SIZE)


def custom_images_named(client: ZenlayerClient, zone_id: str, name: str) -> list[dict[str, Any]]:
    """The custom images of a zone whose name is exactly `name` (the API's name filter may match substrings)."""
    found = describe_images(client, zone_id, imageName=name, imageType=CUSTOM_IMAGE)
    return [image for image in found if image.get("imageName") == name and image.get("imageType") == CUSTOM_IMAGE]


def creating_images(client: ZenlayerClient, zone_id: str) -> list[dict[str, Any]]:
    """Custom images of a zone still CREATING (ImageInfo does not name its source instance)."""
    found = describe_images(client, zone_id, imageType=CUSTOM_IMAGE, imageStatus=CREATING)
    return [image for image in found if image.get("imageStatus") == CREATING and image.get("imageType") == CUSTOM_IMAGE]


def get_image(client: ZenlayerClient, zone_id: str, image_id: str) -> dict[str, Any] | None:
    """Raw ImageInfo of one image listed in a zone, or None."""
    found = describe_images(client, zone_id, imageIds=[image_id])
    matches = [image for image in found if image.get("imageId") == image_id]
    return matches[0] if matches else None


def zone_ids(client: ZenlayerClient) -> list[str]:
    payload = client.call("DescribeZones", {})
    return [zone["zoneId"] for zone in payload.get("zoneSet") or [] if zone.get("zoneId")]


def find_image_anywhere(client: ZenlayerClient, image_id: str) -> tuple[dict[str, Any] | None, str | None]:
    """(raw ImageInfo, zone) of an image looked for in every zone, or (None, None)."""
    for zone_id in zone_ids(client):
        image = get_image(client, zone_id, image_id)
        if image is not None:
            return image, zone_id
    return None, None


def image_quotas(client: ZenlayerClient, zone_ids: list[str]) -> dict[str, dict[str, Any] | None]:
    """{zone: {zoneId, count, maxCount}} of the zones' custom images, in one call; None where the API does not say."""
    payload = client.call("DescribeImageQuota", {"zoneIds": list(zone_ids)})
    quotas: dict[str, dict[str, Any] | None] = dict.fromkeys(zone_ids)
    for entry in payload.get("images") or []:
        if entry.get("zoneId") in quotas:
            quotas[entry["zoneId"]] = entry
    return quotas


def image_quota(client: ZenlayerClient, zone_id: str) -> dict[str, Any] | None:
    """{zoneId, count, maxCount} of a zone's custom images, or None when the API does not say."""
    return image_quotas(client, [zone_id])[zone_id]


def quota_is_full(quota: dict[str, Any] | None) -> bool:
    if not quota or not isinstance(quota.get("count"), int) or not isinstance(quota.get("maxCount"), int):
        return False
    return quota["count"] >= quota["maxCount"]


def zone_supports_images(zone_id: str) -> bool:
    """False for the zones documented without image support; True (let the API decide) for every other."""
    return zone_id not in ZONES_WITHOUT_IMAGES


def describe_image_list(images: list[dict[str, Any]]) -> str:
    """'img-1 (web, AVAILABLE), img-2 (db, CREATING)' for messages."""
    return ", ".join("%s (%s, %s)" % (image.get("imageId"), image.get("imageName"), image.get("imageStatus"))
                     for image in images) or "none listed"
