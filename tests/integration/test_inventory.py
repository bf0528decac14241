# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The zenlayer_vm inventory plugin through the real commands: ansible-inventory --list / --graph, ansible-playbook.

Each test starts an emulator, writes a `*.zenlayer_vm.yml` source and runs this venv's ansible-inventory (loaded
through the `auto` plugin, as users do) with the environment of ansible_run.ansible_env.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "emulator"))
from ansible_run import ansible_env, find_secrets, run_playbook, secret_seed  # noqa: E402  pylint: disable=wrong-import-position
from seedgen import generate  # noqa: E402  pylint: disable=wrong-import-position,import-error

pytestmark = pytest.mark.boundary  # ansible-inventory's output of the plugin

REPO = Path(__file__).resolve().parents[2]
TAG_GROUP_PLAYBOOK = REPO / "playbooks" / "image_tag_group.yml"
TIME_SCALE = 0.05
TAGS = {  # default seed instance -> tags
    "ins-hkg-web-0001": [{"key": "role", "value": "web"}, {"key": "env", "value": "prod"}],
    "ins-hkg-web-0002": [{"key": "role", "value": "web"}, {"key": "env", "value": "staging"}],
    "ins-hkg-db-0001": [{"key": "role", "value": "db"}, {"key": "env", "value": "prod"}],
    "ins-fra-app-0001": [{"key": "role", "value": "web"}],
}
SOURCE = """\
plugin: zenlayer.cloud.zenlayer_vm
keyed_groups:
  - key: zenlayer_zone_id
    prefix: zone
  - key: zenlayer_instance_status | lower
    prefix: status
  - key: zenlayer_tags
    prefix: tag
groups:
  production: zenlayer_tags.env | default('') == 'prod'
"""


def tagged_seed(base="default") -> dict:
    seed = secret_seed(base)
    for instance in seed["instances"]:
        instance["tags"] = TAGS.get(instance["instanceId"], [])
    return seed


def plain(value):
    """ansible-inventory --list output without the markers of ansible-core 2.19+ ({"__ansible_unsafe": "..."}: a value
    from the API, never rendered as a template)."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def write_source(tmp_path: Path, text: str = SOURCE, name: str = "test.zenlayer_vm.yml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def ansible_inventory(emu, collections_root: str, tmp_path: Path, source: str, *args: str,
                      extra_env: dict | None = None) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).parent / "ansible-inventory"), "-i", source, *args]
    env = ansible_env(emu, collections_root, tmp_path, extra_env=extra_env)
    return subprocess.run(command, env=env, cwd=str(tmp_path), stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=120, check=False)


def test_list_has_the_groups_and_hostvars(tmp_path, collections_root, harness):
    with harness.Emulator(tagged_seed(), time_scale=TIME_SCALE) as emu:
        result = ansible_inventory(emu, collections_root, tmp_path, write_source(tmp_path), "--list")
        assert result.returncode == 0, result.stderr
        listing = plain(json.loads(result.stdout))
        hostvars = listing["_meta"]["hostvars"]
        assert set(hostvars) == {"web-1", "web-2", "db-1", "app-fra-1", "broken-fra-1", "app-sin-1"}
        assert sorted(listing["tag_role_web"]["hosts"]) == ["app-fra-1", "web-1", "web-2"]
        assert sorted(listing["production"]["hosts"]) == ["db-1", "web-1"]
        assert sorted(listing["zone_HKG_A"]["hosts"]) == ["db-1", "web-1", "web-2"]
        assert sorted(listing["status_stopped"]["hosts"]) == ["broken-fra-1", "db-1"]
        assert len(listing["zenlayer_instances"]["hosts"]) == 6
        web = hostvars["web-1"]
        assert web["zenlayer_instance_id"] == "ins-hkg-web-0001" and web["ansible_host"] == "203.0.113.11"
        assert web["zenlayer_tags"] == {"role": "web", "env": "prod"}
        assert [entry["body"] for entry in emu.requests()] == [{"pageNum": 1, "pageSize": 1000}]
        assert not find_secrets(result.stdout, result.stderr)


def test_graph_shows_the_group_tree(tmp_path, collections_root, harness):
    with harness.Emulator(tagged_seed(), time_scale=TIME_SCALE) as emu:
        source = write_source(tmp_path, "plugin: zenlayer.cloud.zenlayer_vm\nzones: [HKG-A]\nkeyed_groups:\n"
                                        "  - key: zenlayer_tags.role\n    prefix: role\n")
        result = ansible_inventory(emu, collections_root, tmp_path, source, "--graph")
        assert result.returncode == 0, result.stderr
        lines = [line.strip(" |-") for line in result.stdout.splitlines()]
        assert lines[lines.index("@role_web:") + 1:lines.index("@role_web:") + 3] == ["web-1", "web-2"]
        assert lines[lines.index("@role_db:") + 1] == "db-1"
        assert "app-fra-1" not in lines
        assert [entry["body"].get("zoneId") for entry in emu.requests()] == ["HKG-A"]


def test_bad_credentials_fail_in_one_line_with_one_hint_without_secrets_nor_traceback(tmp_path, collections_root, harness):
    with harness.Emulator(tagged_seed(), time_scale=TIME_SCALE) as emu:
        env = {"ZENLAYERCLOUD_ACCESS_KEY_PASSWORD": "S3cr3t-Pa55-zl-4f9c2e-but-wrong",
               "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true", "ANSIBLE_INVENTORY_ENABLED": "zenlayer.cloud.zenlayer_vm"}
        result = ansible_inventory(emu, collections_root, tmp_path, write_source(tmp_path), "--list", "-vvvv",
                                   extra_env=env)
        assert result.returncode != 0
        stderr = " ".join(result.stderr.split())  # ansible-core before 2.19 wraps warnings at 80 columns
        assert "zenlayer_vm: listing instances at http://127.0.0.1" in stderr, result.stderr
        assert "AUTH_SIGNATURE_MISMATCH" in stderr and "check access_key_id and access_key_password" in stderr
        assert not find_secrets(result.stdout, result.stderr)

        plain = ansible_inventory(emu, collections_root, tmp_path, write_source(tmp_path), "--list", extra_env=env)
        stderr = " ".join(plain.stderr.split())
        messages = stderr.count("zenlayer_vm: listing instances at http://127.0.0.1")
        assert messages >= 1 and stderr.count("check access_key_id and access_key_password") == messages, plain.stderr
        assert "Traceback" not in plain.stderr + plain.stdout and 'File "' not in plain.stderr + plain.stdout


def test_cached_second_run_makes_no_api_call(tmp_path, collections_root, harness):
    with harness.Emulator(tagged_seed(), time_scale=TIME_SCALE) as emu:
        source = write_source(tmp_path, SOURCE + "cache: true\ncache_plugin: ansible.builtin.jsonfile\n"
                                                 "cache_connection: %s\n" % (tmp_path / "cache"))
        first = ansible_inventory(emu, collections_root, tmp_path, source, "--list")
        assert first.returncode == 0, first.stderr
        assert len(emu.requests()) == 1
        second = ansible_inventory(emu, collections_root, tmp_path, source, "--list")
        assert second.returncode == 0, second.stderr
        assert len(emu.requests()) == 1, "the second run called the API"
        assert json.loads(second.stdout) == json.loads(first.stdout)
        if "--flush-cache" in ansible_inventory(emu, collections_root, tmp_path, source, "--help").stdout:  # 2.17+
            flushed = ansible_inventory(emu, collections_root, tmp_path, source, "--list", "--flush-cache")
            assert flushed.returncode == 0 and len(emu.requests()) == 2
        assert not find_secrets(*(path.read_bytes() for path in (tmp_path / "cache").iterdir()))


def test_vault_encrypted_password_in_the_source(tmp_path, collections_root, harness):
    with harness.Emulator(tagged_seed(), time_scale=TIME_SCALE) as emu:
        vault_password_file = tmp_path / "vault-pass"
        vault_password_file.write_text("vault-test-password\n", encoding="utf-8")
        env = ansible_env(emu, collections_root, tmp_path)
        encrypted = subprocess.run(
            [str(Path(sys.executable).parent / "ansible-vault"), "encrypt_string", "--vault-password-file",
             str(vault_password_file), emu.credentials.access_key_password, "--name", "access_key_password"],
            env=env, capture_output=True, text=True, timeout=60, check=True).stdout
        source = write_source(tmp_path, "plugin: zenlayer.cloud.zenlayer_vm\n" + encrypted)
        result = ansible_inventory(emu, collections_root, tmp_path, source, "--list", "--vault-password-file",
                                   str(vault_password_file),
                                   extra_env={"ZENLAYERCLOUD_ACCESS_KEY_PASSWORD": "not-the-password"})
        assert result.returncode == 0, result.stderr
        assert len(json.loads(result.stdout)["_meta"]["hostvars"]) == 6
        assert not find_secrets(result.stdout, result.stderr)


def test_image_play_over_a_tag_group_of_the_inventory(tmp_path, collections_root, harness):
    """playbooks/image_tag_group.yml over tag_role_web: every web instance imaged, no other touched, power kept."""
    with harness.Emulator(tagged_seed(), time_scale=TIME_SCALE) as emu:
        before = {i["instanceId"]: i["instanceStatus"] for i in emu.state()["instances"]}
        run = run_playbook(emu, collections_root, str(TAG_GROUP_PLAYBOOK), tmp_dir=tmp_path,
                           inventory=write_source(tmp_path), extra_vars={"tag_group": "tag_role_web"}, forks=3)
        assert run.rc == 0, run.report()
        created = sorted((entry["body"]["instanceId"], entry["body"]["imageName"]) for entry in emu.requests("CreateImage"))
        assert created == [("ins-fra-app-0001", "app-fra-1-golden"), ("ins-hkg-web-0001", "web-1-golden"),
                           ("ins-hkg-web-0002", "web-2-golden")]
        after = {i["instanceId"]: i["instanceStatus"] for i in emu.state()["instances"]}
        assert after == before
        assert not find_secrets(run.output)


def test_credentials_templated_from_extra_vars(tmp_path, collections_root, harness):
    """access_key_password: "{{ var }}" with the variable given by -e (--graph: --list would print -e variables)."""
    with harness.Emulator(tagged_seed(), time_scale=TIME_SCALE) as emu:
        source = write_source(tmp_path, 'plugin: zenlayer.cloud.zenlayer_vm\naccess_key_password: "{{ zl_password }}"\n')
        extra = tmp_path / "vars.json"
        extra.write_text(json.dumps({"zl_password": emu.credentials.access_key_password}), encoding="utf-8")
        result = ansible_inventory(emu, collections_root, tmp_path, source, "--graph", "-e", "@%s" % extra,
                                   extra_env={"ZENLAYERCLOUD_ACCESS_KEY_PASSWORD": "not-the-password"})
        assert result.returncode == 0, result.stderr
        assert "web-1" in result.stdout and "app-sin-1" in result.stdout
        assert not find_secrets(result.stdout, result.stderr)


# -- what AWX imports, -e, large accounts -----------------------------------------------------------------------------

TEMPLATE_TAG = "{{ lookup('pipe','id') }}"
NOTE_PLAY = [{"name": "Show the note tag", "hosts": "web-1", "connection": "local", "gather_facts": False,
              "tasks": [{"name": "note", "ansible.builtin.debug": {"msg": "note={{ zenlayer_tags.note }}"}}]}]


def _wrapped_leaves(value, path: str = "") -> list[tuple[str, str]]:
    """(path, text) of every {"__ansible_unsafe": text} in an exported value; raises on any non-JSON-plain leaf."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return [(path, value["__ansible_unsafe"])]
        return [leaf for key, item in value.items() for leaf in _wrapped_leaves(item, "%s.%s" % (path, key))]
    if isinstance(value, list):
        return [leaf for number, item in enumerate(value) for leaf in _wrapped_leaves(item, "%s[%d]" % (path, number))]
    assert value is None or isinstance(value, (str, int, float, bool)), (path, value)
    return []


def test_export_gives_plain_strings_and_a_template_in_a_tag_is_never_rendered(tmp_path, collections_root, harness):
    """ansible-inventory --list --export (what AWX imports) on the ansible-core this test runs on: ansible_host and
    every zenlayer_* string is a str; only a value holding a template is wrapped, and a play never renders it, neither
    from the plugin nor from the export read back as a script inventory (as AWX hands it to a job)."""
    seed = tagged_seed()
    seed["instances"][0]["tags"] = [{"key": "role", "value": "web"}, {"key": "note", "value": TEMPLATE_TAG}]
    with harness.Emulator(seed, time_scale=TIME_SCALE) as emu:
        source = write_source(tmp_path, SOURCE + "compose:\n  ansible_user: \"'admin'\"\n")
        result = ansible_inventory(emu, collections_root, tmp_path, source, "--list", "--export")
        assert result.returncode == 0, result.stderr
        exported = json.loads(result.stdout)
        hostvars = exported["_meta"]["hostvars"]
        assert hostvars["web-1"]["ansible_host"] == "203.0.113.11" and hostvars["web-1"]["ansible_user"] == "admin"
        assert hostvars["web-1"]["zenlayer_instance_id"] == "ins-hkg-web-0001"
        wrapped = [leaf for host, variables in hostvars.items() for leaf in _wrapped_leaves(variables, host)]
        assert wrapped == [("web-1.zenlayer_tags.note", TEMPLATE_TAG)]
        assert all(isinstance(v["ansible_host"], str) for v in hostvars.values() if "ansible_host" in v)

        for inventory in (source, _script_inventory(tmp_path, exported)):
            run = run_playbook(emu, collections_root, NOTE_PLAY, tmp_dir=tmp_path / "play", inventory=inventory)
            assert run.rc == 0, run.report()
            assert run.task("note", "web-1")["result"]["msg"] == "note=" + TEMPLATE_TAG
            assert "uid=" not in run.output


def _script_inventory(tmp_path: Path, listing: dict) -> str:
    script = tmp_path / "exported_inventory.py"
    script.write_text("#!%s\nimport sys\nsys.stdout.write(%r if '--list' in sys.argv else '{}')\n"
                      % (sys.executable, json.dumps(listing)), encoding="utf-8")
    script.chmod(0o700)
    return str(script)


def test_filters_templated_from_extra_vars(tmp_path, collections_root, harness):
    """zones: ["{{ zone }}"] with -e zone=HKG-A (use_extra_vars: true) asks for HKG-A; without use_extra_vars the
    source fails naming the option and nothing is sent."""
    with harness.Emulator(tagged_seed(), time_scale=TIME_SCALE) as emu:
        text = 'plugin: zenlayer.cloud.zenlayer_vm\nzones: ["{{ zone }}"]\ntags:\n  role: "{{ role }}"\n'
        source = write_source(tmp_path, text + "use_extra_vars: true\n")
        result = ansible_inventory(emu, collections_root, tmp_path, source, "--graph", "-e", "zone=HKG-A", "-e", "role=web")
        assert result.returncode == 0, result.stderr
        assert {line.strip(" |-") for line in result.stdout.splitlines()} >= {"web-1", "web-2"}
        assert "db-1" not in result.stdout and "app-fra-1" not in result.stdout
        assert [entry["body"] for entry in emu.requests()] == [
            {"zoneId": "HKG-A", "tags": [{"key": "role", "value": "web"}], "pageNum": 1, "pageSize": 1000}]

        emu.clear_requests()
        refused = ansible_inventory(emu, collections_root, tmp_path, write_source(tmp_path, text), "--graph",
                                    "-e", "zone=HKG-A", "-e", "role=web",
                                    extra_env={"ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"})
        assert refused.returncode != 0
        assert "zenlayer_vm: could not render zones" in " ".join(refused.stderr.split()), refused.stderr
        assert emu.requests() == []


def test_a_yaml_boolean_tag_value_finds_the_instances_tagged_true(tmp_path, collections_root, harness):
    seed = tagged_seed()
    seed["instances"][1]["tags"] = [{"key": "backup", "value": "true"}]
    with harness.Emulator(seed, time_scale=TIME_SCALE) as emu:
        source = write_source(tmp_path, "plugin: zenlayer.cloud.zenlayer_vm\ntags:\n  backup: true\n")
        result = ansible_inventory(emu, collections_root, tmp_path, source, "--list")
        assert result.returncode == 0, result.stderr
        assert sorted(json.loads(result.stdout)["_meta"]["hostvars"]) == ["web-2"]
        assert emu.requests()[0]["body"]["tags"] == [{"key": "backup", "value": "true"}]


def test_an_instance_deleted_between_two_pages_drops_no_other_host(tmp_path, collections_root, harness):
    """1,500 instances; one deleted from page 1 while page 2 is read: ins-gen-001000 is still a host."""
    seed = generate(1500)
    names = {instance["instanceId"]: instance["instanceName"] for instance in seed["instances"]}
    with harness.Emulator(seed, time_scale=TIME_SCALE) as emu:
        emu.add_faults({"action": "DescribeInstances", "kind": "then_patch", "page": 1,
                        "patch": {"delete_instances": ["ins-gen-000005"]}})
        result = ansible_inventory(emu, collections_root, tmp_path, write_source(tmp_path, "plugin: zenlayer.cloud.zenlayer_vm\n"),
                                   "--list")
        assert result.returncode == 0, result.stderr
        hosts = set(json.loads(result.stdout)["_meta"]["hostvars"])
        assert names["ins-gen-001000"] in hosts
        assert hosts == set(names.values()) - {names["ins-gen-000005"]}
