# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The zenlayer_vm inventory plugin, parsed in-process against the real emulator on 127.0.0.1.

Each test writes a `*.zenlayer_vm.yml` source, parses it the way ansible-inventory does (option definitions from the
plugin's DOCUMENTATION and its fragments, an InventoryData, a DataLoader) and checks the hosts, groups and variables
a user would see, and the requests that reached the emulator.
"""

from __future__ import annotations

import json
import os
import sys

import pytest
import yaml

from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import fragment_loader
from ansible.utils.plugin_docs import add_fragments

from ansible_collections.zenlayer.cloud.plugins.inventory import zenlayer_vm
from ansible_collections.zenlayer.cloud.plugins.module_utils._instance import shape_instance
from ansible_collections.zenlayer.cloud.plugins.module_utils._inventory import CACHE_FORMAT, instance_hostvars, matches_filters

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "emulator"))
from seedgen import generate  # noqa: E402  pylint: disable=wrong-import-position,import-error

pytestmark = pytest.mark.boundary  # the inventory plugin inside ansible-core's inventory machinery

NAME = zenlayer_vm.InventoryModule.NAME
DEFAULT_SEED_NAMES = {"web-1", "web-2", "db-1", "app-fra-1", "broken-fra-1", "app-sin-1"}


def _define_options() -> None:
    doc = yaml.safe_load(zenlayer_vm.DOCUMENTATION)
    add_fragments(doc, zenlayer_vm.__file__, fragment_loader=fragment_loader)
    C.config.initialize_plugin_configuration_definitions("inventory", NAME, doc["options"])


_define_options()


class Parsed:
    """What a parse produced: the inventory, and helpers over it."""

    def __init__(self, inventory: InventoryData) -> None:
        self.inventory = inventory

    @property
    def hosts(self) -> set[str]:
        return set(self.inventory.hosts)

    def vars(self, host: str) -> dict:
        return self.inventory.get_host(host).get_vars()

    def members(self, group: str) -> set[str]:
        return {host.name for host in self.inventory.groups[group].get_hosts()}


@pytest.fixture
def parse(tmp_path, emulator_env):  # pylint: disable=unused-argument
    """parse(config dict, cache=True) -> Parsed; the source file is tmp_path/test.zenlayer_vm.yml."""

    def run(config: dict, *, cache: bool = True, file_name: str = "test.zenlayer_vm.yml") -> Parsed:
        path = tmp_path / file_name
        path.write_text(yaml.safe_dump(dict({"plugin": NAME}, **config)), encoding="utf-8")
        plugin = zenlayer_vm.InventoryModule()
        plugin._load_name = NAME  # pylint: disable=protected-access  # as the plugin loader sets it
        plugin.ansible_name = NAME
        plugin._redirected_names = [NAME]  # pylint: disable=protected-access
        inventory = InventoryData()
        plugin.parse(inventory, DataLoader(), str(path), cache=cache)
        if plugin.get_option("cache"):
            plugin.update_cache_if_changed()
        return Parsed(inventory)

    return run


def describe_calls(emu) -> list[dict]:
    return [entry["body"] for entry in emu.requests("DescribeInstances")]


# -- hosts and variables -------------------------------------------------------------------------------------------

def test_every_instance_is_a_host_with_prefixed_snake_case_hostvars(parse, emulator_env):
    emulator_env.patch(instances={"ins-hkg-web-0001": {"tags": [{"key": "role", "value": "web"}],
                                                       "publicIpv6Addresses": ["2001:db8::11"]}})
    parsed = parse({})
    assert parsed.hosts == DEFAULT_SEED_NAMES
    assert parsed.members("zenlayer_instances") == DEFAULT_SEED_NAMES
    web = parsed.vars("web-1")
    assert web["zenlayer_instance_id"] == "ins-hkg-web-0001"
    assert web["zenlayer_zone_id"] == "HKG-A" and web["zenlayer_instance_status"] == "RUNNING"
    assert web["zenlayer_tags"] == {"role": "web"}
    assert web["zenlayer_public_ipv4"] == "203.0.113.11" and web["zenlayer_private_ipv4"] == "10.0.0.11"
    assert web["zenlayer_public_ipv6"] == "2001:db8::11"
    assert web["zenlayer_resource_group_id"] == "rg-default" and web["zenlayer_system_disk"]["disk_size"] == 40
    assert web["ansible_host"] == "203.0.113.11"
    assert not [key for key in web if key in ("name", "tags", "instanceId")]
    assert "ansible_host" not in parsed.vars("db-1")  # no public address: nothing to connect to by default
    assert describe_calls(emulator_env) == [{"pageNum": 1, "pageSize": 1000}]


def test_hostvars_prefix_and_group_options(parse):
    parsed = parse({"hostvars_prefix": "zl_", "group": ""})
    assert parsed.vars("web-2")["zl_instance_id"] == "ins-hkg-web-0002"
    assert not [key for key in parsed.vars("web-2") if key.startswith("zenlayer_")]
    assert "zenlayer_instances" not in parsed.inventory.groups


def test_an_empty_account_is_an_empty_inventory(parse, emulator_env):
    emulator_env.patch(delete_instances=[i["instanceId"] for i in emulator_env.state()["instances"]])
    parsed = parse({})
    assert parsed.hosts == set()
    assert parsed.members("zenlayer_instances") == set()


@pytest.mark.emulator(seed=generate(2500))
def test_pages_of_1000_until_every_instance_is_read(parse, emulator_env):
    parsed = parse({})
    assert len(parsed.hosts) == 2500
    assert [(body["pageNum"], body["pageSize"]) for body in describe_calls(emulator_env)] == [(1, 1000), (2, 1000), (3, 1000)]


# -- filters -------------------------------------------------------------------------------------------------------

def test_zones_and_statuses_are_one_api_query_each(parse, emulator_env):
    parsed = parse({"zones": ["HKG-A", "FRA-A"], "statuses": ["RUNNING", "STOPPED"]})
    assert parsed.hosts == {"web-1", "web-2", "db-1", "app-fra-1", "broken-fra-1"}
    sent = sorted((body["zoneId"], body["instanceStatus"]) for body in describe_calls(emulator_env))
    assert sent == [("FRA-A", "RUNNING"), ("FRA-A", "STOPPED"), ("HKG-A", "RUNNING"), ("HKG-A", "STOPPED")]


@pytest.mark.emulator(seed=generate(40))
def test_name_tags_tag_keys_group_and_image_are_sent_to_the_api(parse, emulator_env):
    config = {"name": "web-*", "tags": {"role": "web", "env": None}, "tag_keys": ["team"],
              "resource_group_id": "rg-a", "image_id": "img-ubuntu-2204"}
    parsed = parse(config)
    body = describe_calls(emulator_env)[0]
    assert body["instanceName"] == "web-*" and body["tags"] == [{"key": "role", "value": "web"}]
    assert sorted(body["tagKeys"]) == ["env", "team"]
    assert body["resourceGroupId"] == "rg-a" and body["imageId"] == "img-ubuntu-2204"
    expected = {i["instanceName"] for i in generate(40)["instances"]
                if i["instanceName"].startswith("web-") and i["resourceGroupId"] == "rg-a"
                and i["imageId"] == "img-ubuntu-2204" and any(t["key"] == "team" for t in i["tags"])}
    assert expected and parsed.hosts == expected


def test_instance_ids_are_sent_100_per_query(parse, emulator_env):
    ids = ["ins-hkg-web-0001", "ins-sin-app-0001"] + ["ins-none-%03d" % n for n in range(150)]
    parsed = parse({"instance_ids": ids})
    assert parsed.hosts == {"web-1", "app-sin-1"}
    assert [len(body["instanceIds"]) for body in describe_calls(emulator_env)] == [100, 52]


def test_answers_are_checked_again_against_the_filters():
    """An API that matched loosely (a fuzzy name, a tag of another value) cannot add hosts."""
    raw = {"instanceId": "i-1", "instanceName": "web-10", "zoneId": "HKG-A", "instanceStatus": "RUNNING",
           "tags": {"tags": [{"key": "role", "value": "db"}]}}
    assert matches_filters(raw, {"name": "web-*", "zones": ["HKG-A"]})
    assert not matches_filters(raw, {"name": "web-1"})
    assert not matches_filters(raw, {"tags": {"role": "web"}})
    assert not matches_filters(raw, {"tag_keys": ["team"]})
    assert not matches_filters(raw, {"statuses": ["STOPPED"]})


def test_conditions_filter_on_the_controller(parse, emulator_env):
    parsed = parse({"conditions": ["zenlayer_cpu_count >= 4", "zenlayer_zone_id == 'HKG-A'"]})
    assert parsed.hosts == {"db-1"}
    assert len(describe_calls(emulator_env)) == 1


# -- host names and ansible_host -----------------------------------------------------------------------------------

def test_hostnames_preferences_in_order_with_expressions(parse, emulator_env):
    emulator_env.patch(instances={"ins-hkg-web-0001": {"tags": [{"key": "fqdn", "value": "web1.example.com"}]}})
    parsed = parse({"hostnames": ["zenlayer_tags.fqdn", "public_ipv4", "instance_id"]})
    assert parsed.hosts == {"web1.example.com", "203.0.113.12", "ins-hkg-db-0001", "ins-fra-app-0001",
                            "ins-fra-broken-0001", "ins-sin-app-0001"}
    assert parsed.vars("web1.example.com")["zenlayer_instance_name"] == "web-1"


@pytest.mark.emulator(seed=generate(6, duplicate_names=3))
def test_duplicate_names_get_a_stable_suffix(parse, emulator_env):
    parsed = parse({})
    duplicates = sorted(host for host in parsed.hosts if host.startswith("dup"))
    # seedgen's createTime: instance 0 is the oldest, so it keeps the plain name
    assert duplicates == ["dup", "dup_ins-gen-000001", "dup_ins-gen-000002"]
    assert parsed.vars("dup")["zenlayer_instance_id"] == "ins-gen-000000"
    emulator_env.patch(instances={"ins-new-1": {"zoneId": "HKG-A", "instanceName": "dup", "createTime": "2027-01-01T00:00:00Z"}})
    again = parse({})
    assert {"dup", "dup_ins-gen-000001", "dup_ins-gen-000002", "dup_ins-new-1"} <= again.hosts
    assert again.vars("dup")["zenlayer_instance_id"] == "ins-gen-000000"


@pytest.mark.emulator(seed=generate(6, duplicate_names=2))
def test_duplicate_names_refused_by_option(parse):
    with pytest.raises(AnsibleError, match=r"same host name \(dup: ins-gen-000000, ins-gen-000001\)"):
        parse({"duplicate_hostnames": "error"})


@pytest.mark.parametrize("choice, expected", [
    ("private_ipv4", "10.0.0.11"), ("public_ipv6", "2001:db8::11"), ("name", "web-1"), ("none", None)])
def test_connect_with_chooses_ansible_host(parse, emulator_env, choice, expected):
    emulator_env.patch(instances={"ins-hkg-web-0001": {"publicIpv6Addresses": ["2001:db8::11"]}})
    assert parse({"connect_with": choice}).vars("web-1").get("ansible_host") == expected


def test_constructed_groups_keyed_groups_and_compose(parse, emulator_env):
    emulator_env.patch(instances={"ins-hkg-web-0001": {"tags": [{"key": "role", "value": "web"}]},
                                  "ins-hkg-web-0002": {"tags": [{"key": "role", "value": "web"}]}})
    parsed = parse({
        "keyed_groups": [{"key": "zenlayer_zone_id", "prefix": "zone"},
                         {"key": "zenlayer_instance_status | lower", "prefix": "status"},
                         {"key": "zenlayer_tags", "prefix": "tag"}],
        "groups": {"big": "zenlayer_cpu_count >= 4"},
        "compose": {"ansible_user": "'admin'", "ansible_host": "zenlayer_private_ipv4"},
    })
    assert parsed.members("zone_FRA_A") == {"app-fra-1", "broken-fra-1"}
    assert parsed.members("status_stopped") == {"db-1", "broken-fra-1"}
    assert parsed.members("tag_role_web") == {"web-1", "web-2"}
    assert parsed.members("big") == {"db-1"}
    assert parsed.vars("web-1")["ansible_user"] == "admin" and parsed.vars("web-1")["ansible_host"] == "10.0.0.11"


def test_api_values_are_never_rendered_as_templates(parse, emulator_env):
    emulator_env.patch(instances={"ins-hkg-web-0001": {"instanceName": "{{ 6 * 7 }}",
                                                       "tags": [{"key": "note", "value": "{{ lookup('env', 'HOME') }}"}]}})
    parsed = parse({"compose": {"note": "zenlayer_tags.note", "label": "zenlayer_instance_name ~ '!'"}})
    host = parsed.vars("{{ 6 * 7 }}")
    assert host["note"] == "{{ lookup('env', 'HOME') }}"
    assert host["label"] == "{{ 6 * 7 }}!"


# -- cache ---------------------------------------------------------------------------------------------------------

def read_cache_file(path) -> tuple[dict, bool]:
    """The cached document, and whether the jsonfile plugin wrapped it (ansible-core 2.19+ stores a __payload__)."""
    stored = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(stored, dict) and "__payload__" in stored:
        return json.loads(stored["__payload__"]), True
    return stored, False


def write_cache_file(path, document: dict, wrapped: bool) -> None:
    stored = {"__payload__": json.dumps(document)} if wrapped else document
    path.write_text(json.dumps(stored), encoding="utf-8")


def _cache_config(tmp_path, **extra) -> dict:
    return dict({"cache": True, "cache_plugin": "jsonfile",
                 "cache_connection": str(tmp_path / "cache")}, **extra)


def test_a_cached_second_run_makes_no_api_call(parse, emulator_env, tmp_path):
    first = parse(_cache_config(tmp_path))
    assert len(describe_calls(emulator_env)) == 1
    emulator_env.clear_requests()
    second = parse(_cache_config(tmp_path))
    assert describe_calls(emulator_env) == []
    assert second.hosts == first.hosts == DEFAULT_SEED_NAMES
    assert second.vars("web-1")["zenlayer_instance_id"] == "ins-hkg-web-0001"
    files = list((tmp_path / "cache").iterdir())
    assert len(files) == 1
    document, _wrapped = read_cache_file(files[0])
    assert document["format"] == CACHE_FORMAT and len(document["instances"]) == 6
    assert emulator_env.credentials.access_key_password not in files[0].read_text(encoding="utf-8")


def test_the_cache_is_refreshed_when_flushed_or_the_filters_change(parse, emulator_env, tmp_path):
    parse(_cache_config(tmp_path))
    emulator_env.clear_requests()
    assert parse(_cache_config(tmp_path, zones=["SIN-E"])).hosts == {"app-sin-1"}
    assert len(describe_calls(emulator_env)) == 1
    emulator_env.patch(delete_instances=["ins-sin-app-0001"])
    assert parse(_cache_config(tmp_path, zones=["SIN-E"]), cache=False).hosts == set()  # --flush-cache
    assert len(describe_calls(emulator_env)) == 2


def test_a_cache_of_another_format_is_not_used(parse, emulator_env, tmp_path):
    parse(_cache_config(tmp_path))
    cache_file = next((tmp_path / "cache").iterdir())
    document, wrapped = read_cache_file(cache_file)
    document["format"] = "zenlayer.cloud.zenlayer_vm/raw-v0"
    document["instances"] = [{"instanceId": "stale", "instanceName": "stale"}]
    write_cache_file(cache_file, document, wrapped)
    emulator_env.clear_requests()
    assert parse(_cache_config(tmp_path)).hosts == DEFAULT_SEED_NAMES
    assert len(describe_calls(emulator_env)) == 1


# -- errors --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("config, message", [
    ({"name": "we*b"}, "trailing '*'"),
    ({"tags": {"k%d" % n: "v" for n in range(21)}}, "at most 20 tags"),
    ({"access_token": "tok"}, "both a bearer token and an access key"),
    ({"scheme": "ftp"}, "scheme must be https or http"),
    ({"domain": "https://console.zenlayer.com/api"}, "domain must be a host name"),
    ({"hostvars_prefix": "1bad"}, "hostvars_prefix must be"),
    ({"hostvars_prefix": ""}, "not empty"),
    ({"client_timeout": 0}, "client_timeout must be"),
])
def test_bad_options_fail_before_any_api_call(parse, emulator_env, config, message):
    with pytest.raises(AnsibleError, match="zenlayer_vm: .*" + message.replace("*", r"\*")):
        parse(config)
    assert emulator_env.requests() == []


def test_no_credentials_fail_before_any_api_call(parse, emulator_env, monkeypatch):
    monkeypatch.delenv("ZENLAYERCLOUD_ACCESS_KEY_ID")
    monkeypatch.delenv("ZENLAYERCLOUD_ACCESS_KEY_PASSWORD")
    with pytest.raises(AnsibleError, match="no Zenlayer credentials"):
        parse({})
    assert emulator_env.requests() == []


def test_bad_credentials_give_one_clear_line_without_the_secret(parse, emulator_env, monkeypatch):
    monkeypatch.setenv("ZENLAYERCLOUD_ACCESS_KEY_PASSWORD", "Wr0ng-Pa55-zl-000000")
    with pytest.raises(AnsibleError) as raised:
        parse({})
    message = str(raised.value)
    assert "AUTH_SIGNATURE_MISMATCH" in message and "check access_key_id and access_key_password" in message
    assert "Wr0ng-Pa55" not in message and "\n" not in message.strip()


def test_a_refused_endpoint_gives_one_clear_line(parse, emulator_env, monkeypatch):
    port = emulator_env.port
    emulator_env.stop()
    monkeypatch.setenv("ZENLAYERCLOUD_DOMAIN", "127.0.0.1:%d" % port)
    with pytest.raises(AnsibleError, match=r"zenlayer_vm: listing instances at http://127\.0\.0\.1:\d+/api/v2/vm "
                                           r"failed: could not connect"):
        parse({"api_retries": 0})


def test_credentials_may_be_templates(parse, emulator_env, monkeypatch):
    monkeypatch.setenv("ZL_TEST_PASSWORD", emulator_env.credentials.access_key_password)
    monkeypatch.setenv("ZENLAYERCLOUD_ACCESS_KEY_PASSWORD", "not-the-password")
    parsed = parse({"access_key_password": "{{ lookup('env', 'ZL_TEST_PASSWORD') }}"})
    assert parsed.hosts == DEFAULT_SEED_NAMES


def test_the_token_may_come_from_the_environment(parse, emulator_env, monkeypatch):
    monkeypatch.delenv("ZENLAYERCLOUD_ACCESS_KEY_ID")
    monkeypatch.delenv("ZENLAYERCLOUD_ACCESS_KEY_PASSWORD")
    monkeypatch.setenv("ZENLAYERCLOUD_ACCESS_TOKEN", emulator_env.credentials.token)
    assert parse({}).hosts == DEFAULT_SEED_NAMES
    assert {entry["auth"] for entry in emulator_env.requests()} == {"bearer"}


def test_empty_environment_values_count_as_unset(parse, emulator_env, monkeypatch):
    """AWX injects an unused credential input as an empty string: an empty token is no token."""
    monkeypatch.setenv("ZENLAYERCLOUD_ACCESS_TOKEN", "")
    assert parse({}).hosts == DEFAULT_SEED_NAMES
    monkeypatch.setenv("ZENLAYERCLOUD_SCHEME", "")  # the default, https (port 1 of 127.0.0.1 refuses at once)
    with pytest.raises(AnsibleError, match=r"listing instances at https://127\.0\.0\.1:1/api/v2/vm failed"):
        parse({"api_retries": 0, "domain": "127.0.0.1:1"})


def test_only_zenlayer_vm_files_are_claimed(tmp_path):
    plugin = zenlayer_vm.InventoryModule()
    for name, claimed in (("prod.zenlayer_vm.yml", True), ("zenlayer_vm.yaml", True), ("hosts.yml", False),
                          ("prod.zenlayer_vm.json", False)):
        (tmp_path / name).write_text("plugin: %s\n" % NAME, encoding="utf-8")
        assert plugin.verify_file(str(tmp_path / name)) is claimed, name


def test_hostvars_use_the_names_the_modules_return(emulator_env):
    """An instance in the inventory has the fields zenlayer_instance_info returns, under the same names (but
    power_to_restore: a decision an imaging job takes from the status it has just read, not a fact to cache)."""
    raw = emulator_env.call("DescribeInstances", {"instanceIds": ["ins-hkg-web-0001"]}).body["response"]["dataSet"][0]
    hostvars = instance_hostvars(raw)
    assert "power_to_restore" not in hostvars
    for key, value in shape_instance(raw).items():
        if key == "power_to_restore":
            continue
        if isinstance(value, dict):
            assert value.items() <= hostvars[key].items(), key
        else:
            assert hostvars[key] == value, key


def _examples() -> list[dict]:
    """The example source, and each commented one (its lines start with '#   ')."""

    class Loader(yaml.SafeLoader):  # pylint: disable=too-many-ancestors
        """SafeLoader that reads !vault values as their text."""

    Loader.add_constructor("!vault", lambda loader, node: loader.construct_scalar(node))
    blocks, current = [], []
    for line in zenlayer_vm.EXAMPLES.splitlines() + [""]:
        if line.startswith("#   "):
            current.append(line[4:])
        elif current:
            blocks.append("\n".join(current))
            current = []
    return [yaml.load(text, Loader=Loader) for text in [zenlayer_vm.EXAMPLES] + blocks]  # nosec - SafeLoader subclass


def test_every_example_is_a_source_using_documented_options_only():
    doc = yaml.safe_load(zenlayer_vm.DOCUMENTATION)
    add_fragments(doc, zenlayer_vm.__file__, fragment_loader=fragment_loader)
    examples = _examples()
    assert len(examples) >= 4
    for example in examples:
        assert example["plugin"] == NAME
        assert set(example) <= set(doc["options"]), set(example) - set(doc["options"])
    used = set().union(*examples)
    assert {"zones", "statuses", "tags", "keyed_groups", "hostnames", "connect_with", "cache"} <= used
