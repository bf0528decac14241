"""Generate an emulator seed for a large account: many instances with tags, resource groups and addresses.

    python3 tests/emulator/seedgen.py --instances 5000 --out /tmp/big.json
    python3 tests/emulator/seedgen.py --instances 0 --out /tmp/empty.json       # an account with no instance

The output is deterministic for a given --random-seed (default 1), so benchmarks and tests can compare runs. From
Python: ``from seedgen import generate; seed = generate(5000)``.

Every instance gets: a zone (round robin over --zones), a status (RUNNING, with every 10th STOPPED), the name
``<role>-<n>`` (``--duplicate-names N`` makes the first N instances share the name ``dup``), the tags ``role``
(web, db, cache, api), ``env`` (prod, staging) and, on every 4th instance, ``team: blue``; a resource group (rg-a
or rg-b); a private IPv4 address; a public IPv4 address on 3 of 4 instances and a public IPv6 address on every 5th.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from typing import Any

ACCESS_KEY_ID = "AKIDEMULATOR00000001"
ACCESS_KEY_PASSWORD = "emulator-secret-0123456789"
TOKEN = "emulator-token-0123456789"
DEFAULT_ZONES = ("HKG-A", "FRA-A", "SIN-E", "LAX-A")
ROLES = ("web", "db", "cache", "api")
ENVIRONMENTS = ("prod", "staging")
RESOURCE_GROUPS = (("rg-a", "Team A"), ("rg-b", "Team B"))
IMAGES = (("img-ubuntu-2204", "Ubuntu Server 22.04 LTS 64bit"), ("img-centos-79", "CentOS 7.9 64bit"))


def _tags(index: int, role: str, rng: random.Random) -> list[dict[str, str]]:
    tags = [{"key": "role", "value": role}, {"key": "env", "value": rng.choice(ENVIRONMENTS)}]
    if index % 4 == 0:
        tags.append({"key": "team", "value": "blue"})
    return tags


def _addresses(index: int) -> dict[str, list[str]]:
    high, low = divmod(index, 250)
    return {
        "privateIpAddresses": ["10.%d.%d.%d" % (high // 250, high % 250, low + 1)],
        "publicIpAddresses": ["198.18.%d.%d" % (high % 250, low + 1)] if index % 4 != 3 else [],
        "publicIpv6Addresses": ["2001:db8::%x" % (index + 1)] if index % 5 == 0 else [],
    }


def instance(index: int, zones: tuple[str, ...] | list[str], rng: random.Random, duplicate_names: int = 0) -> dict[str, Any]:
    """The seed record of instance number `index` (0-based)."""
    role = ROLES[index % len(ROLES)]
    group_id, group_name = RESOURCE_GROUPS[index % len(RESOURCE_GROUPS)]
    image_id, image_name = IMAGES[index % len(IMAGES)]
    record = {
        "instanceId": "ins-gen-%06d" % index,
        "zoneId": zones[index % len(zones)],
        "instanceName": "dup" if index < duplicate_names else "%s-%05d" % (role, index),
        "instanceStatus": "STOPPED" if index % 10 == 9 else "RUNNING",
        "imageId": image_id, "imageName": image_name,
        "cpuCount": rng.choice((1, 2, 4, 8)), "memory": rng.choice((2, 4, 8, 16)), "systemDiskSize": 20,
        "createTime": "2026-%02d-%02dT00:00:00Z" % (1 + index % 12, 1 + index % 28),
        "tags": _tags(index, role, rng),
        "resourceGroupId": group_id, "resourceGroupName": group_name,
    }
    record.update(_addresses(index))
    return record


def generate(count: int, *, zones: tuple[str, ...] | list[str] = DEFAULT_ZONES, duplicate_names: int = 0,
             random_seed: int = 1) -> dict[str, Any]:
    """A whole seed document with `count` generated instances and the usual credentials."""
    rng = random.Random(random_seed)
    return {
        "access_keys": {ACCESS_KEY_ID: ACCESS_KEY_PASSWORD},
        "tokens": [TOKEN],
        "zones": [{"zoneId": zone, "zoneName": zone, "supportImage": True} for zone in zones],
        "instances": [instance(index, zones, rng, duplicate_names) for index in range(count)],
        "images": [{"imageId": image_id, "imageName": name, "imageType": "PUBLIC_IMAGE"} for image_id, name in IMAGES],
        "image_quota": 5,
        "timings": {"stop_seconds": 2, "start_seconds": 2, "image_seconds": 3},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--instances", type=int, default=1000, help="how many instances (default 1000)")
    parser.add_argument("--zones", default=",".join(DEFAULT_ZONES), help="comma-separated zone ids")
    parser.add_argument("--duplicate-names", type=int, default=0, help="the first N instances are all named 'dup'")
    parser.add_argument("--random-seed", type=int, default=1)
    parser.add_argument("--out", default="-", help="output file (default: stdout)")
    args = parser.parse_args(argv)
    if args.instances < 0:
        parser.error("--instances must be 0 or more")
    seed = generate(args.instances, zones=[zone for zone in args.zones.split(",") if zone],
                    duplicate_names=args.duplicate_names, random_seed=args.random_seed)
    if args.out == "-":
        json.dump(seed, sys.stdout)
        sys.stdout.write("\n")
    else:
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(seed, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
