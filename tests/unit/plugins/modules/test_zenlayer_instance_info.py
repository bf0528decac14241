# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""zenlayer_instance_info run in-process against the emulator."""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest

from ansible_collections.zenlayer.cloud.plugins.modules import zenlayer_instance_info
from ansible_collections.zenlayer.cloud.tests.unit.plugins.modules.utils import run_module

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "emulator"))
from harness import load_seed  # noqa: E402  pylint: disable=wrong-import-position,import-error


def many_instances(count: int) -> dict:
    seed = load_seed("default")
    seed["instances"] += [{"instanceId": "ins-many-%04d" % number, "zoneId": "FRA-A", "instanceName": "many-%d" % number,
                           "instanceStatus": "STOPPED"} for number in range(count)]
    return seed


def run(capsys: Any, **args: Any) -> dict:
    return run_module(zenlayer_instance_info.main, capsys, args)


def ids(result: dict) -> list[str]:
    return sorted(item["instance_id"] for item in result["instances"])


def test_by_ids_with_shape(emulator_env, capsys):
    result = run(capsys, instance_ids=["ins-hkg-web-0001", "ins-does-not-exist"])
    assert result["changed"] is False
    [web] = result["instances"]
    assert web["instance_id"] == "ins-hkg-web-0001" and web["instance_status"] == "RUNNING"
    assert web["zone_id"] == "HKG-A" and web["instance_name"] == "web-1"
    assert web["public_ip_addresses"] == ["203.0.113.11"] and web["system_disk"]["disk_size"] == 40


def test_filters(emulator_env, capsys):
    assert ids(run(capsys, zone_id="HKG-A", status="RUNNING")) == ["ins-hkg-web-0001", "ins-hkg-web-0002"]
    assert ids(run(capsys, name="web-1")) == ["ins-hkg-web-0001"]
    assert ids(run(capsys, name="web-*")) == ["ins-hkg-web-0001", "ins-hkg-web-0002"]
    assert run(capsys, zone_id="LAX-A")["instances"] == []


def test_name_is_exact_even_if_the_api_were_fuzzy(emulator_env, capsys):
    emulator_env.patch(instances={"ins-hkg-web-0003": {"zoneId": "HKG-A", "instanceName": "web-10"}})
    assert ids(run(capsys, name="web-1")) == ["ins-hkg-web-0001"]


@pytest.mark.emulator(seed=many_instances(250))
def test_every_page_is_read(emulator_env, capsys):
    result = run(capsys, zone_id="FRA-A", status="STOPPED")
    assert len(result["instances"]) == 251  # 250 + ins-fra-broken-0001
    pages = [entry["body"]["pageNum"] for entry in emulator_env.requests("DescribeInstances")]
    assert pages == [1, 2, 3]


@pytest.mark.emulator(seed=many_instances(150))
def test_more_than_100_ids_are_chunked(emulator_env, capsys):
    wanted = ["ins-many-%04d" % number for number in range(150)]
    result = run(capsys, instance_ids=wanted)
    assert ids(result) == wanted
    assert [len(entry["body"]["instanceIds"]) for entry in emulator_env.requests("DescribeInstances")] == [100, 50]


def test_api_error_fails_with_its_code(emulator_env, capsys):
    emulator_env.add_faults({"action": "DescribeInstances", "kind": "error", "status": 400, "code": "INVALID_TEST",
                             "times": 1})
    result = run(capsys, zone_id="HKG-A")
    assert result["failed"] is True and result["msg"].startswith("Listing instances failed")
    assert result["error"]["code"] == "INVALID_TEST"
