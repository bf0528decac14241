"""DescribeInstances filters of the emulator: tags, tag keys, resource group, image, addresses (what the inventory sends)."""
from __future__ import annotations

import pytest
from emu_helpers import error, ok  # pylint: disable=import-error
from harness import Emulator  # pylint: disable=import-error
from seedgen import generate  # pylint: disable=import-error

SEED = generate(40)


@pytest.fixture
def big():
    """Function scope: ansible-test units runs each test in a fork of its own, where a module-scoped fixture is set up
    again for every test and torn down only after the module's last one (the others' emulators were left running)."""
    with Emulator(SEED, time_scale=0.05) as emulator:
        yield emulator


def ids(emu, body: dict) -> set[str]:
    return {item["instanceId"] for item in ok(emu, "DescribeInstances", dict(body, pageSize=1000))["dataSet"]}


def expected(predicate) -> set[str]:
    return {instance["instanceId"] for instance in SEED["instances"] if predicate(instance)}


def tags_of(instance: dict) -> dict:
    return {tag["key"]: tag["value"] for tag in instance["tags"]}


def test_every_tag_pair_and_key_must_be_carried(big):
    web = ids(big, {"tags": [{"key": "role", "value": "web"}]})
    assert web == expected(lambda i: tags_of(i)["role"] == "web") and len(web) == 10
    both = ids(big, {"tags": [{"key": "role", "value": "web"}, {"key": "env", "value": "prod"}]})
    assert both == expected(lambda i: tags_of(i)["role"] == "web" and tags_of(i)["env"] == "prod")
    assert ids(big, {"tagKeys": ["team"]}) == expected(lambda i: "team" in tags_of(i))
    assert ids(big, {"tags": [{"key": "role"}]}) == expected(lambda i: True)  # a pair without value: any value
    assert ids(big, {"tags": [{"key": "role", "value": "nope"}]}) == set()


def test_resource_group_image_and_addresses(big):
    assert ids(big, {"resourceGroupId": "rg-b"}) == expected(lambda i: i["resourceGroupId"] == "rg-b")
    assert ids(big, {"imageId": "img-centos-79"}) == expected(lambda i: i["imageId"] == "img-centos-79")
    first = SEED["instances"][0]
    assert ids(big, {"privateIpAddresses": first["privateIpAddresses"] + ["192.0.2.1"]}) == {first["instanceId"]}
    assert ids(big, {"publicIpAddresses": first["publicIpAddresses"]}) == {first["instanceId"]}
    assert len(ids(big, {})) == 40  # no resourceGroupId: every group


def test_filters_combine_with_paging(big):
    body = {"tags": [{"key": "env", "value": "prod"}], "zoneId": "HKG-A", "pageSize": 3}
    first = ok(big, "DescribeInstances", dict(body, pageNum=1))
    wanted = expected(lambda i: tags_of(i)["env"] == "prod" and i["zoneId"] == "HKG-A")
    assert first["totalCount"] == len(wanted) and len(first["dataSet"]) == min(3, len(wanted))


def test_bad_tag_filters_are_refused(big):
    assert error(big, "DescribeInstances", {"tags": "role=web"}) == (400, "INVALID_PARAMETER_TYPE")
    assert error(big, "DescribeInstances", {"tags": [{"value": "web"}]}) == (400, "INVALID_PARAMETER_TYPE")
    too_many = [{"key": "k%d" % n, "value": "v"} for n in range(21)]
    assert error(big, "DescribeInstances", {"tags": too_many}) == (400, "INVALID_PARAMETER_TOO_MANY_TAGS")
    assert error(big, "DescribeInstances", {"tagKeys": ["k%d" % n for n in range(21)]}) == (
        400, "INVALID_PARAMETER_TOO_MANY_TAGS")
    assert error(big, "DescribeInstances", {"resourceGroupId": 7}) == (400, "INVALID_PARAMETER_TYPE")


def test_seedgen_is_deterministic_and_makes_duplicates_on_request():
    assert generate(30) == generate(30)
    names = [instance["instanceName"] for instance in generate(10, duplicate_names=3)["instances"]]
    assert names[:3] == ["dup"] * 3 and len(set(names[3:])) == 7
    assert generate(0)["instances"] == []
