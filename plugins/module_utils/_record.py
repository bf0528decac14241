# -*- coding: utf-8 -*-
# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The power record: what an instance's power must be put back to, kept as a tag on the instance itself.

The cloud is the only store that outlives a cancelled or killed job, so before a job stops an instance it writes
`zenlayer-cloud-power-record=<running|stopped>.<since>.<expires>.<owner>` (times in unix seconds) on it, and removes
it once the power is back. Any later job finds it and puts the power back first.

The record says two things, and only the second expires: what to put back (honoured by any later run, whoever wrote
it), and who is working on the instance - a lease until `expires`, which its holder renews while it works (see
_lease.py). `expires` = 0 marks a lease its holder gave up (a cancelled job): the power to put back stays.
A reader judges expiry on its own clock, with SKEW_MARGIN_SECONDS for the distance between controllers' clocks."""

from __future__ import annotations

import re
from typing import Any

from ansible_collections.zenlayer.cloud.plugins.module_utils._api import ZenlayerClient

RECORD_TAG_KEY = "zenlayer-cloud-power-record"
ZRM_SERVICE = "zrm"
ZRM_API_VERSION = "2025-10-14"
TAG_DENIED_CODE = "OPERATION_DENIED_TAG_PERMISSION"
POWER_STATES = ("running", "stopped")
# A lease lasts this long unless renewed (the `lease` option); its holder renews it when less than a third is left.
DEFAULT_LEASE_SECONDS = 300
# How far apart two controllers' clocks may be: a record stays live until expires + this margin on the reader's clock,
# so that a reader whose clock runs ahead never takes over a lease that its holder still renews on time.
SKEW_MARGIN_SECONDS = 60
LAPSED = 0
# A tag value is at most 64 characters of letters, digits, '-', '_' and '.': power (7), two times (10 each), 3 dots.
OWNER_MAX = 30
OWNER_PATTERN = re.compile(r"[A-Za-z0-9_\-]{1,%d}" % OWNER_MAX)
_VALUE_PATTERN = re.compile(r"(?P<power>running|stopped)\.(?P<since>\d{1,11})\.(?P<expires>\d{1,11})\.(?P<owner>[A-Za-z0-9_\-]{1,%d})"
                            % OWNER_MAX)


def owner_problem(owner: str) -> str | None:
    if not OWNER_PATTERN.fullmatch(owner):
        return ("owner must be 1 to %d letters, digits, '-' or '_' (it is kept in a tag value), not %r" % (OWNER_MAX, owner))
    return None


def encode_record(record: dict[str, Any]) -> str:
    return "%s.%d.%d.%s" % (record["power"], record["since"], record["expires"], record["owner"])


def decode_record(value: Any) -> dict[str, Any] | None:
    """{power, since, expires, owner} of a record tag's value, or None when it is not one this collection wrote."""
    match = _VALUE_PATTERN.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    return {"power": match.group("power"), "since": int(match.group("since")), "expires": int(match.group("expires")),
            "owner": match.group("owner")}


def is_live(record: dict[str, Any] | None, now: float) -> bool:
    """Whether a record's lease still holds on this clock (given up, or expired beyond the skew margin, it does not)."""
    return record is not None and record["expires"] != LAPSED and now < record["expires"] + SKEW_MARGIN_SECONDS


def lapse(record: dict[str, Any]) -> dict[str, Any]:
    """The record with its lease given up: what it says to put back stays, any run may take it over at once."""
    return dict(record, expires=LAPSED)


def shape_record(record: dict[str, Any] | None, now: float) -> dict[str, Any] | None:
    """A record as modules return it: with `live` (its lease holds) and `stale` (the opposite: its holder gave it
    up or stopped renewing it, so any run may take it over)."""
    if record is None:
        return None
    live = is_live(record, now)
    return dict(record, live=live, stale=not live)


def tags_of(raw: dict[str, Any]) -> dict[str, Any]:
    """InstanceInfo's tags ({"tags": [{"key", "value"}]} as the API nests them, or a bare list) as {key: value}."""
    tags = raw.get("tags")
    if isinstance(tags, dict):
        tags = tags.get("tags")
    return {tag["key"]: tag.get("value") for tag in tags or [] if isinstance(tag, dict) and "key" in tag}


def power_record_of(tags: dict[str, Any], now: float) -> dict[str, Any] | None:
    """The shaped power record among an instance's tags ({key: value}), or None."""
    return shape_record(decode_record(tags.get(RECORD_TAG_KEY)), now)


def read_record(zrm: ZenlayerClient, instance_id: str) -> dict[str, Any] | None:
    """The decoded power record of an instance (DescribeResourceTags), or None."""
    payload = zrm.call("DescribeResourceTags", {"resourceUuid": instance_id})
    values = [tag.get("value") for tag in payload.get("dataSet") or [] if tag.get("key") == RECORD_TAG_KEY]
    return decode_record(values[0]) if values else None


def power_to_restore(status: str | None) -> str:
    """The power an instance in this status is put back to: on its way down (or being imaged) is stopped."""
    return "stopped" if status in ("STOPPED", "STOPPING", "IMAGING") else "running"


def write_params(instance_id: str, record: dict[str, Any] | None) -> dict[str, Any]:
    """ModifyResourceTags parameters that set the record, or remove it (None). No other tag is touched."""
    if record is None:
        return {"resourceUuid": instance_id, "deleteTagKeys": [RECORD_TAG_KEY]}
    value = encode_record(record)
    return {"resourceUuid": instance_id, "replaceTags": [{"key": RECORD_TAG_KEY, "value": value}]}
