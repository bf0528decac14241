# -*- coding: utf-8 -*-
# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What the zenlayer_vm inventory plugin needs beside Ansible: API filter sets, fetching, hostvars, unique names."""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import itertools
import json
import re
import time
from typing import Any, Iterable

from ansible_collections.zenlayer.cloud.plugins.module_utils._api import ZenlayerClient
from ansible_collections.zenlayer.cloud.plugins.module_utils._record import power_record_of, tags_of

PAGE_SIZE = 1000
MAX_IDS_PER_CALL = 100
MAX_TAG_FILTERS = 20
# a listing whose totalCount changes between its pages is read again from page 1, this many times in all
LISTING_TRIES = 3
# what Jinja2 needs to see a template in a string; a filter still holding one after rendering is never sent
TEMPLATE_MARKERS = ("{{", "{%", "{#")
CACHE_FORMAT = "zenlayer.cloud.zenlayer_vm/raw-v1"
ADDRESS_KINDS = ("public_ipv4", "private_ipv4", "public_ipv6")
DUPLICATE_SEPARATOR = "_"

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


class InventoryOptionError(ValueError):
    """An option of the inventory source cannot work; raised before any API call."""


class ListingChangedError(RuntimeError):
    """The account kept changing while a listing was read page by page: no complete answer could be read."""


def may_hold_template(text: str) -> bool:
    """Whether Jinja2 could see syntax in this text. A value without a brace can never be a template, so it is safe
    to trust; one with a brace stays data that is never rendered (the rule community.general's make_unsafe uses)."""
    return "{" in text or "}" in text


@functools.lru_cache(maxsize=1024)
def snake_case(name: str) -> str:
    """instanceChargeType -> instance_charge_type, publicIpv6Addresses -> public_ipv6_addresses."""
    return _CAMEL_BOUNDARY.sub("_", name).lower()


def snake_case_data(value: Any) -> Any:
    """Every dict key of a JSON value in snake_case, recursively."""
    if isinstance(value, dict):
        return {snake_case(str(key)): snake_case_data(item) for key, item in value.items()}
    if isinstance(value, list):
        return [snake_case_data(item) for item in value]
    return value


def _first_address(addresses: Any, version: int) -> str | None:
    for address in addresses or []:
        try:
            if ipaddress.ip_address(address).version == version:
                return address
        except ValueError:
            continue
    return None


def instance_hostvars(raw: dict[str, Any]) -> dict[str, Any]:
    """An InstanceInfo as host variables (without prefix): every field in snake_case (the names shape_instance gives
    the modules' results: instance_id, instance_name, zone_id, ...), tags as a dict, and the first public IPv4,
    private IPv4 and public IPv6 address (None when there is none)."""
    hostvars = snake_case_data({key: value for key, value in raw.items() if key != "tags"})
    hostvars["tags"] = tags_of(raw)
    hostvars["power_record"] = power_record_of(hostvars["tags"], time.time())
    hostvars["public_ipv4"] = _first_address(raw.get("publicIpAddresses"), 4)
    hostvars["private_ipv4"] = _first_address(raw.get("privateIpAddresses"), 4)
    hostvars["public_ipv6"] = (_first_address(raw.get("publicIpv6Addresses"), 6)
                               or _first_address(raw.get("publicIpAddresses"), 6))
    return hostvars


# -- API filters -------------------------------------------------------------------------------------------------

def filter_text(option: str, value: Any) -> str:
    """A filter value as the API's text: a string as it is; a YAML boolean or integer as a user reads it (true ->
    "true", 1 -> "1"); anything else (a float, whose YAML reading may drop digits, a list, a dict) is refused."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    kind = "float" if isinstance(value, float) else "list" if isinstance(value, list) else \
        "dictionary" if isinstance(value, dict) else type(value).__name__
    raise InventoryOptionError("%s: %r is a %s, but the API compares text; write it in quotes exactly as the instances "
                               "carry it (YAML reads 1.10 as the number 1.1)" % (option, value, kind))


def check_rendered(option: str, value: Any) -> None:
    """A filter that still holds a template after rendering would be sent as literal text and match nothing."""
    texts = value.items() if isinstance(value, dict) else value if isinstance(value, list) else [value]
    for text in texts:
        for part in text if isinstance(text, tuple) else (text,):
            if isinstance(part, str) and any(marker in part for marker in TEMPLATE_MARKERS):
                raise InventoryOptionError(
                    "%s still holds a template after rendering (%r), so it is not sent: give its variables with -e and "
                    "set use_extra_vars: true, or write the value itself" % (option, part))


def split_tag_filters(tags: dict[Any, Any]) -> tuple[dict[str, str], list[str]]:
    """The tags option as ({key: value}, [keys given with a null value, which match any value of that key]), every
    key and value as the API's text (filter_text)."""
    pairs: dict[str, str] = {}
    any_value: list[str] = []
    for key, value in (tags or {}).items():
        name = filter_text("tags", key)
        if value is None:
            any_value.append(name)
        else:
            pairs[name] = filter_text("tags.%s" % name, value)
    return pairs, any_value


def check_name_pattern(name: str | None) -> None:
    if name is not None and (not name or "*" in name[:-1]):
        raise InventoryOptionError("name must be an instance name, or a prefix followed by one trailing '*' "
                                   "(the only wildcard the API knows), not %r" % name)


def base_filters(options: dict[str, Any]) -> dict[str, Any]:
    """The filters every DescribeInstances call of the source carries (camelCase, as sent)."""
    check_name_pattern(options.get("name"))
    tags = options.get("tags") or {}
    tag_keys = list(options.get("tag_keys") or [])
    if len(tags) > MAX_TAG_FILTERS or len(tag_keys) > MAX_TAG_FILTERS:
        raise InventoryOptionError("the API takes at most %d tags and %d tag keys in one request, got %d and %d"
                                   % (MAX_TAG_FILTERS, MAX_TAG_FILTERS, len(tags), len(tag_keys)))
    filters: dict[str, Any] = {
        "instanceName": options.get("name"),
        "resourceGroupId": options.get("resource_group_id"),
        "imageId": options.get("image_id"),
        "tags": [{"key": key, "value": value} for key, value in sorted(tags.items())] or None,
        "tagKeys": tag_keys or None,
    }
    return {key: value for key, value in filters.items() if value is not None}


def filter_sets(options: dict[str, Any]) -> list[dict[str, Any]]:
    """One DescribeInstances filter set per (zone, status, chunk of 100 ids); none of these = every one."""
    common = base_filters(options)
    zones = list(dict.fromkeys(options.get("zones") or [])) or [None]
    statuses = list(dict.fromkeys(options.get("statuses") or [])) or [None]
    ids = list(dict.fromkeys(options.get("instance_ids") or []))
    id_chunks: list[list[str] | None] = [ids[start:start + MAX_IDS_PER_CALL]
                                         for start in range(0, len(ids), MAX_IDS_PER_CALL)] or [None]
    sets = []
    for zone, status, chunk in itertools.product(zones, statuses, id_chunks):
        extra = {"zoneId": zone, "instanceStatus": status, "instanceIds": chunk}
        sets.append(dict(common, **{key: value for key, value in extra.items() if value is not None}))
    return sets


def describe_filter_set(filters: dict[str, Any]) -> str:
    """A filter set as a user can recognise it in a message."""
    parts = []
    for key, value in sorted(filters.items()):
        if key == "instanceIds":
            value = "%d ids from %s" % (len(value), value[0])
        parts.append("%s=%s" % (key, json.dumps(value, sort_keys=True) if isinstance(value, (list, dict)) else value))
    return "{%s}" % ", ".join(parts) if parts else "{} (every instance)"


def _read_listing(client: ZenlayerClient, filters: dict[str, Any], page_size: int) -> tuple[list[dict[str, Any]] | None, list[Any]]:
    """One read of a listing, page after page: (the instances, each once) when every page gave the same totalCount
    and that many instances were read, else (None, the totalCounts seen): the account changed meanwhile, so an instance
    may have moved across a page boundary unseen."""
    found: dict[Any, dict[str, Any]] = {}
    totals: list[Any] = []
    page_number, items_read = 1, 0
    while True:
        payload = client.call("DescribeInstances", dict(filters, pageNum=page_number, pageSize=page_size))
        items = payload.get("dataSet") or []
        totals.append(payload.get("totalCount"))
        if totals[-1] != totals[0]:
            return None, totals
        for raw in items:
            found.setdefault(raw.get("instanceId"), raw)
        items_read += len(items)
        total = totals[0]
        if len(items) < page_size or (isinstance(total, int) and items_read >= total):
            break
        page_number += 1
    if isinstance(total, int) and len(found) != total:
        return None, totals
    return list(found.values()), totals


def list_instances(client: ZenlayerClient, filters: dict[str, Any], page_size: int = PAGE_SIZE,
                   tries: int = LISTING_TRIES) -> list[dict[str, Any]]:
    """Every InstanceInfo of one filter set, read again from page 1 when the account changed during the read (at most
    `tries` reads); ListingChangedError, naming the filter set, when it changed during every one."""
    seen: list[list[Any]] = []
    for _attempt in range(tries):
        instances, totals = _read_listing(client, filters, page_size)
        if instances is not None:
            return instances
        seen.append(totals)
    counts = "; ".join(" -> ".join(map(str, totals)) for totals in seen)
    raise ListingChangedError(
        "the instances of the filter set %s changed while they were read page by page, in each of %d reads (totalCount "
        "page after page: %s), so an instance may have been missed; no inventory is made from a partial listing: run "
        "it again when the account is quieter, or narrow the filters" % (describe_filter_set(filters), tries, counts))


def fetch_instances(client: ZenlayerClient, sets: Iterable[dict[str, Any]],
                    page_size: int = PAGE_SIZE) -> list[dict[str, Any]]:
    """Every InstanceInfo of every filter set, pages of `page_size`, each instance once (by instance id; first seen
    wins)."""
    found: dict[str, dict[str, Any]] = {}
    for filters in sets:
        for raw in list_instances(client, filters, page_size):
            found.setdefault(raw.get("instanceId"), raw)
    return list(found.values())


def matches_filters(raw: dict[str, Any], options: dict[str, Any]) -> bool:
    """The API filters checked again on each answer, so an API that matches loosely cannot add hosts."""
    name = options.get("name")
    instance_name = raw.get("instanceName") or ""
    if name and not (instance_name.startswith(name[:-1]) if name.endswith("*") else instance_name == name):
        return False
    exact = (("zones", "zoneId"), ("statuses", "instanceStatus"), ("instance_ids", "instanceId"))
    if any(options.get(option) and raw.get(field) not in options[option] for option, field in exact):
        return False
    single = (("resource_group_id", "resourceGroupId"), ("image_id", "imageId"))
    if any(options.get(option) and raw.get(field) != options[option] for option, field in single):
        return False
    tags = tags_of(raw)
    if any(key not in tags for key in options.get("tag_keys") or []):
        return False
    return all(key in tags and tags[key] == value for key, value in (options.get("tags") or {}).items())


def query_fingerprint(endpoint: str, identity: str, sets: list[dict[str, Any]]) -> str:
    """What a cached answer was for: the endpoint, who asked (key id, or 'token') and the filter sets."""
    document = json.dumps({"endpoint": endpoint, "identity": identity, "sets": sets}, sort_keys=True)
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


def cache_document(fingerprint: str, instances: list[dict[str, Any]]) -> dict[str, Any]:
    return {"format": CACHE_FORMAT, "query": fingerprint, "instances": instances}


def cached_instances(document: Any, fingerprint: str) -> list[dict[str, Any]] | None:
    """The raw instances of a cache entry written for this query in this format, else None (a miss)."""
    if (isinstance(document, dict) and document.get("format") == CACHE_FORMAT
            and document.get("query") == fingerprint and isinstance(document.get("instances"), list)):
        return document["instances"]
    return None


# -- host names --------------------------------------------------------------------------------------------------

def _age_key(raw: dict[str, Any]) -> tuple[str, str]:
    return (str(raw.get("createTime") or "~"), str(raw.get("instanceId") or ""))


def unique_hostnames(preferred: list[tuple[str, dict[str, Any]]], on_duplicate: str = "suffix") -> list[tuple[str, dict[str, Any]]]:
    """(host name, instance) pairs with every name unique.

    Among instances that want the same name the oldest (createTime, then instance id) keeps it and each other one
    gets `<name>_<instance id>`, so adding an instance never renames a host that exists. With on_duplicate='error'
    a clash raises InventoryOptionError naming the instances instead.
    """
    wanted: dict[str, list[dict[str, Any]]] = {}
    for name, raw in preferred:
        wanted.setdefault(name, []).append(raw)
    clashes = {name: group for name, group in wanted.items() if len(group) > 1}
    if clashes and on_duplicate == "error":
        listing = "; ".join("%s: %s" % (name, ", ".join(sorted(str(raw.get("instanceId")) for raw in group)))
                            for name, group in sorted(clashes.items()))
        raise InventoryOptionError("several instances would have the same host name (%s); choose other hostnames "
                                   "or set duplicate_hostnames: suffix" % listing)
    taken = set(wanted)
    result = []
    for name, group in wanted.items():
        ordered = sorted(group, key=_age_key)
        result.append((name, ordered[0]))
        for raw in ordered[1:]:
            candidate = "%s%s%s" % (name, DUPLICATE_SEPARATOR, raw.get("instanceId"))
            while candidate in taken:
                candidate += DUPLICATE_SEPARATOR
            taken.add(candidate)
            result.append((candidate, raw))
    return result
