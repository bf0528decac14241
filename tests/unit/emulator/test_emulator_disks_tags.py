"""DescribeDisks (vm) and the zrm resource tag actions: ModifyResourceTags, DescribeResourceTags, DescribeResourceByTags."""
from __future__ import annotations

import pytest

from emu_helpers import RUNNING_HKG, STOPPED_HKG, error, ok
from harness import POWER_RECORD_TAG, load_seed

KEY = "AKIDEMULATOR00000001"


def zrm_ok(emu, action: str, body: dict) -> dict:
    answer = emu.call(action, body, service="zrm")
    assert answer.status == 200, answer
    return answer.body["response"]


def zrm_error(emu, action: str, body: dict) -> tuple[int, str]:
    answer = emu.call(action, body, service="zrm")
    assert set(answer.body) == {"requestId", "code", "message"}, answer
    return answer.status, answer.body["code"]


# -- DescribeDisks ----------------------------------------------------------------------------------------------------

def test_describe_disks_lists_each_system_disk(emu) -> None:
    answer = ok(emu, "DescribeDisks", {"instanceId": STOPPED_HKG})
    assert answer["totalCount"] == 1
    disk = answer["dataSet"][0]
    assert {k: disk[k] for k in ("diskId", "diskType", "diskStatus", "diskSize", "instanceId", "instanceName", "zoneId")} == {
        "diskId": "disk-" + STOPPED_HKG, "diskType": "SYSTEM", "diskStatus": "IN_USE", "diskSize": 80,
        "instanceId": STOPPED_HKG, "instanceName": "db-1", "zoneId": "HKG-A"}
    assert {"diskName", "diskCategory", "createTime"} <= set(disk)
    assert ok(emu, "DescribeDisks")["totalCount"] == 6


def test_describe_disks_filters_and_pages(emu) -> None:
    emu.patch(instances={STOPPED_HKG: {"systemDiskStatus": "CHANGING"}})
    assert [d["instanceId"] for d in ok(emu, "DescribeDisks", {"diskStatus": "CHANGING"})["dataSet"]] == [STOPPED_HKG]
    assert ok(emu, "DescribeDisks", {"diskType": "DATA"})["totalCount"] == 0
    assert ok(emu, "DescribeDisks", {"diskType": "SYSTEM", "zoneId": "HKG-A"})["totalCount"] == 3
    assert ok(emu, "DescribeDisks", {"diskIds": ["disk-" + RUNNING_HKG]})["dataSet"][0]["instanceId"] == RUNNING_HKG
    page = ok(emu, "DescribeDisks", {"pageSize": 4, "pageNum": 2})
    assert page["totalCount"] == 6 and len(page["dataSet"]) == 2
    assert ok(emu, "DescribeDisks", {"tagKeys": ["owner"]})["totalCount"] == 0
    assert error(emu, "DescribeDisks", {"diskType": "ROOT"}) == (400, "INVALID_PARAMETER_DISK_TYPE")
    # the disk status the API reports is the one that refuses CreateImage
    assert error(emu, "CreateImage", {"instanceId": STOPPED_HKG, "imageName": "x"}) == (
        400, "UNSUPPORTED_OPERATION_DISK_UNAVAILABLE")


# -- zrm --------------------------------------------------------------------------------------------------------------

def test_tags_round_trip_and_show_in_describe_instances(emu) -> None:
    zrm_ok(emu, "ModifyResourceTags", {"resourceUuid": RUNNING_HKG,
                                       "replaceTags": [{"key": "zc.restore", "value": "RUNNING"}, {"key": "owner", "value": "ops"}]})
    tags = zrm_ok(emu, "DescribeResourceTags", {"resourceUuid": RUNNING_HKG})
    assert tags["totalCount"] == 2
    assert {(t["key"], t["value"]) for t in tags["dataSet"]} == {("zc.restore", "RUNNING"), ("owner", "ops")}
    assert all(t["createdDate"].endswith("Z") for t in tags["dataSet"])
    info = ok(emu, "DescribeInstances", {"instanceIds": [RUNNING_HKG]})["dataSet"][0]
    assert {(t["key"], t["value"]) for t in info["tags"]["tags"]} == {("zc.restore", "RUNNING"), ("owner", "ops")}
    zrm_ok(emu, "ModifyResourceTags", {"resourceUuid": RUNNING_HKG, "deleteTagKeys": ["zc.restore"],
                                       "replaceTags": [{"key": "owner", "value": "dev"}]})
    assert emu.tags(RUNNING_HKG) == {"owner": "dev"}
    entry = emu.requests("ModifyResourceTags")[-1]
    assert (entry["service"], entry["performed"], entry["auth"]) == ("zrm", True, "hmac")


def test_describe_resource_by_tags(emu) -> None:
    zrm_ok(emu, "ModifyResourceTags", {"resourceUuid": RUNNING_HKG, "replaceTags": [{"key": "role", "value": "web"}]})
    zrm_ok(emu, "ModifyResourceTags", {"resourceUuid": STOPPED_HKG, "replaceTags": [{"key": "role", "value": "db"}]})
    by_key = zrm_ok(emu, "DescribeResourceByTags", {"tagKeys": ["role"]})
    assert by_key["totalCount"] == 2 and {r["resourceUuid"] for r in by_key["dataSet"]} == {RUNNING_HKG, STOPPED_HKG}
    by_tag = zrm_ok(emu, "DescribeResourceByTags", {"tags": [{"key": "role", "value": "db"}]})["dataSet"]
    assert by_tag == [{"resourceType": "instance", "resourceUuid": STOPPED_HKG}]
    assert zrm_error(emu, "DescribeResourceByTags", {}) == (400, "MISSING_PARAMETER")


@pytest.mark.parametrize("body, code", [
    ({"resourceUuid": "ins-missing", "replaceTags": [{"key": "a", "value": "b"}]}, (404, "INVALID_RESOURCE_NOT_FOUND")),
    ({"resourceUuid": RUNNING_HKG}, (400, "MISSING_PARAMETER")),
    ({"replaceTags": [{"key": "a", "value": "b"}]}, (400, "MISSING_PARAMETER")),
    ({"resourceUuid": RUNNING_HKG, "replaceTags": [{"key": "bad key", "value": "b"}]}, (400, "INVALID_PARAMETER_TAG_KEY")),
    ({"resourceUuid": RUNNING_HKG, "replaceTags": [{"key": "k" * 65, "value": "b"}]}, (400, "INVALID_PARAMETER_TAG_KEY")),
    ({"resourceUuid": RUNNING_HKG, "replaceTags": [{"key": "a", "value": "x\n"}]}, (400, "INVALID_PARAMETER_TAG_VALUE")),
    ({"resourceUuid": RUNNING_HKG, "replaceTags": [{"key": "a", "value": ""}]}, (400, "INVALID_PARAMETER_TAG_VALUE")),
    ({"resourceUuid": RUNNING_HKG, "replaceTags": [{"key": "a"}, {"key": "a"}]}, (400, "INVALID_PARAMETER_TAG_KEY")),
    ({"resourceUuid": RUNNING_HKG, "replaceTags": [{"key": "a"}], "deleteTagKeys": ["a"]}, (400, "INVALID_PARAMETER_TAG_KEY")),
    ({"resourceUuid": RUNNING_HKG, "replaceTags": [{"key": "k%d" % n} for n in range(21)]},
     (400, "INVALID_PARAMETER_TOO_MANY_TAGS")),
    ({"resourceUuid": RUNNING_HKG, "replaceTags": "a=b"}, (400, "INVALID_PARAMETER_TYPE")),
])
def test_modify_resource_tags_refusals(emu, body: dict, code: tuple[int, str]) -> None:
    assert zrm_error(emu, "ModifyResourceTags", body) == code
    assert emu.requests("ModifyResourceTags")[-1]["performed"] is False


def test_a_resource_holds_at_most_20_tags(emu) -> None:
    zrm_ok(emu, "ModifyResourceTags", {"resourceUuid": RUNNING_HKG, "replaceTags": [{"key": "k%d" % n} for n in range(20)]})
    assert zrm_error(emu, "ModifyResourceTags", {"resourceUuid": RUNNING_HKG, "replaceTags": [{"key": "one-more"}]}) == (
        400, "LIMIT_EXCEEDED_TAG")
    zrm_ok(emu, "ModifyResourceTags", {"resourceUuid": RUNNING_HKG, "replaceTags": [{"key": "one-more"}], "deleteTagKeys": ["k0"]})
    assert emu.tags(RUNNING_HKG)["one-more"] == ""


def test_services_and_actions_do_not_mix(emu) -> None:
    assert emu.call("DescribeResourceTags", {"resourceUuid": RUNNING_HKG}).body["code"] == "INVALID_ACTION"  # vm path
    assert emu.call("DescribeZones", {}, service="zrm").body["code"] == "INVALID_ACTION"
    assert emu.call("DescribeZones", {}, headers={"x-zc-service": "zrm"}).body["code"] == "INVALID_SERVICE"
    assert emu.call("DescribeResourceTags", {}, service="zrm", version="2023-03-13").body["code"] == "INVALID_VERSION"
    assert emu.call("DescribeResourceTags", {"resourceUuid": RUNNING_HKG}, service="zrm", auth="bearer").status == 200
    assert emu.call("DescribeResourceTags", {"resourceUuid": RUNNING_HKG}, service="zrm",
                    password="wrong-secret").body["code"] == "AUTH_SIGNATURE_MISMATCH"
    assert emu.requests()[-1]["service"] == "zrm"
    assert {e["service"] for e in emu.requests(service="vm")} == {"vm"}
    assert [e["action"] for e in emu.requests(service="zrm")] == ["DescribeZones"] + ["DescribeResourceTags"] * 3


def test_tag_permission_denied_for_a_key(emu) -> None:
    emu.patch(tag_denied_keys=[KEY])
    body = {"resourceUuid": RUNNING_HKG, "replaceTags": [{"key": "a", "value": "b"}]}
    assert zrm_error(emu, "ModifyResourceTags", body) == (403, "OPERATION_DENIED_TAG_PERMISSION")
    assert zrm_ok(emu, "DescribeResourceTags", {"resourceUuid": RUNNING_HKG})["totalCount"] == 0
    assert emu.call("ModifyResourceTags", body, service="zrm", auth="bearer").status == 200  # only that key is denied
    emu.patch(tag_denied_keys=[], zrm_denied_keys=[KEY])
    assert zrm_error(emu, "DescribeResourceTags", {"resourceUuid": RUNNING_HKG}) == (403, "OPERATION_DENIED_TAG_PERMISSION")
    assert emu.state()["zrm_denied_keys"] == [KEY]


def test_tag_denial_from_the_seed(make_emu) -> None:
    emu = make_emu(dict(load_seed("default"), tag_denied_keys=[KEY]))
    assert zrm_error(emu, "ModifyResourceTags", {"resourceUuid": RUNNING_HKG, "deleteTagKeys": ["a"]}) == (
        403, "OPERATION_DENIED_TAG_PERMISSION")


def test_tag_changes_are_lagged(make_emu) -> None:
    emu = make_emu(extra_args=["--async-lag", "10"])
    zrm_ok(emu, "ModifyResourceTags", {"resourceUuid": RUNNING_HKG, "replaceTags": [{"key": "lock", "value": "job-1"}]})
    assert zrm_ok(emu, "DescribeResourceTags", {"resourceUuid": RUNNING_HKG})["totalCount"] == 0
    emu.wait_for(lambda: emu.tags(RUNNING_HKG) == {"lock": "job-1"}, timeout=5)


def test_seeded_tags_have_a_created_date(make_emu) -> None:
    seed = load_seed("default")
    seed["instances"][0]["tags"] = [{"key": "env", "value": "prod"}]
    emu = make_emu(seed)
    tag = zrm_ok(emu, "DescribeResourceTags", {"resourceUuid": seed["instances"][0]["instanceId"]})["dataSet"][0]
    assert tag["key"] == "env" and tag["createdDate"]


def test_record_writes_tells_written_renewed_and_removed_records_apart(emu) -> None:
    """The harness's reading of the request log that the fleet, recovery and demo checks share."""
    def record(instance_id: str, value: str) -> None:
        zrm_ok(emu, "ModifyResourceTags", {"resourceUuid": instance_id,
                                           "replaceTags": [{"key": POWER_RECORD_TAG, "value": value}]})

    record(RUNNING_HKG, "running.100.400.job-a")
    record(STOPPED_HKG, "stopped.100.400.job-a")
    record(RUNNING_HKG, "running.100.500.job-a")   # the same owner, later: renewed
    record(RUNNING_HKG, "running.100.500.job-a")   # not later: written
    record(STOPPED_HKG, "stopped.100.600.job-b")   # another owner: written
    zrm_ok(emu, "ModifyResourceTags", {"resourceUuid": RUNNING_HKG, "replaceTags": [{"key": "role", "value": "web"}]})
    zrm_ok(emu, "ModifyResourceTags", {"resourceUuid": RUNNING_HKG, "deleteTagKeys": [POWER_RECORD_TAG]})
    record(RUNNING_HKG, "running.100.900.job-a")   # after the removal: written
    emu.call("ModifyResourceTags", {"resourceUuid": "ins-nope", "deleteTagKeys": [POWER_RECORD_TAG]}, service="zrm")
    writes = emu.record_writes()
    assert [(entry["body"]["resourceUuid"], kind) for entry, kind, _record in writes] == [
        (RUNNING_HKG, "written"), (STOPPED_HKG, "written"), (RUNNING_HKG, "renewed"), (RUNNING_HKG, "written"),
        (STOPPED_HKG, "written"), (RUNNING_HKG, "removed"), (RUNNING_HKG, "written")]
    assert writes[4][2] == {"power": "stopped", "since": 100, "expires": 600, "owner": "job-b"}
    assert writes[5][2] is None
