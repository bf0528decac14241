"""Every action's happy path and every documented error code in the situation that causes it."""
from __future__ import annotations

import pytest

from harness import EmulatorError  # pylint: disable=import-error
from emu_helpers import RUNNING_HKG, RUNNING_SIN, SEEN, STOPPED_HKG, error, ok, status_of


# -- envelope and headers ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("headers, code", [
    ({"x-zc-service": "bmc"}, "INVALID_SERVICE"),
    ({"x-zc-version": "2020-01-01"}, "INVALID_VERSION"),
    ({"x-zc-action": "ResetInstancesPassword"}, "INVALID_ACTION"),  # an action the emulator does not have
])
def test_bad_headers(emu, headers: dict, code: str) -> None:
    answer = emu.call(headers.get("x-zc-action", "DescribeZones"), {}, headers=headers)
    assert (answer.status, answer.body["code"]) == (400, code)


def test_body_must_be_a_json_object(emu) -> None:
    assert emu.call("DescribeZones", raw_body=b"[1, 2]").body["code"] == "INVALID_REQUEST_BODY"
    assert emu.call("DescribeZones", raw_body=b"not json").body["code"] == "INVALID_REQUEST_BODY"


def test_newer_version_is_accepted(emu) -> None:
    assert emu.call("DescribeZones", {}, version="2026-04-01").status == 200


# -- zones, instances -------------------------------------------------------------------------------------------------

def test_describe_zones(emu) -> None:
    zones = ok(emu, "DescribeZones")["zoneSet"]
    assert {z["zoneId"] for z in zones} == {"HKG-A", "FRA-A", "SIN-E", "LAX-A"}
    assert [z["zoneId"] for z in ok(emu, "DescribeZones", {"zoneIds": ["FRA-A"]})["zoneSet"]] == ["FRA-A"]


def test_describe_instances_filters(emu) -> None:
    assert ok(emu, "DescribeInstances")["totalCount"] == 6
    assert {i["instanceId"] for i in ok(emu, "DescribeInstances", {"zoneId": "HKG-A"})["dataSet"]} == {
        RUNNING_HKG, "ins-hkg-web-0002", STOPPED_HKG}
    assert ok(emu, "DescribeInstances", {"instanceStatus": "STOPPED"})["totalCount"] == 2
    assert ok(emu, "DescribeInstances", {"instanceName": "web-*"})["totalCount"] == 2
    assert ok(emu, "DescribeInstances", {"instanceName": "web"})["totalCount"] == 0
    info = ok(emu, "DescribeInstances", {"instanceName": "web-1"})["dataSet"][0]
    assert info["instanceId"] == RUNNING_HKG and info["systemDisk"]["diskSize"] == 40
    assert ok(emu, "DescribeInstances", {"instanceIds": [RUNNING_SIN, "nope"]})["totalCount"] == 1


def test_instance_pagination(emu) -> None:
    page1 = ok(emu, "DescribeInstances", {"pageSize": 4, "pageNum": 1})
    page2 = ok(emu, "DescribeInstances", {"pageSize": 4, "pageNum": 2})
    assert page1["totalCount"] == page2["totalCount"] == 6
    assert len(page1["dataSet"]) == 4 and len(page2["dataSet"]) == 2
    status = ok(emu, "DescribeInstancesStatus", {"pageSize": 5, "pageNum": 2})
    assert status["totalCount"] == 6 and len(status["dataSet"]) == 1
    assert error(emu, "DescribeInstances", {"pageSize": 1001}) == (400, "INVALID_PARAMETER_PAGE_SIZE")
    assert error(emu, "DescribeInstances", {"instanceIds": ["i-%d" % n for n in range(101)]}) == (
        400, "INVALID_PARAMETER_TOO_MANY_IDS")


def test_stop_then_start_state_machine(emu) -> None:
    emu.patch(timings=SEEN)
    ok(emu, "StopInstances", {"instanceIds": [RUNNING_HKG], "forceShutdown": False})
    assert status_of(emu, RUNNING_HKG) == "STOPPING"
    assert emu.instance(RUNNING_HKG)["lastForceShutdown"] is False
    emu.wait_for(lambda: status_of(emu, RUNNING_HKG) == "STOPPED", timeout=15)
    ok(emu, "StartInstances", {"instanceIds": [RUNNING_HKG]})
    assert status_of(emu, RUNNING_HKG) == "BOOTING"
    emu.wait_for(lambda: status_of(emu, RUNNING_HKG) == "RUNNING", timeout=15)
    moves = [(e["from"], e["to"]) for e in emu.events() if e["id"] == RUNNING_HKG]
    assert moves == [("RUNNING", "STOPPING"), ("STOPPING", "STOPPED"), ("STOPPED", "BOOTING"), ("BOOTING", "RUNNING")]


def test_force_shutdown_defaults_to_true(emu) -> None:
    ok(emu, "StopInstances", {"instanceIds": [RUNNING_HKG]})
    inst = emu.instance(RUNNING_HKG)
    assert inst["lastForceShutdown"] is True and inst["lastForceShutdownSent"] is False


def test_stop_and_start_errors(emu) -> None:
    assert error(emu, "StopInstances", {"instanceIds": ["ins-missing"]}) == (404, "INVALID_INSTANCE_NOT_FOUND")
    assert error(emu, "StartInstances", {"instanceIds": ["ins-missing"]}) == (404, "INVALID_INSTANCE_NOT_FOUND")
    assert error(emu, "StopInstances", {"instanceIds": [STOPPED_HKG]}) == (403, "OPERATION_DENIED_INSTANCE_NOT_RUNNING")
    assert error(emu, "StartInstances", {"instanceIds": [RUNNING_HKG]}) == (403, "OPERATION_DENIED_INSTANCE_NOT_STOPPED")
    assert error(emu, "StopInstances", {}) == (400, "MISSING_PARAMETER")
    assert error(emu, "StopInstances", {"instanceIds": ["x"] * 101}) == (400, "INVALID_PARAMETER_TOO_MANY_IDS")
    assert error(emu, "StopInstances", {"instanceIds": [RUNNING_HKG], "forceShutdown": "yes"}) == (
        400, "INVALID_PARAMETER_TYPE")
    # all or nothing: one bad id, nothing stops
    assert error(emu, "StopInstances", {"instanceIds": [RUNNING_HKG, STOPPED_HKG]})[0] == 403
    assert status_of(emu, RUNNING_HKG) == "RUNNING"


def test_recycled_instance(emu) -> None:
    emu.patch(instances={RUNNING_HKG: {"instanceStatus": "RECYCLE"}})
    assert error(emu, "StopInstances", {"instanceIds": [RUNNING_HKG]}) == (403, "OPERATION_DENIED_INSTANCE_RECYCLED")
    assert error(emu, "StartInstances", {"instanceIds": [RUNNING_HKG]}) == (403, "OPERATION_DENIED_INSTANCE_RECYCLED")


def test_patch_mid_wait_cancels_pending_transition(emu) -> None:
    ok(emu, "StopInstances", {"instanceIds": [RUNNING_HKG]})
    emu.patch(instances={RUNNING_HKG: {"instanceStatus": "RECYCLING"}})
    assert emu.instance(RUNNING_HKG)["pending"] is None
    assert status_of(emu, RUNNING_HKG) == "RECYCLING"


def test_patch_refuses_a_malformed_pending_and_keeps_serving(emu) -> None:
    with pytest.raises(EmulatorError, match="pending must be"):
        emu.patch(instances={RUNNING_HKG: {"pending": {"to": "STOPPED", "at": "1700000000"}}})
    assert status_of(emu, RUNNING_HKG) == "RUNNING"
