# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run ansible-playbook / ansible (ad-hoc) from this venv against an Emulator, and check what came back.

    from ansible_run import run_playbook, run_adhoc
    rc, output = run_playbook(emu, collections_root, plays, tmp_dir=tmp_path, verbosity=4)
    rc, output = run_adhoc(emu, collections_root, "zenlayer.cloud.zenlayer_image_info", {"zone_id": "HKG-A"},
                           tmp_dir=tmp_path)

`plays` is a playbook path, YAML text, or a list of plays (Python data, written as JSON, which is YAML).
The answer is a tuple (rc, output) that also carries `.results`: every task result of the run as
{"task", "host", "status" (ok|failed|skipped|unreachable), "result"}, recorded by a small callback plugin, so a
test can assert on returned values of failed tasks without parsing the screen output.

The environment (the same for every pytest integration test): ANSIBLE_* and ZENLAYERCLOUD_* of the caller
dropped, ZENLAYERCLOUD_* from emu.env() (or the seed's bearer token with auth="token", none with auth="none"),
ANSIBLE_COLLECTIONS_PATH from the `collections_root` fixture, this Python as the module interpreter, no colour.

Also here: the distinctive secrets of the reliability seed (secret_seed) and find_secrets() to look for them.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterable

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TARGETS_DIR = os.path.join(HERE, "targets")
EMULATOR_DIR = os.path.join(REPO, "tests", "emulator")
DEFAULT_TIMEOUT = 300
ENV_DROP_PREFIXES = ("ZENLAYERCLOUD_", "ANSIBLE_")

# Distinctive secrets: grep for them (and for their obvious fragments) in everything a run leaves behind.
SECRET_KEY_ID = "AKIDRELIABILITY00001"
SECRET_PASSWORD = "S3cr3t-Pa55-zl-4f9c2e"
SECRET_TOKEN = "T0ken-zl-8d1b7a"
SECRET_FRAGMENTS = (SECRET_PASSWORD, SECRET_TOKEN, "S3cr3t", "Pa55-zl", "4f9c2e", "T0ken-zl", "8d1b7a",
                    base64.b64encode(SECRET_PASSWORD.encode()).decode()[:16],
                    base64.b64encode(SECRET_TOKEN.encode()).decode()[:12])

_CALLBACK_NAME = "zc_record"
_CALLBACK_SOURCE = '''
from __future__ import annotations
import json
import os
from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    """Write every task result to $ZC_TASK_RESULTS (JSON list), rewritten after each result."""
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "zc_record"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._records = []

    def _add(self, status, result):
        self._records.append({"task": result._task.get_name(), "host": result._host.get_name(),
                              "status": status, "result": result._result})
        path = os.environ.get("ZC_TASK_RESULTS")
        if path:
            with open(path + ".tmp", "w", encoding="utf-8") as handle:
                json.dump(self._records, handle, default=str)
            os.replace(path + ".tmp", path)

    def v2_runner_on_ok(self, result):
        self._add("ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._add("failed", result)

    def v2_runner_on_skipped(self, result):
        self._add("skipped", result)

    def v2_runner_on_unreachable(self, result):
        self._add("unreachable", result)
'''


class AnsibleRun(tuple):
    """(rc, output), with .results (task results), .command and .duration as attributes."""

    results: list[dict]
    command: list[str]
    duration: float

    def __new__(cls, rc: int, output: str, results: list[dict], command: list[str], duration: float) -> "AnsibleRun":
        run = super().__new__(cls, (rc, output))
        run.results, run.command, run.duration = results, command, duration
        return run

    @property
    def rc(self) -> int:
        return self[0]

    @property
    def output(self) -> str:
        return self[1]

    def task(self, name: str, host: str | None = None) -> dict:
        """The last result of the task whose name is (or starts with) `name`; KeyError when none."""
        for record in reversed(self.results):
            if (record["task"] == name or record["task"].startswith(name)) and host in (None, record["host"]):
                return record
        raise KeyError("no result for task %r (tasks seen: %s)" % (name, sorted({r["task"] for r in self.results})))

    def failed(self, name: str, host: str | None = None) -> bool:
        """Whether the task failed (also when ignore_errors or a rescue let the play go on)."""
        record = self.task(name, host)
        return record["status"] == "failed" or bool(record["result"].get("failed"))

    def report(self) -> str:
        """The command and the output, for assertion messages."""
        return "$ %s\nrc=%s after %.1f s\n%s" % (" ".join(self.command), self.rc, self.duration, self.output[-6000:])


def secret_seed(base: str | dict = "default", **changes: Any) -> dict:
    """A seed (tests/emulator/seeds/BASE.json, or a dict) whose only credentials are the distinctive secrets."""
    if isinstance(base, dict):
        seed = json.loads(json.dumps(base))
    else:
        with open(os.path.join(EMULATOR_DIR, "seeds", base + ".json"), encoding="utf-8") as handle:
            seed = json.load(handle)
    seed["access_keys"] = {SECRET_KEY_ID: SECRET_PASSWORD}
    seed["tokens"] = [SECRET_TOKEN]
    seed.update(changes)
    return seed


def _as_text(text: Any) -> str:
    if isinstance(text, bytes):
        return text.decode("utf-8", "replace")
    return text if isinstance(text, str) else json.dumps(text, default=str)


def find_secrets(*texts: Any) -> list[str]:
    """The secret fragments found in any of the texts (str, bytes, or data dumped as JSON)."""
    found = []
    for text in texts:
        text = _as_text(text)
        found += [fragment for fragment in SECRET_FRAGMENTS if fragment in text]
    return sorted(set(found))


def where_secrets(*texts: Any, around: int = 300) -> str:
    """Where the secrets are: for each text holding one, its number and what surrounds the first (secret masked)."""
    places = []
    for number, text in enumerate(texts):
        text = _as_text(text)
        hits = [text.find(fragment) for fragment in SECRET_FRAGMENTS if fragment in text]
        if hits:
            context = text[max(0, min(hits) - around):min(hits) + around]
            for fragment in sorted(SECRET_FRAGMENTS, key=len, reverse=True):
                context = context.replace(fragment, "<SECRET>")
            places.append("text %d: ...%s..." % (number, context))
    return "\n".join(places)


def _callback_dir(tmp_dir: Path) -> Path:
    directory = tmp_dir / "callback_plugins"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / (_CALLBACK_NAME + ".py")).write_text(_CALLBACK_SOURCE, encoding="utf-8")
    return directory


def ansible_env(emu: Any, collections_root: str, tmp_dir: str | os.PathLike, *, auth: str = "key",
                extra_env: dict | None = None, unset_env: Iterable[str] = ()) -> dict[str, str]:
    """The environment for ansible-playbook / ansible against `emu`.

    auth: "key" (the seed's access key pair, emu.env()), "token" (the seed's first bearer token instead), or "none"
    (no credentials at all)."""
    tmp_dir = Path(tmp_dir)
    env = {name: value for name, value in os.environ.items() if not name.startswith(ENV_DROP_PREFIXES)}
    env.update(emu.env())
    if auth in ("token", "none"):
        env.pop("ZENLAYERCLOUD_ACCESS_KEY_ID", None)
        env.pop("ZENLAYERCLOUD_ACCESS_KEY_PASSWORD", None)
    if auth == "token":
        env["ZENLAYERCLOUD_ACCESS_TOKEN"] = emu.credentials.token or ""
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": collections_root,
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
        "ANSIBLE_ROLES_PATH": TARGETS_DIR,
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_LOCAL_TEMP": str(tmp_dir / "ansible-tmp"),
        "ANSIBLE_HOST_KEY_CHECKING": "0",
        "ANSIBLE_CALLBACK_PLUGINS": str(_callback_dir(tmp_dir)),
        "ANSIBLE_CALLBACKS_ENABLED": _CALLBACK_NAME,
        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    })
    env.update({name: str(value) for name, value in (extra_env or {}).items()})
    for name in unset_env:
        env.pop(name, None)
    return env


def _inventory(tmp_dir: Path, inventory: str | None) -> str:
    if inventory is not None:
        if "\n" in inventory or not os.path.exists(inventory):
            path = tmp_dir / "inventory.ini"
            path.write_text(inventory if inventory.endswith("\n") else inventory + "\n", encoding="utf-8")
            return str(path)
        return inventory
    path = tmp_dir / "inventory.ini"
    path.write_text("localhost ansible_connection=local\n", encoding="utf-8")
    return str(path)


def _playbook(tmp_dir: Path, plays: Any) -> str:
    if isinstance(plays, (list, dict)):
        path = tmp_dir / "playbook.yml"
        path.write_text(json.dumps(plays if isinstance(plays, list) else [plays], indent=1), encoding="utf-8")
        return str(path)
    if "\n" in plays:
        path = tmp_dir / "playbook.yml"
        path.write_text(plays, encoding="utf-8")
        return str(path)
    return plays


def _common_args(emu: Any, inventory: str, extra_vars: dict | None, forks: int | None, verbosity: int) -> list[str]:
    args = ["-i", inventory, "-e", json.dumps(dict({"emulator_url": emu.url, "emulator_domain": emu.domain},
                                                   **(extra_vars or {})))]
    if forks:
        args += ["--forks", str(int(forks))]
    if verbosity:
        args.append("-" + "v" * verbosity)
    return args


def playbook_command(emu: Any, plays: Any, tmp_dir: str | os.PathLike, *, inventory: str | None = None,
                     extra_vars: dict | None = None, forks: int | None = None, verbosity: int = 0,
                     check: bool = False) -> list[str]:
    """The ansible-playbook command line (this venv's ansible-playbook), writing the playbook/inventory when needed."""
    tmp_dir = Path(tmp_dir)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    command = [str(Path(sys.executable).parent / "ansible-playbook")]
    command += _common_args(emu, _inventory(tmp_dir, inventory), extra_vars, forks, verbosity)
    if check:
        command.append("--check")
    return command + [_playbook(tmp_dir, plays)]


def _finish(command: list[str], tmp_dir: Path, rc: int, output: bytes, started: float) -> AnsibleRun:
    results_path = tmp_dir / "task-results.json"
    try:
        results = json.loads(results_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        results = []
    return AnsibleRun(rc, output.decode("utf-8", "replace"), results, command, time.monotonic() - started)


def _start(command: list[str], env: dict, tmp_dir: Path) -> subprocess.Popen:
    """The command in a session (process group) of its own, so that it can be killed with all it started."""
    return subprocess.Popen(command, env=env, cwd=str(tmp_dir), stdin=subprocess.DEVNULL,  # pylint: disable=consider-using-with
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the process and every process of its group (ansible-playbook's workers, the modules they run)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except OSError:  # the group is gone already
        pass


def _communicate(process: subprocess.Popen, timeout: float) -> tuple[int, bytes]:
    """(rc, output) once the process ended (killed with its group after `timeout` s); nothing of it runs on."""
    try:
        try:
            output = process.communicate(timeout=timeout)[0]
        except subprocess.TimeoutExpired:
            kill_group(process)
            output = process.communicate()[0] + b"\n[ansible_run] timed out after %d s" % int(timeout)
            return -9, output
        return process.returncode, output
    finally:
        kill_group(process)
        process.wait()


def _execute(command: list[str], env: dict, tmp_dir: Path, timeout: float) -> AnsibleRun:
    started = time.monotonic()
    env = dict(env, ZC_TASK_RESULTS=str(tmp_dir / "task-results.json"))
    rc, output = _communicate(_start(command, env, tmp_dir), timeout)
    return _finish(command, tmp_dir, rc, output, started)


def run_playbook(emu: Any, collections_root: str, plays: Any, *, tmp_dir: str | os.PathLike,
                 inventory: str | None = None, extra_vars: dict | None = None, forks: int | None = None,
                 verbosity: int = 0, check: bool = False, auth: str = "key", extra_env: dict | None = None,
                 unset_env: Iterable[str] = (), timeout: float = DEFAULT_TIMEOUT) -> AnsibleRun:
    """Run ansible-playbook against `emu`; returns (rc, output) with .results. Never raises on a failed play."""
    tmp_dir = Path(tmp_dir)
    command = playbook_command(emu, plays, tmp_dir, inventory=inventory, extra_vars=extra_vars, forks=forks,
                               verbosity=verbosity, check=check)
    env = ansible_env(emu, collections_root, tmp_dir, auth=auth, extra_env=extra_env, unset_env=unset_env)
    return _execute(command, env, tmp_dir, timeout)


class BackgroundPlaybook:
    """ansible-playbook in a subprocess (Popen), for doing things to the emulator while it runs.

    Use it as a context manager (``with BackgroundPlaybook(...) as run:``), or call close() in a finally: whatever
    happens in the test, the playbook and every process it started are killed at the end."""

    def __init__(self, emu: Any, collections_root: str, plays: Any, *, tmp_dir: str | os.PathLike, auth: str = "key",
                 extra_env: dict | None = None, unset_env: Iterable[str] = (), **command_options: Any) -> None:
        self.tmp_dir = Path(tmp_dir)
        self.command = playbook_command(emu, plays, self.tmp_dir, **command_options)
        env = ansible_env(emu, collections_root, self.tmp_dir, auth=auth, extra_env=extra_env, unset_env=unset_env)
        env["ZC_TASK_RESULTS"] = str(self.tmp_dir / "task-results.json")
        self.started = time.monotonic()
        self.process = _start(self.command, env, self.tmp_dir)

    def wait(self, timeout: float = DEFAULT_TIMEOUT) -> AnsibleRun:
        """The run's result once it ended (killed, with all it started, after `timeout` s)."""
        rc, output = _communicate(self.process, timeout)
        return _finish(self.command, self.tmp_dir, rc, output, self.started)

    def close(self) -> None:
        """Kill the playbook and everything it started, if they still run."""
        kill_group(self.process)
        if self.process.returncode is None:
            self.process.communicate()

    def __enter__(self) -> "BackgroundPlaybook":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def run_adhoc(emu: Any, collections_root: str, module: str, args: dict | str | None = None, *,
              tmp_dir: str | os.PathLike, host: str = "localhost", inventory: str | None = None,
              extra_vars: dict | None = None, verbosity: int = 0, check: bool = False, auth: str = "key",
              extra_env: dict | None = None, unset_env: Iterable[str] = (), timeout: float = DEFAULT_TIMEOUT) -> AnsibleRun:
    """Run `ansible HOST -m MODULE -a ARGS` against `emu` (args as a dict are passed as JSON)."""
    tmp_dir = Path(tmp_dir)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    command = [str(Path(sys.executable).parent / "ansible"), host, "-m", module]
    if args:
        command += ["-a", json.dumps(args) if isinstance(args, dict) else args]
    command += _common_args(emu, _inventory(tmp_dir, inventory), extra_vars, None, verbosity)
    if check:
        command.append("--check")
    env = ansible_env(emu, collections_root, tmp_dir, auth=auth, extra_env=extra_env, unset_env=unset_env)
    return _execute(command, env, tmp_dir, timeout)


# -- scenario records for docs/reliability.md (scripts/reliability.py) ------------------------------------------------

RESULTS_ENV = "ZC_RELIABILITY_RESULTS"


def results_path() -> str:
    """Where scenario records go: $ZC_RELIABILITY_RESULTS, else tests/output/reliability/results.jsonl."""
    return os.environ.get(RESULTS_ENV) or os.path.join(REPO, "tests", "output", "reliability", "results.jsonl")


def duplicated_images(state: dict) -> int:
    """How many custom images share a (zone, name) with an earlier one."""
    seen: dict[tuple, int] = {}
    for image in state.get("images", []):
        if image.get("zoneId") and image.get("imageType") != "PUBLIC_IMAGE":
            key = (image["zoneId"], image.get("imageName"))
            seen[key] = seen.get(key, 0) + 1
    return sum(count - 1 for count in seen.values())


class Scenario:
    """One scenario of the report: `with Scenario(...) as sc:` records whether the block held, and the counts.

    Inside, call sc.scan(...) on everything a run produced (counts secret leaks, asserts none), sc.check_images(state)
    (counts duplicates, asserts none), sc.check_power(state, expected) (counts instances left down, asserts none) and
    set sc.outcome to one line saying what the user saw."""

    def __init__(self, category: str, name: str, target: str, *, fault: str = "", expect: str = "",
                 inputs: Iterable[str] = ()) -> None:
        self.record: dict[str, Any] = {"category": category, "scenario": name, "target": target, "fault": fault,
                                       "expect": expect, "inputs": list(inputs), "outcome": "", "held": False,
                                       "images_duplicated": 0, "instances_left_down": 0, "secrets_leaked": 0,
                                       "error": None}
        self._started = 0.0

    @property
    def outcome(self) -> str:
        return self.record["outcome"]

    @outcome.setter
    def outcome(self, text: str) -> None:
        self.record["outcome"] = " ".join(str(text).split())[:300]

    def scan(self, *texts: Any) -> None:
        leaked = find_secrets(*texts)
        self.record["secrets_leaked"] += len(leaked)
        assert not leaked, "secret fragments leaked: %s\n%s" % (leaked, where_secrets(*texts))

    def check_images(self, state: dict) -> None:
        duplicates = duplicated_images(state)
        self.record["images_duplicated"] += duplicates
        assert duplicates == 0, "duplicate images: %s" % [(i["imageId"], i["zoneId"], i["imageName"]) for i in state["images"]]

    def check_power(self, state: dict, expected: dict[str, str]) -> None:
        """expected: {instance_id: RUNNING|STOPPED}; an instance expected RUNNING that is not counts as left down."""
        statuses = {item["instanceId"]: item["instanceStatus"] for item in state["instances"]}
        down = [iid for iid, status in expected.items() if status == "RUNNING" and statuses.get(iid) != "RUNNING"]
        self.record["instances_left_down"] += len(down)
        wrong = {iid: statuses.get(iid) for iid, status in expected.items() if statuses.get(iid) != status}
        assert not wrong, "instances not in their expected power state %s: %s" % (expected, wrong)

    def __enter__(self) -> "Scenario":
        self._started = time.monotonic()
        return self

    def __exit__(self, exc_type: Any, exc: Any, _tb: Any) -> bool:
        self.record["held"] = exc is None
        if exc is not None:
            self.record["error"] = ("%s: %s" % (exc_type.__name__, exc))[:500]
        self.record["seconds"] = round(time.monotonic() - self._started, 1)
        path = results_path()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a", encoding="utf-8") as handle:  # one short line per write: safe across xdist workers
            handle.write(json.dumps(self.record, default=str) + "\n")
        return False
