# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run plays the way AWX / Ansible Automation Platform runs a job template: through ansible-runner.

AWX renders the injectors of the job's credential type (docs/awx/credential_type_injectors.yml) from the
credential's inputs with a sandboxed Jinja2 environment, writes the result to env/envvars of the job's private data
directory and calls ansible-runner on it. These tests do the same against the emulator, with no ZENLAYERCLOUD_*
variable in the test process's environment, and check the job's events, the result and the emulator's record.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import pytest
import yaml

try:
    import ansible_runner
except ImportError as import_error:  # pragma: no cover - the test venvs have it (tests/requirements.txt)
    pytest.skip("ansible_runner is not importable (%s): install ansible-runner (tests/requirements.txt) to run "
                "the AWX-style job tests" % import_error, allow_module_level=True)

from jinja2.sandbox import ImmutableSandboxedEnvironment

pytestmark = pytest.mark.boundary  # jobs through ansible-runner, as AWX runs them

REPO = Path(__file__).resolve().parents[2]
AWX_DIR = REPO / "docs" / "awx"
DEMO_PLAYBOOK = REPO / "playbooks" / "demo.yml"
FLEET_PLAYBOOK = REPO / "playbooks" / "image_fleet.yml"
FLEET_PATH_PLAYBOOK = REPO / "playbooks" / "image_fleet_one_cycle.yml"
TIME_SCALE = 0.05
FLEET = {  # inventory host -> instance of the default seed (zones with image support, RUNNING and STOPPED)
    "web-1": "ins-hkg-web-0001",
    "web-2": "ins-hkg-web-0002",
    "db-1": "ins-hkg-db-0001",
    "app-fra-1": "ins-fra-app-0001",
}


def _load_yaml(path: Path) -> dict:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def render_injected_env(inputs: dict) -> tuple[dict, dict]:
    """(env, safe_env) as AWX's CredentialType.inject_credential builds them from the credential's inputs.

    Empty inputs are left out of the template namespace (they render as empty strings); secret inputs are masked in
    the safe namespace, whose rendering AWX stores with the job.
    """
    fields = _load_yaml(AWX_DIR / "credential_type_inputs.yml")["fields"]
    secret = {field["id"] for field in fields if field.get("secret")}
    namespace = {name: value for name, value in inputs.items() if value}
    safe_namespace = {name: ("**********" if name in secret else value) for name, value in namespace.items()}
    sandbox = ImmutableSandboxedEnvironment()
    env, safe_env = {}, {}
    for name, template in _load_yaml(AWX_DIR / "credential_type_injectors.yml")["env"].items():
        env[name] = sandbox.from_string(template).render(**namespace)
        safe_env[name] = sandbox.from_string(template).render(**safe_namespace)
    return env, safe_env


def _private_data_dir(tmp_path: Path, injected_env: dict, inventory: str) -> Path:
    """The layout AWX hands to ansible-runner: env/envvars (the credential), env/extravars, inventory/hosts."""
    private = tmp_path / "job"
    (private / "env").mkdir(parents=True)
    (private / "inventory").mkdir()
    (private / "project").mkdir()
    (private / "env" / "envvars").write_text(yaml.safe_dump(injected_env), encoding="utf-8")
    (private / "inventory" / "hosts").write_text(inventory, encoding="utf-8")
    return private


def _runner_env(collections_root: str, tmp_path: Path) -> dict:
    """What the execution environment provides: the collection installed, ansible-playbook on PATH."""
    return {
        "ANSIBLE_COLLECTIONS_PATH": collections_root,
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }


@pytest.fixture
def clean_environment(monkeypatch):
    """No ZENLAYERCLOUD_* (nor ANSIBLE_*) in the process: the credential must come from env/envvars only."""
    for name in list(os.environ):
        if name.startswith(("ZENLAYERCLOUD_", "ANSIBLE_")):
            monkeypatch.delenv(name)


def _run_job(private: Path, playbook: Path, envvars: dict, extravars: dict, forks: int = 5):
    runner = ansible_runner.run(private_data_dir=str(private), playbook=str(playbook), envvars=envvars,
                                extravars=extravars, forks=forks, quiet=True, timeout=300)
    events = list(runner.events)
    return runner, events


def _job_output(runner, events: list) -> str:
    return "\n".join(event.get("stdout", "") for event in events) or runner.stdout.read()


def _assert_job_succeeded(runner, events: list, hosts: list[str]) -> dict:
    """The job ended 'successful' with no failed or unreachable host; returns the stats event's data."""
    output = _job_output(runner, events)
    assert runner.status == "successful" and runner.rc == 0, "job %s (rc %s):\n%s" % (runner.status, runner.rc, output)
    failed = [event for event in events if event["event"] in ("runner_on_failed", "runner_on_unreachable")
              and not event["event_data"].get("ignore_errors")]
    assert not failed, "failed task events:\n%s" % output
    stats = [event["event_data"] for event in events if event["event"] == "playbook_on_stats"]
    assert len(stats) == 1, output
    assert not stats[0].get("failures") and not stats[0].get("dark"), stats[0]
    assert sorted(stats[0].get("ok", {})) == sorted(hosts), stats[0]
    assert any(event["event"] == "runner_on_ok" for event in events), output
    return stats[0]


def _images_from_events(events: list) -> dict:
    """image_from_instance_image per host, as the role's tasks reported it in their results."""
    found: dict = {}
    for event in events:
        if event["event"] != "runner_on_ok":
            continue
        result = event["event_data"].get("res") or {}
        facts = result.get("ansible_facts") or {}
        image = facts.get("image_from_instance_image")
        if isinstance(image, dict) and image.get("image_id"):
            found[event["event_data"]["host"]] = image
    return found


def _assert_secrets_hidden(private: Path, events: list, secrets: list[str]) -> None:
    """No secret in any event (stdout or data) nor in the job's stdout artifact."""
    for event in events:
        dumped = json.dumps(event)
        for secret in secrets:
            assert secret not in dumped, "a secret leaked into event %s (%s)" % (event.get("counter"), event["event"])
    for path in private.glob("artifacts/*/stdout"):
        text = path.read_text(encoding="utf-8", errors="replace")
        for secret in secrets:
            assert secret not in text, "a secret leaked into %s" % path


def _key_pair_inputs(emu) -> dict:
    return {"access_key_id": emu.credentials.access_key_id, "access_key_password": emu.credentials.access_key_password,
            "access_token": "", "domain": emu.domain, "scheme": "http"}


def test_injectors_render_like_awx() -> None:
    """Key pair and token credentials, empty fields and defaults: the injected and the stored (masked) environments."""
    env, safe_env = render_injected_env({"access_key_id": "AKID1", "access_key_password": "s3cret", "domain": "",
                                         "scheme": None})
    assert env == {"ZENLAYERCLOUD_ACCESS_KEY_ID": "AKID1", "ZENLAYERCLOUD_ACCESS_KEY_PASSWORD": "s3cret",
                   "ZENLAYERCLOUD_ACCESS_TOKEN": "", "ZENLAYERCLOUD_DOMAIN": "console.zenlayer.com",
                   "ZENLAYERCLOUD_SCHEME": "https"}
    assert safe_env["ZENLAYERCLOUD_ACCESS_KEY_PASSWORD"] == "**********"
    env, safe_env = render_injected_env({"access_token": "tok", "domain": "127.0.0.1:1234", "scheme": "http"})
    assert env["ZENLAYERCLOUD_ACCESS_TOKEN"] == "tok" and env["ZENLAYERCLOUD_ACCESS_KEY_ID"] == ""
    assert env["ZENLAYERCLOUD_DOMAIN"] == "127.0.0.1:1234" and safe_env["ZENLAYERCLOUD_ACCESS_TOKEN"] == "**********"
    fields = {field["id"]: field for field in _load_yaml(AWX_DIR / "credential_type_inputs.yml")["fields"]}
    assert {name for name, field in fields.items() if field.get("secret")} == {"access_key_password", "access_token"}


def _demo_extravars(emu) -> dict:
    """The demo play's variables: its instance is the demo seed's one; emulator_* as the integration runner passes."""
    return {"emulator_url": emu.url, "emulator_domain": emu.domain}


def test_demo_play_as_an_awx_job(tmp_path, clean_environment, collections_root, harness) -> None:  # pylint: disable=unused-argument
    """playbooks/demo.yml through ansible-runner with the credential injected by the credential type."""
    with harness.Emulator(harness.load_seed("demo"), time_scale=TIME_SCALE) as emu:
        injected, _safe = render_injected_env(_key_pair_inputs(emu))
        assert not any(name.startswith("ZENLAYERCLOUD_") for name in os.environ)
        private = _private_data_dir(tmp_path, injected, "localhost ansible_connection=local\n")
        runner, events = _run_job(private, DEMO_PLAYBOOK, _runner_env(collections_root, tmp_path), _demo_extravars(emu))
        _assert_job_succeeded(runner, events, ["localhost"])

        images = _images_from_events(events)
        assert "localhost" in images, "no image_from_instance_image fact in the job's events:\n%s" % _job_output(runner, events)
        created = emu.requests("CreateImage")
        assert len(created) == 1, created
        assert created[0]["auth"] == "hmac" and created[0]["access_key_id"] == emu.credentials.access_key_id
        state_images = {image["imageId"]: image for image in emu.state()["images"]}
        assert images["localhost"]["image_id"] in state_images
        _assert_secrets_hidden(private, events, [emu.credentials.access_key_password, emu.credentials.token])


def test_fleet_job_with_forks_and_token_credential(tmp_path, clean_environment, collections_root, harness) -> None:  # pylint: disable=unused-argument
    """An AWX inventory of instances (host var zenlayer_instance_id), the role over all of them with forks."""
    with harness.Emulator(harness.load_seed("default"), time_scale=TIME_SCALE) as emu:
        injected, _safe = render_injected_env({"access_token": emu.credentials.token, "domain": emu.domain,
                                               "scheme": "HTTP"})
        hosts = "".join("%s zenlayer_instance_id=%s\n" % (host, instance) for host, instance in FLEET.items())
        inventory = "[zenlayer_instances]\n" + hosts
        private = _private_data_dir(tmp_path, injected, inventory)
        before = {instance["instanceId"]: instance["instanceStatus"] for instance in emu.state()["instances"]}
        runner, events = _run_job(private, FLEET_PLAYBOOK, _runner_env(collections_root, tmp_path),
                                  {"fleet_image_suffix": "awx"}, forks=len(FLEET))
        _assert_job_succeeded(runner, events, list(FLEET))

        images = _images_from_events(events)
        assert sorted(images) == sorted(FLEET), images
        created = emu.requests("CreateImage")
        assert sorted(request["body"]["imageName"] for request in created) == sorted("%s-awx" % host for host in FLEET)
        assert all(request["auth"] == "bearer" for request in emu.requests()), "the token credential was not used alone"
        state = emu.state()
        names = sorted(image["imageName"] for image in state["images"] if image["imageName"].endswith("-awx"))
        assert names == sorted("%s-awx" % host for host in FLEET)
        after = {instance["instanceId"]: instance["instanceStatus"] for instance in state["instances"]}
        for instance in FLEET.values():  # power_after: previous
            assert after[instance] == before[instance], (instance, before[instance], after[instance])
        _assert_secrets_hidden(private, events, [emu.credentials.token])


TAG_GROUP_PLAYBOOK = REPO / "playbooks" / "image_tag_group.yml"
INVENTORY_SOURCE = """\
plugin: zenlayer.cloud.zenlayer_vm
keyed_groups:
  - key: zenlayer_tags
    prefix: tag
"""
WEB_TAGGED = {"ins-hkg-web-0001": "web", "ins-hkg-web-0002": "web", "ins-fra-app-0001": "web", "ins-hkg-db-0001": "db"}


def _inventory_update(tmp_path: Path, injected_env: dict, runner_env: dict) -> dict:
    """What an AWX inventory update does with a source sourced from a project: ansible-inventory --list --export
    through ansible-runner, the credential in env/envvars of its private data dir. Returns the imported inventory."""
    private = tmp_path / "inventory_update"
    (private / "env").mkdir(parents=True)
    (private / "project" / "inventories").mkdir(parents=True)
    (private / "env" / "envvars").write_text(yaml.safe_dump(injected_env), encoding="utf-8")
    source = private / "project" / "inventories" / "web.zenlayer_vm.yml"
    source.write_text(INVENTORY_SOURCE, encoding="utf-8")
    out, err = ansible_runner.get_inventory(
        action="list", inventories=[str(source)], response_format="json", export=True, private_data_dir=str(private),
        envvars=runner_env, quiet=True, timeout=120)
    assert out, "the inventory update produced nothing:\n%s" % err
    return json.loads(out) if isinstance(out, str) else out


PROBE_CONNECTION = '''
from __future__ import annotations

import socket

from ansible.errors import AnsibleConnectionFailure
from ansible.plugins.connection.local import Connection as LocalConnection

DOCUMENTATION = """
name: tcp_probe
short_description: Run tasks on the controller after a TCP connection to the host's address
description:
  - A helper of tests/integration/test_awx_runner.py. It connects to ansible_host (ansible_port) over TCP, sends
    the address it used, then runs the tasks on the controller as the local connection does.
author: zenlayer.cloud maintainers (@zenlayer-cloud)
options:
  remote_addr:
    description: The address to connect to.
    vars:
      - name: inventory_hostname
      - name: ansible_host
  port:
    description: The TCP port.
    type: int
    vars:
      - name: ansible_port
extends_documentation_fragment:
  - connection_pipelining
"""


class Connection(LocalConnection):
    transport = "tcp_probe"

    def _connect(self):
        if not self._connected:
            address = self.get_option("remote_addr")
            if not isinstance(address, str):
                raise AnsibleConnectionFailure("ansible_host is not an address: %r" % (address,))
            with socket.create_connection((address, self.get_option("port")), timeout=10) as probe:
                probe.sendall(("%s\\n" % address).encode("utf-8"))
        return super()._connect()
'''
PROBE_PLAYBOOK = """\
- name: Reach every host of the group at its ansible_host
  hosts: tag_role_web
  connection: tcp_probe
  gather_facts: false
  tasks:
    - name: Ping through the connection
      ansible.builtin.ping:
"""


class _ProbeListener:
    """A listening TCP socket on 127.0.0.1 (no thread: the kernel queues the connections, each with its line, until
    they are read after the job); closed with the context."""

    def __init__(self, backlog: int = 16) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(backlog)
        self.port = self._socket.getsockname()[1]

    def lines(self) -> list[str]:
        """The line sent by each connection queued so far."""
        self._socket.settimeout(0.5)
        found = []
        while True:
            try:
                connection, _peer = self._socket.accept()
            except (socket.timeout, BlockingIOError):
                return found
            with connection, connection.makefile("rb") as stream:
                found.append(stream.readline(200).decode("utf-8", "replace").strip())

    def __enter__(self) -> "_ProbeListener":
        return self

    def __exit__(self, *exc) -> None:
        self._socket.close()


def _inventory_script(imported: dict) -> str:
    """The job's inventory as AWX hands it over: an executable script printing the imported inventory."""
    return "#!%s\nimport sys\nsys.stdout.write(%r if '--list' in sys.argv else '{}')\n" % (sys.executable, json.dumps(imported))


def test_inventory_source_then_image_play_over_a_tag_group(tmp_path, clean_environment, collections_root, harness,  # pylint: disable=unused-argument
                                                           monkeypatch) -> None:
    """The plugin as an AWX inventory source (through ansible-runner), then playbooks/image_tag_group.yml over its group
    tag_role_web: one image per web instance, named after the host, no other instance touched, power as before."""
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    seed = harness.load_seed("default")
    for instance in seed["instances"]:
        if instance["instanceId"] in WEB_TAGGED:
            instance["tags"] = [{"key": "role", "value": WEB_TAGGED[instance["instanceId"]]}]
            instance["publicIpAddresses"] = ["127.0.0.1"]  # ansible_host: where the probe connection goes
    with harness.Emulator(seed, time_scale=TIME_SCALE) as emu:
        injected, _safe = render_injected_env(_key_pair_inputs(emu))
        runner_env = _runner_env(collections_root, tmp_path)
        imported = _inventory_update(tmp_path, injected, runner_env)
        assert sorted(imported["tag_role_web"]["hosts"]) == ["app-fra-1", "web-1", "web-2"]
        web = imported["_meta"]["hostvars"]["web-1"]
        # AWX stores and shows what it imports: plain strings, not {"__ansible_unsafe": ...}
        assert isinstance(web["ansible_host"], str) and web["ansible_host"] == "127.0.0.1", web.get("ansible_host")
        assert isinstance(web["zenlayer_instance_id"], str) and web["zenlayer_instance_id"] == "ins-hkg-web-0001"
        assert emu.credentials.access_key_password not in json.dumps(imported)

        private = _private_data_dir(tmp_path, injected, _inventory_script(imported))
        (private / "inventory" / "hosts").chmod(0o700)
        before = {instance["instanceId"]: instance["instanceStatus"] for instance in emu.state()["instances"]}
        runner, events = _run_job(private, TAG_GROUP_PLAYBOOK, runner_env, {"tag_group": "tag_role_web"}, forks=3)
        _assert_job_succeeded(runner, events, ["app-fra-1", "web-1", "web-2"])
        created = sorted((entry["body"]["instanceId"], entry["body"]["imageName"]) for entry in emu.requests("CreateImage"))
        assert created == [("ins-fra-app-0001", "app-fra-1-golden"), ("ins-hkg-web-0001", "web-1-golden"),
                           ("ins-hkg-web-0002", "web-2-golden")]
        after = {instance["instanceId"]: instance["instanceStatus"] for instance in emu.state()["instances"]}
        assert after == before
        _assert_the_play_connects_with_ansible_host(tmp_path, private, runner_env)


def _assert_the_play_connects_with_ansible_host(tmp_path: Path, private: Path, runner_env: dict) -> None:
    """A job over the imported group whose connection goes to each host's ansible_host: every host answers."""
    plugins = tmp_path / "connection_plugins"
    plugins.mkdir()
    (plugins / "tcp_probe.py").write_text(PROBE_CONNECTION, encoding="utf-8")
    playbook = tmp_path / "probe.yml"
    playbook.write_text(PROBE_PLAYBOOK, encoding="utf-8")
    with _ProbeListener() as listener:
        runner, events = _run_job(private, playbook, dict(runner_env, ANSIBLE_CONNECTION_PLUGINS=str(plugins)),
                                  {"ansible_port": listener.port}, forks=3)
        _assert_job_succeeded(runner, events, ["app-fra-1", "web-1", "web-2"])
        assert listener.lines() == ["127.0.0.1"] * 3


def test_fleet_path_job_in_one_cycle_with_key_credential(tmp_path, clean_environment, collections_root, harness) -> None:  # pylint: disable=unused-argument
    """The fleet path (tasks_from: fleet) as an AWX job over an inventory of instances, the key pair injected as
    AWX injects it: one StopInstances and one StartInstances for the whole job, each host's image published, every
    instance back in its power state, no record left, no secret in any event."""
    with harness.Emulator(harness.load_seed("default"), time_scale=TIME_SCALE) as emu:
        injected, _safe = render_injected_env(dict(_key_pair_inputs(emu), domain=emu.domain, scheme="http"))
        hosts = "".join("%s zenlayer_instance_id=%s\n" % (host, instance) for host, instance in FLEET.items())
        private = _private_data_dir(tmp_path, injected, "[zenlayer_instances]\n" + hosts)
        before = {instance["instanceId"]: instance["instanceStatus"] for instance in emu.state()["instances"]}
        runner, events = _run_job(private, FLEET_PATH_PLAYBOOK, _runner_env(collections_root, tmp_path),
                                  {"fleet_image_suffix": "awx1"}, forks=2)
        _assert_job_succeeded(runner, events, list(FLEET))
        images = _images_from_events(events)
        assert sorted(images) == sorted(FLEET), images
        assert sorted(r["body"]["imageName"] for r in emu.requests("CreateImage")) == sorted("%s-awx1" % h for h in FLEET)
        running = sorted(instance for instance in FLEET.values() if before[instance] == "RUNNING")
        stops = emu.requests("StopInstances")
        assert len(stops) == 1 and sorted(stops[0]["body"]["instanceIds"]) == running, stops
        started = sorted(i for request in emu.requests("StartInstances") for i in request["body"]["instanceIds"])
        assert started == running, "each stopped instance started once: %s" % emu.requests("StartInstances")
        assert all(request["auth"] != "bearer" for request in emu.requests()), "the key pair credential was not used"
        emu.settle()
        after = {instance["instanceId"]: instance["instanceStatus"] for instance in emu.state()["instances"]}
        for instance in FLEET.values():
            assert after[instance] == before[instance], (instance, before[instance], after[instance])
            assert not emu.tags(instance), "a power record was left on %s" % instance
        _assert_secrets_hidden(private, events, [emu.credentials.access_key_password])
