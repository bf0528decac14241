# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The zenlayer_vm inventory plugin, parsed in-process against the real emulator on 127.0.0.1.

Each test writes a `*.zenlayer_vm.yml` source, parses it the way ansible-inventory does (option definitions from the
plugin's DOCUMENTATION and its fragments, an InventoryData, a DataLoader) and checks the hosts, groups and variables
a user would see, and the requests that reached the emulator.
"""

from __future__ import annotations

import functools
import json
import os
import sys

import pytest
import yaml

from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.inventory import Constructable
from ansible.plugins.loader import fragment_loader
from ansible.template import Templar

try:
    from ansible.template import is_trusted_as_template
except ImportError:  # before ansible-core 2.19
    is_trusted_as_template = None  # pylint: disable=invalid-name
try:
    from ansible.utils.unsafe_proxy import AnsibleUnsafe
except ImportError:  # removed from ansible-core
    AnsibleUnsafe = ()  # pylint: disable=invalid-name
from ansible.utils.plugin_docs import add_fragments
from ansible.utils.vars import load_extra_vars

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


def new_plugin() -> zenlayer_vm.InventoryModule:
    plugin = zenlayer_vm.InventoryModule()
    plugin._load_name = NAME  # pylint: disable=protected-access  # as the plugin loader sets it
    plugin.ansible_name = NAME
    plugin._redirected_names = [NAME]  # pylint: disable=protected-access
    return plugin


@pytest.fixture
def parse(tmp_path, emulator_env, monkeypatch):  # pylint: disable=unused-argument
    """parse(config dict, cache=True, extra_vars=None) -> Parsed; the source file is tmp_path/test.zenlayer_vm.yml;
    extra_vars are what -e would give."""

    def run(config: dict, *, cache: bool = True, file_name: str = "test.zenlayer_vm.yml",
            extra_vars: dict | None = None) -> Parsed:
        path = tmp_path / file_name
        path.write_text(yaml.safe_dump(dict({"plugin": NAME}, **config)), encoding="utf-8")
        # load_extra_vars keeps what it read from -e on itself: give it these
        monkeypatch.setattr(load_extra_vars, "extra_vars", dict(extra_vars or {}), raising=False)
        plugin = new_plugin()
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


# -- filters that are templates -----------------------------------------------------------------------------------

def test_every_filter_may_be_a_template_rendered_with_extra_vars(parse, emulator_env):
    """-e values reach every filter option with use_extra_vars (a list variable spreads into a list filter)."""
    emulator_env.patch(instances={"ins-hkg-web-0001": {"tags": [{"key": "role", "value": "web"},
                                                                {"key": "team", "value": "blue"}],
                                                       "resourceGroupId": "rg-web"}})
    config = {"use_extra_vars": True, "zones": ["{{ zone }}"], "statuses": ["{{ status }}"], "name": "{{ prefix }}*",
              "tags": {"{{ tag_key }}": "{{ tag_value }}"}, "tag_keys": ["{{ key }}"],
              "resource_group_id": "{{ group }}", "image_id": "{{ image }}", "instance_ids": ["{{ ids }}"]}
    extra = {"zone": "HKG-A", "status": "RUNNING", "prefix": "web-", "tag_key": "role", "tag_value": "web",
             "key": "team", "group": "rg-web", "image": "img-ubuntu-2204", "ids": ["ins-hkg-web-0001", "ins-hkg-web-0002"]}
    parsed = parse(config, extra_vars=extra)
    assert parsed.hosts == {"web-1"}
    assert describe_calls(emulator_env) == [{
        "zoneId": "HKG-A", "instanceStatus": "RUNNING", "instanceName": "web-*", "tags": [{"key": "role", "value": "web"}],
        "tagKeys": ["team"], "resourceGroupId": "rg-web", "imageId": "img-ubuntu-2204",
        "instanceIds": ["ins-hkg-web-0001", "ins-hkg-web-0002"], "pageNum": 1, "pageSize": 1000}]
    assert "{{" not in json.dumps(emulator_env.requests())


def test_a_filter_may_use_a_lookup_without_extra_vars(parse, emulator_env, monkeypatch):
    monkeypatch.setenv("ZL_TEST_ZONE", "FRA-A")
    assert parse({"zones": ["{{ lookup('env', 'ZL_TEST_ZONE') }}"]}).hosts == {"app-fra-1", "broken-fra-1"}
    assert [body["zoneId"] for body in describe_calls(emulator_env)] == ["FRA-A"]


def test_a_filter_using_extra_vars_without_use_extra_vars_fails_naming_the_option(parse, emulator_env):
    with pytest.raises(AnsibleError, match=r"zenlayer_vm: could not render zones: .*zone.* use_extra_vars: true") as raised:
        parse({"zones": ["{{ zone }}"]}, extra_vars={"zone": "HKG-A"})
    assert "\n" not in str(raised.value)
    assert emulator_env.requests() == []


@pytest.mark.parametrize("option, value", [
    ("name", "{% raw %}{{ web }}{% endraw %}"),
    ("zones", ["{% raw %}{{ zone }}{% endraw %}"]),
    ("tags", {"role": "{% raw %}{% if x %}{% endraw %}"}),
])
def test_a_filter_still_holding_a_template_after_rendering_is_never_sent(parse, emulator_env, option, value):
    with pytest.raises(AnsibleError, match=r"zenlayer_vm: %s still holds a template after rendering .* not sent" % option):
        parse({option: value, "use_extra_vars": True})
    assert emulator_env.requests() == []


# -- tag values ------------------------------------------------------------------------------------------------------

def test_yaml_booleans_and_numbers_in_tags_are_sent_as_the_text_a_user_reads(parse, emulator_env):
    """tags: {backup: true, rack: 7} finds the instances tagged backup=true, rack=7 (the API's values are text)."""
    emulator_env.patch(instances={"ins-hkg-web-0001": {"tags": [{"key": "backup", "value": "true"},
                                                                {"key": "rack", "value": "7"}]},
                                  "ins-hkg-web-0002": {"tags": [{"key": "backup", "value": "false"},
                                                                {"key": "rack", "value": "7"}]}})
    assert parse({"tags": {"backup": True, "rack": 7}}).hosts == {"web-1"}
    assert describe_calls(emulator_env)[0]["tags"] == [{"key": "backup", "value": "true"}, {"key": "rack", "value": "7"}]
    assert parse({"tags": {"backup": False}}).hosts == {"web-2"}


def test_a_tag_value_yaml_reads_as_a_float_is_refused_before_any_api_call(parse, emulator_env):
    with pytest.raises(AnsibleError, match=r"zenlayer_vm: tags\.version: 1\.1 is a float.*write it in quotes"):
        parse({"tags": {"version": 1.10}})
    assert emulator_env.requests() == []


# -- listings that change while they are read ----------------------------------------------------------------------

GENERATED = generate(1500)
GENERATED_NAMES = {instance["instanceName"] for instance in GENERATED["instances"]}


def _name_of(instance_id: str) -> str:
    return next(i["instanceName"] for i in GENERATED["instances"] if i["instanceId"] == instance_id)


def _pages(emu) -> list[tuple[int, int]]:
    return [(body["pageNum"], body["pageSize"]) for body in describe_calls(emu)]


@pytest.mark.emulator(seed=GENERATED)
def test_an_instance_deleted_between_two_pages_drops_no_other_instance(parse, emulator_env):
    """Deleted from page 1 while page 2 is read: every later instance moves up one place, so the first of page 2 would
    be missed. The totalCount of page 2 differs from page 1's: the listing is read again."""
    emulator_env.add_faults({"action": "DescribeInstances", "kind": "then_patch", "page": 1,
                             "patch": {"delete_instances": ["ins-gen-000005"]}})
    parsed = parse({})
    assert parsed.hosts == GENERATED_NAMES - {_name_of("ins-gen-000005")}
    assert _name_of("ins-gen-001000") in parsed.hosts
    assert _pages(emulator_env) == [(1, 1000), (2, 1000), (1, 1000), (2, 1000)]


@pytest.mark.emulator(seed=GENERATED)
def test_an_instance_added_between_two_pages_is_listed(parse, emulator_env):
    emulator_env.add_faults({"action": "DescribeInstances", "kind": "then_patch", "page": 1,
                             "patch": {"instances": {"ins-new-1": {"zoneId": "HKG-A", "instanceName": "new-1"}}}})
    assert parse({}).hosts == GENERATED_NAMES | {"new-1"}
    assert len(describe_calls(emulator_env)) == 4


@pytest.mark.emulator(seed=GENERATED)
def test_an_account_that_changes_during_every_read_fails_naming_the_filter_set(parse, emulator_env):
    """Three reads, each disturbed after its page 1: no partial inventory, one line naming the filter set."""
    emulator_env.add_faults(*({"action": "DescribeInstances", "kind": "then_patch", "page": 1,
                               "patch": {"delete_instances": ["ins-gen-%06d" % number]}} for number in (0, 10, 20)))
    with pytest.raises(AnsibleError) as raised:
        parse({"statuses": ["RUNNING"]})
    message = str(raised.value)
    assert "\n" not in message
    assert "the instances of the filter set {instanceStatus=RUNNING} changed while they were read page by page" in message
    assert "in each of 3 reads" in message and "1350 -> 1349" in message
    assert _pages(emulator_env) == [(1, 1000), (2, 1000)] * 3


def test_an_instance_found_by_two_filter_sets_is_one_host(parse, emulator_env):
    """web-1 stops between the RUNNING and the STOPPED query: both answers hold it, the inventory has it once."""
    emulator_env.add_faults({"action": "DescribeInstances", "kind": "then_patch", "page": 1,
                             "patch": {"instances": {"ins-hkg-web-0001": {"instanceStatus": "STOPPED"}}}})
    parsed = parse({"statuses": ["RUNNING", "STOPPED"]})
    assert parsed.hosts == DEFAULT_SEED_NAMES
    assert parsed.vars("web-1")["zenlayer_instance_status"] == "RUNNING"  # as first seen


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


# -- constructed: a bare variable name without Jinja2, as Ansible's own implementation gives it ---------------------

CONSTRUCT_VALUES = [
    "HKG-A", "", "True", "False", "true", "None", "[1, 2]", "{'a': 1}", "{{ 6 * 7 }}", "web {{ 6 * 7 }}", "a}b",
    " spaced ", "0", None, 0, 7, 1.5, True, False, [], ["a", "b"], ["", "x"], {}, {"role": "web", "env": "prod"},
    {"k": ""}, {"k": "True"}, {"k": "[1]"}, {"k": None}, {"k": 1}, {"k": "{{ 6 * 7 }}"}, {1: "a"},
]
KEYED_GROUPS = [{"key": "v", "prefix": "p"}, {"key": "v", "prefix": "d", "default_value": "empty"},
                {"key": "v", "prefix": "t", "trailing_separator": False}, {"key": "v", "parent_group": "{{ parent }}"},
                {"key": "missing", "prefix": "m"}, {"key": "v", "separator": ""}]


def _trusted(value):
    """Option values as ansible-core reads them from the source file (trusted as templates from 2.19)."""
    if isinstance(value, str) and zenlayer_vm.trust_as_template:
        return zenlayer_vm.trust_as_template(value)
    if isinstance(value, dict):
        return {key: _trusted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_trusted(item) for item in value]
    return value


def _constructing(ansibles_own: bool, extra_vars: dict | None = None, **options):
    """A plugin ready to construct groups and variables; with ansibles_own, its _compose is Constructable's."""
    plugin = new_plugin()
    plugin.inventory, plugin.loader = InventoryData(), DataLoader()
    plugin.templar = Templar(loader=plugin.loader)
    plugin._vars = dict(extra_vars or {})  # pylint: disable=protected-access  # as parse() sets it
    plugin.set_options(direct=dict({"plugin": NAME}, **_trusted(options)))
    if ansibles_own:
        plugin._compose = functools.partial(ORIGINAL_COMPOSE, plugin)  # pylint: disable=protected-access
    return plugin


ORIGINAL_COMPOSE = Constructable._compose  # pylint: disable=protected-access


def _construct_all(plugin, values: list, strict: bool) -> dict:
    """Every value as host variable v of its own host, through compose, groups and keyed_groups; what came out."""
    outcome: dict = {"errors": {}}
    for number, value in enumerate(values):
        host = "h%02d" % number
        plugin.inventory.add_host(host)
        plugin.inventory.set_variable(host, "v", plugin._marked(value))  # pylint: disable=protected-access
        plugin.inventory.set_variable(host, "parent", "parent_%02d" % number)
        variables = plugin.inventory.get_host(host).get_vars()
        steps = {"compose": plugin._set_composite_vars, "groups": plugin._add_host_to_composed_groups,  # pylint: disable=protected-access
                 "keyed_groups": plugin._add_host_to_keyed_groups}  # pylint: disable=protected-access
        for option, step in steps.items():
            try:
                step(plugin.get_option(option), variables, host, strict=strict)
            except AnsibleError as err:
                outcome["errors"][host, option] = (type(err).__name__, str(err).split("\n", maxsplit=1)[0])
        composed = plugin.inventory.get_host(host).vars.get("c", "<unset>")
        outcome[host] = (composed, type(composed).__name__ if not isinstance(composed, str) else "str", renders(composed))
    outcome["groups"] = {name: (sorted(h.name for h in group.get_hosts()), sorted(c.name for c in group.child_groups))
                         for name, group in plugin.inventory.groups.items()}
    return outcome


def renders(value) -> bool:
    """Whether ansible-core would render this value as a template where it is used."""
    if not isinstance(value, str) or "{" not in value:
        return False
    if zenlayer_vm.trust_as_template:
        return is_trusted_as_template(value)
    return not isinstance(value, AnsibleUnsafe)


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("use_extra_vars", [False, True])
def test_bare_variable_names_construct_what_ansibles_own_implementation_does(strict, use_extra_vars, monkeypatch):
    """keyed_groups, compose and groups over values of every kind, with our _compose (a bare name resolved without
    Jinja2 when its value allows) and with Constructable's own: the same groups, variables and errors."""
    options = {"keyed_groups": KEYED_GROUPS, "compose": {"c": "v"}, "groups": {"g": "v"},
               "use_extra_vars": use_extra_vars, "leading_separator": True}
    extra = {"parent": "from_extra"} if use_extra_vars else {}
    expected = _construct_all(_constructing(True, extra, **options), CONSTRUCT_VALUES, strict)
    templated = []
    monkeypatch.setattr(Constructable, "_compose", lambda self, *args, **kwargs: templated.append(args[0]) or
                        ORIGINAL_COMPOSE(self, *args, **kwargs))
    assert _construct_all(_constructing(False, extra, **options), CONSTRUCT_VALUES, strict) == expected
    assert expected["groups"]["p_HKG_A"][0] == ["h00"] and expected["h08"][1:] == ("str", False)  # not vacuous
    assert len(expected["groups"]) > 40
    assert 0 < templated.count("v") < len(CONSTRUCT_VALUES) * 5 - 30  # the shortcut was taken, Ansible's too


def test_an_extra_var_of_the_same_name_wins_as_with_ansibles_own_implementation():
    options = {"keyed_groups": [{"key": "v", "prefix": "p"}], "use_extra_vars": True}
    for ansibles_own in (True, False):
        plugin = _constructing(ansibles_own, {"v": "from_extra"}, **options)
        assert _construct_all(plugin, ["from_host"], False)["groups"]["p_from_extra"][0] == ["h00"]


def test_plain_values_are_resolved_without_a_template(monkeypatch):
    templated = []
    monkeypatch.setattr(Constructable, "_compose", lambda self, *args, **kwargs: templated.append(args[0]))
    plugin = _constructing(False, keyed_groups=[{"key": "v", "prefix": "zone"}, {"key": " v ", "prefix": "tag"}])
    outcome = _construct_all(plugin, ["HKG-A", {"role": "web"}], True)
    assert templated == [] and outcome["errors"] == {}
    assert outcome["groups"]["zone_HKG_A"][0] == ["h00"] and outcome["groups"]["tag_role_web"][0] == ["h01"]


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
    assert "AUTH_SIGNATURE_MISMATCH" in message and message.count("check access_key_id and access_key_password") == 1
    assert "Wr0ng-Pa55" not in message and "\n" not in message.strip()


def test_a_bad_token_names_the_token_once_and_not_the_key_pair(parse, emulator_env, monkeypatch):
    monkeypatch.delenv("ZENLAYERCLOUD_ACCESS_KEY_ID")
    monkeypatch.delenv("ZENLAYERCLOUD_ACCESS_KEY_PASSWORD")
    monkeypatch.setenv("ZENLAYERCLOUD_ACCESS_TOKEN", "T0ken-but-wrong")
    with pytest.raises(AnsibleError) as raised:
        parse({})
    message = str(raised.value)
    assert "AUTH_INVALID_TOKEN" in message and message.count("check access_token") == 1
    assert "access_key" not in message and "T0ken-but-wrong" not in message and "\n" not in message


@pytest.mark.parametrize("variable", ["ZENLAYERCLOUD_ACCESS_TOKEN", "ZENLAYERCLOUD_ACCESS_KEY_ID"])
def test_a_credential_no_http_header_can_carry_fails_before_any_api_call(parse, emulator_env, monkeypatch, variable):
    """A token pasted with a typographic character would fail inside the HTTP library ('latin-1' codec ...)."""
    if variable == "ZENLAYERCLOUD_ACCESS_TOKEN":
        monkeypatch.delenv("ZENLAYERCLOUD_ACCESS_KEY_ID")
        monkeypatch.delenv("ZENLAYERCLOUD_ACCESS_KEY_PASSWORD")
    monkeypatch.setenv(variable, "secret\u2014value")
    name = variable[len("ZENLAYERCLOUD_"):].lower()
    with pytest.raises(AnsibleError, match="zenlayer_vm: %s holds characters an HTTP header cannot carry" % name) as raised:
        parse({})
    assert "secret" not in str(raised.value)
    assert emulator_env.requests() == []


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
