# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared helpers of the benchmark: the collection under test, ansible runs against the emulator, request counts."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EMULATOR_DIR = os.path.join(REPO, "tests", "emulator")
if EMULATOR_DIR not in sys.path:
    sys.path.insert(0, EMULATOR_DIR)

from harness import Emulator  # noqa: E402  pylint: disable=wrong-import-position,unused-import

WRITE_ACTIONS = frozenset({"CreateImage", "DeleteImages", "ModifyImagesAttributes", "StopInstances", "StartInstances",
                           "RebootInstances", "ModifyResourceTags"})
STATUS_ACTIONS = frozenset({"DescribeImages", "DescribeInstancesStatus", "DescribeInstances"})
ACCESS_KEY = {"AKIDEMULATOR00000001": "emulator-secret-0123456789"}


class Collection:
    """A checkout of the collection (this one, or an exported git revision) seen through ANSIBLE_COLLECTIONS_PATH."""

    def __init__(self, source: str, label: str, workdir: str) -> None:
        self.source, self.label = source, label
        self.root = os.path.join(workdir, "collections-" + label)
        namespace = os.path.join(self.root, "ansible_collections", "zenlayer")
        os.makedirs(namespace, exist_ok=True)
        os.symlink(source, os.path.join(namespace, "cloud"))

    @classmethod
    def from_git(cls, revision: str, label: str, workdir: str) -> Collection:
        """Export `revision` of this repository (its plugins and roles) into workdir."""
        target = os.path.join(workdir, "export-" + label)
        os.makedirs(target)
        archive = subprocess.run(["git", "-C", REPO, "archive", revision, "galaxy.yml", "meta", "plugins", "roles"],
                                 check=True, stdout=subprocess.PIPE).stdout
        subprocess.run(["tar", "-x", "-C", target], input=archive, check=True)
        return cls(target, label, workdir)


def ansible_version() -> str:
    """The ansible-core version of this Python, for a report's header ("unknown" without ansible-core)."""
    try:
        from ansible.release import __version__  # pylint: disable=import-outside-toplevel
    except ImportError:
        return "unknown"
    return __version__


def bin_path(tool: str) -> str:
    return os.path.join(os.path.dirname(sys.executable), tool)


def ansible_env(emu: Emulator, collection: Collection, workdir: str, **extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith(("ZENLAYERCLOUD_", "ANSIBLE_"))}
    env.update(emu.env())
    env.update({"ANSIBLE_COLLECTIONS_PATH": collection.root, "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
                "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCALHOST_WARNING": "false",
                "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false", "ANSIBLE_HOST_KEY_CHECKING": "false",
                "ANSIBLE_LOCAL_TEMP": os.path.join(workdir, "ansible-local"),
                "ANSIBLE_REMOTE_TEMP": os.path.join(workdir, "ansible-remote"),
                "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
                "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"})
    env.update(extra)
    return env


class Run:
    """One ansible / ansible-playbook process: exit code, output, wall seconds and its start/end (epoch)."""

    def __init__(self, returncode: int, output: str, started: float, ended: float) -> None:
        self.returncode, self.output, self.started, self.ended = returncode, output, started, ended

    @property
    def seconds(self) -> float:
        return self.ended - self.started


def run(command: list[str], env: dict[str, str], cwd: str, timeout: float = 900) -> Run:
    started = time.time()
    result = subprocess.run(command, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, check=False, timeout=timeout)
    return Run(result.returncode, result.stdout.decode("utf-8", "replace"), started, time.time())


def write(path: str, text: str) -> str:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def count_requests(requests: list[dict]) -> dict[str, Any]:
    """Calls, reads, writes, throttled answers and the count per action of a request log."""
    actions = Counter(entry["action"] for entry in requests)
    writes = sum(count for action, count in actions.items() if action in WRITE_ACTIONS)
    throttled = sum(1 for entry in requests if entry.get("http_status") == 429)
    return {"calls": len(requests), "reads": len(requests) - writes, "writes": writes, "throttled": throttled,
            "by_action": dict(sorted(actions.items()))}


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def seed(instances: list[dict], *, images: list[dict] | None = None, timings: dict | None = None,
         image_quota: int = 1000) -> dict:
    return {"access_keys": dict(ACCESS_KEY), "tokens": ["emulator-token-0123456789"],
            "zones": [{"zoneId": "HKG-A", "zoneName": "Hong Kong A", "supportImage": True},
                      {"zoneId": "FRA-A", "zoneName": "Frankfurt A", "supportImage": True}],
            "instances": instances, "images": images or [], "image_quota": image_quota,
            "timings": timings or {"stop_seconds": 2, "start_seconds": 2, "image_seconds": 3}}


def instance(instance_id: str, status: str = "RUNNING", zone_id: str = "HKG-A") -> dict:
    return {"instanceId": instance_id, "zoneId": zone_id, "instanceName": instance_id, "instanceStatus": status,
            "systemDiskSize": 20}


def tempdir(prefix: str) -> str:
    return tempfile.mkdtemp(prefix=prefix)


def cleanup(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


def update_section(path: str, start: str, end: str, section: str) -> None:
    """Replace the block between the markers `start` and `end` in the page `path` (append it when absent)."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    block = "%s\n%s%s\n" % (start, section, end)
    if start in text and end in text:
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1].lstrip("\n")
        text = before + block + ("\n" + after if after else "")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    write(path, text)
