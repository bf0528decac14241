# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugins/module_utils/_instance.py: shaping, chunking, power-state rules, and batched lookups at the HTTP boundary."""

from __future__ import annotations

import os
import sys

import pytest

from ansible_collections.zenlayer.cloud.plugins.module_utils._api import ZenlayerClient
from ansible_collections.zenlayer.cloud.plugins.module_utils._instance import (
    SETTLES_TO,
    chunks,
    describe_instances,
    get_instance,
    instance_statuses,
    shape_instance,
    why_unactionable,
)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "emulator"))
from harness import load_seed  # noqa: E402  pylint: disable=wrong-import-position,import-error


def client_for(emu) -> ZenlayerClient:
    return ZenlayerClient(domain=emu.domain, scheme="http", access_key_id=emu.credentials.access_key_id,
                          access_key_password=emu.credentials.access_key_password, retries=0)


def seed_with_many(count: int) -> dict:
    seed = load_seed("default")
    seed["instances"] += [{"instanceId": "ins-many-%04d" % number, "zoneId": "HKG-A", "instanceStatus": "RUNNING"}
                          for number in range(count)]
    return seed


def test_shape_instance_snake_case_and_disk():
    raw = {"instanceId": "i-1", "instanceName": "web", "instanceStatus": "RUNNING", "zoneId": "HKG-A",
           "cpuCount": 2, "systemDisk": {"diskId": "d-1", "diskSize": 40, "diskCategory": "SSD"}, "unknownField": 1}
    assert shape_instance(raw) == {"instance_id": "i-1", "instance_name": "web", "instance_status": "RUNNING",
                                   "zone_id": "HKG-A", "cpu_count": 2, "power_to_restore": "running",
                                   "system_disk": {"disk_id": "d-1", "disk_size": 40, "disk_category": "SSD"}}


@pytest.mark.parametrize("status, power", [("RUNNING", "running"), ("BOOTING", "running"), ("STOPPED", "stopped"),
                                           ("STOPPING", "stopped"), ("IMAGING", "stopped")])
def test_shape_instance_says_the_power_an_imaging_job_puts_back(status, power):
    assert shape_instance({"instanceId": "i-1", "instanceStatus": status})["power_to_restore"] == power


def test_chunks_of_100():
    assert [len(chunk) for chunk in chunks([str(n) for n in range(250)])] == [100, 100, 50]
    assert not list(chunks([]))


@pytest.mark.parametrize("status", ["RUNNING", "STOPPED", "STOPPING", "BOOTING", "PENDING", "IMAGING", "REBOOT"])
def test_actionable_statuses(status):
    assert why_unactionable(status) is None


@pytest.mark.parametrize("status, why", [("RECYCLE", "recycle bin"), ("RECYCLING", "recycle bin"),
                                         ("CREATE_FAILED", "creation failed"), ("RELEASING", "released"),
                                         ("SOMETHING_NEW", "SOMETHING_NEW"), (None, "None")])
def test_dead_end_statuses_say_why(status, why):
    assert why in why_unactionable(status)


def test_imaging_settles_to_stopped():
    assert SETTLES_TO["IMAGING"] == "STOPPED" and SETTLES_TO["BOOTING"] == "RUNNING"


@pytest.mark.emulator(seed=seed_with_many(130))
def test_statuses_are_batched_per_100(emulator):
    ids = ["ins-many-%04d" % number for number in range(130)]
    statuses = instance_statuses(client_for(emulator), ids)
    assert len(statuses) == 130 and set(statuses.values()) == {"RUNNING"}
    calls = emulator.requests("DescribeInstancesStatus")
    assert [len(call["body"]["instanceIds"]) for call in calls] == [100, 30]


def test_describe_and_get(emulator):
    client = client_for(emulator)
    assert get_instance(client, "ins-hkg-db-0001")["instanceStatus"] == "STOPPED"
    assert get_instance(client, "ins-nope") is None
    assert {item["instanceId"] for item in describe_instances(client, zoneId="SIN-E")} == {"ins-sin-app-0001"}
