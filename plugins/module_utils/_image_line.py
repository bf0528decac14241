# -*- coding: utf-8 -*-
# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Image lines: a prefix plus a fixed-width UTC timestamp, so that names sort by time.

`web-` + 2026-11-30 05:38 UTC is `web-202611300538`. An image belongs to a line only when its whole name is the
prefix followed by exactly 12 ASCII digits that make a real UTC minute: `web-golden`, `web-2026` or
`web-2026113005389` are not members of the line `web-`, and are never touched by it."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from ansible_collections.zenlayer.cloud.plugins.module_utils._image import (
    AVAILABLE,
    CREATING,
    CUSTOM_IMAGE,
    NAME_MAX,
    quota_is_full,
)
from ansible_collections.zenlayer.cloud.plugins.module_utils._wait import PollSchedule

STAMP_FORMAT = "%Y%m%d%H%M"
STAMP_WIDTH = 12
PREFIX_MAX = NAME_MAX - STAMP_WIDTH
# The prefix's own characters are the image name's; it ends with '-' or '_' so the timestamp stands apart.
_PREFIX_PATTERN = re.compile(r"[A-Za-z0-9_\-\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]{0,%d}[-_]" % (PREFIX_MAX - 1))
_STAMP_PATTERN = re.compile(r"[0-9]{%d}" % STAMP_WIDTH)  # ASCII digits only: \d would take other scripts' digits
_AGE_PATTERN = re.compile(r"(?:[0-9]+[wdhm])+")
_AGE_PART = re.compile(r"([0-9]+)([wdhm])")
_AGE_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}
# How the quota is read after make_room's deletes until it shows the room (deletes take effect late, like every write).
ROOM_WAIT = PollSchedule(first=1.0, factor=2.0, cap=10.0)


def prefix_problem(prefix: str) -> str | None:
    """Why `prefix` cannot start a line's names, or None."""
    if not _PREFIX_PATTERN.fullmatch(prefix):
        return ("prefix must be 1 to %d characters of letters, digits, Chinese characters, '-' and '_', ending with "
                "'-' or '_' (the name adds a %d-digit UTC timestamp, and a name is at most %d characters), not %r "
                "(%d characters)" % (PREFIX_MAX, STAMP_WIDTH, NAME_MAX, prefix, len(prefix)))
    return None


def line_name(prefix: str, when: datetime) -> str:
    """The name of the line's image made at `when` (an aware datetime), to the minute in UTC."""
    return prefix + when.astimezone(timezone.utc).strftime(STAMP_FORMAT)


def name_stamp(prefix: str, name: Any) -> datetime | None:
    """The UTC time in `name` when it is strictly a member of the line `prefix`, else None."""
    if not isinstance(name, str) or not name.startswith(prefix):
        return None
    stamp = name[len(prefix):]
    if not _STAMP_PATTERN.fullmatch(stamp):
        return None
    try:
        return datetime.strptime(stamp, STAMP_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:  # 12 digits that are no minute, like 202613450000
        return None


def members(images: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    """The custom images (raw ImageInfo) of the line, newest first."""
    found = [image for image in images
             if image.get("imageType") == CUSTOM_IMAGE and name_stamp(prefix, image.get("imageName")) is not None]
    return newest_first(found)


def newest_first(line: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Members by their stamps, newest first (a fixed prefix and a fixed-width stamp: the names sort as the stamps).
    An image not made yet (check mode: no id) goes before one of the same name."""
    return sorted(line, key=lambda image: (image["imageName"], image.get("imageId") or "~"), reverse=True)


def placed(line: list[dict[str, Any]], image: dict[str, Any]) -> list[dict[str, Any]]:
    """The line with `image` (made or adopted by this run) in the place its stamp gives it, replacing the member of
    the same id: never simply first, since `now` may be older than the line's newest stamp."""
    others = [member for member in line if image.get("imageId") is None or member.get("imageId") != image.get("imageId")]
    return newest_first(others + [image])


def newest_available(line: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((image for image in line if image.get("imageStatus") == AVAILABLE), None)


def room_candidates(line: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What may be deleted to make room, oldest first: never a CREATING image, never the newest AVAILABLE one (the
    line is never left without an image to use)."""
    keep = newest_available(line)
    return [image for image in reversed(line) if image is not keep and image.get("imageStatus") != CREATING]


def beyond_keep(line: list[dict[str, Any]], prefix: str, keep: int) -> list[dict[str, Any]]:
    """The images older than the `keep`-th newest AVAILABLE one (newest first), less those still CREATING. `line`
    must be newest first (members(), placed()). The caller spares the image its run made."""
    available = [image for image in line if image.get("imageStatus") == AVAILABLE]
    if len(available) <= keep:
        return []
    oldest_kept = name_stamp(prefix, available[keep - 1]["imageName"])
    return [image for image in line if image.get("imageStatus") != CREATING
            and name_stamp(prefix, image["imageName"]) < oldest_kept]  # type: ignore[operator]


def room_shown(quota: dict[str, Any] | None, still_listed: list[str] | None) -> bool:
    """Whether the room make_room made shows: the quota below its maximum, or (when the API gives no quota) none of
    the deleted images listed any more."""
    if quota_known(quota):
        return not quota_is_full(quota)
    return still_listed == []


def quota_known(quota: dict[str, Any] | None) -> bool:
    return bool(quota) and isinstance(quota.get("count"), int) and isinstance(quota.get("maxCount"), int)  # type: ignore[union-attr]


def parse_max_age(text: str) -> timedelta:
    """'20h', '1d12h', '90m', '1w' as a timedelta; ValueError for anything else (or for zero)."""
    compact = text.strip().lower().replace(" ", "")
    if not _AGE_PATTERN.fullmatch(compact):
        raise ValueError(text)
    age = timedelta()
    for number, unit in _AGE_PART.findall(compact):
        age += timedelta(**{_AGE_UNITS[unit]: int(number)})
    if age <= timedelta(0):
        raise ValueError(text)
    return age


def parse_now(text: str) -> datetime:
    """An ISO 8601 time with its UTC offset ('2026-11-30T05:38:00Z', '...+00:00'), in UTC; ValueError without one."""
    value = text.strip()
    if value[-1:] in ("Z", "z"):
        value = value[:-1] + "+00:00"
    when = datetime.fromisoformat(value)
    if when.tzinfo is None:
        raise ValueError("no UTC offset in %r" % text)
    return when.astimezone(timezone.utc)
