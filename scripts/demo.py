# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The demo driver (run by scripts/demo.sh inside its venv).

Starts the emulator (tests/emulator) with the "demo" seed (one RUNNING instance), runs playbooks/demo.yml twice
with ansible-playbook, prints a summary from the emulator's request log and state, and exits non-zero when the
first run did not stop, image and start exactly once, or when the second run changed or stopped anything.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "emulator"))

import leftovers  # noqa: E402  pylint: disable=wrong-import-position
from harness import Emulator, load_seed  # noqa: E402  pylint: disable=wrong-import-position

PLAYBOOK = os.path.join(REPO, "playbooks", "demo.yml")
INSTANCE_ID = "demo-instance-1"
IMAGE_NAME = "demo-web-golden"
WRITE_ACTIONS = ("CreateImage", "DeleteImages", "ModifyImagesAttributes", "StopInstances", "StartInstances", "RebootInstances",
                 "ModifyResourceTags")
RECAP = re.compile(r"^localhost\s*:.*?changed=(\d+).*?failed=(\d+)", re.MULTILINE)


def collections_dir(tmp: str) -> str:
    """A temp ANSIBLE_COLLECTIONS_PATH whose ansible_collections/zenlayer/cloud links to this checkout."""
    namespace = os.path.join(tmp, "ansible_collections", "zenlayer")
    os.makedirs(namespace)
    os.symlink(REPO, os.path.join(namespace, "cloud"))
    return tmp


def run_playbook(emu: Emulator, tmp: str, label: str, verbose: bool) -> tuple[int, int, int, str]:
    """Run the demo play once; returns (exit code, changed tasks, failed tasks, output)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("ZENLAYERCLOUD_", "ANSIBLE_"))}
    env.update(emu.env())
    env.update({"ANSIBLE_COLLECTIONS_PATH": collections_dir(os.path.join(tmp, label)),
                "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false", "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_LOCALHOST_WARNING": "false", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
                "ANSIBLE_LOCAL_TEMP": os.path.join(tmp, label, "ansible-tmp"),
                "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"})
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), PLAYBOOK,
               "-e", "demo_instance_id=%s demo_image_name=%s" % (INSTANCE_ID, IMAGE_NAME)]
    result = subprocess.run(command, env=env, cwd=tmp, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, check=False, timeout=300)
    output = result.stdout.decode("utf-8", "replace")
    if verbose:
        print(output)
    recap = RECAP.search(output)
    changed, failed = (int(recap.group(1)), int(recap.group(2))) if recap else (-1, -1)
    return result.returncode, changed, failed, output


def call_counts(requests: list[dict]) -> tuple[int, Counter, Counter]:
    reads = Counter(r["action"] for r in requests if r["action"] not in WRITE_ACTIONS)
    writes = Counter(r["action"] for r in requests if r["action"] in WRITE_ACTIONS)
    return len(requests), reads, writes


def describe_counts(counter: Counter) -> str:
    return ", ".join("%s %d" % (action, count) for action, count in sorted(counter.items())) or "none"


def instance_status(emu: Emulator) -> str:
    return (emu.instance(INSTANCE_ID) or {}).get("instanceStatus", "MISSING")


class Demo:
    def __init__(self, emu: Emulator, tmp: str, verbose: bool) -> None:
        self.emu, self.tmp, self.verbose = emu, tmp, verbose
        self.problems: list[str] = []

    def expect(self, condition: bool, problem: str) -> None:
        if not condition:
            self.problems.append(problem)

    def run(self, number: int) -> tuple[int, Counter, list[dict]]:
        self.emu.clear_requests()
        events_before = len(self.emu.events())
        status_before = instance_status(self.emu)
        started = time.monotonic()
        code, changed, failed, output = run_playbook(self.emu, self.tmp, "run%d" % number, self.verbose)
        seconds = time.monotonic() - started
        total, reads, writes = call_counts(self.emu.requests())
        events = [e for e in self.emu.events()[events_before:] if e["kind"] == "instance" and e["id"] == INSTANCE_ID]
        print("Run %d: ansible-playbook exit %d, %d task(s) changed, %d failed, %.1f s"
              % (number, code, changed, failed, seconds))
        path = "" if not events else " (went %s)" % " -> ".join([events[0]["from"]] + [e["to"] for e in events])
        print("  instance %s: %s before, %s after%s" % (INSTANCE_ID, status_before, instance_status(self.emu), path))
        print("  API calls: %d (reads: %s; writes: %d: %s)"
              % (total, describe_counts(reads), sum(writes.values()), describe_counts(writes)))
        if code != 0 and not self.verbose:
            print(output)
        self.expect(code == 0 and failed == 0, "run %d: ansible-playbook failed (exit %d)" % (number, code))
        return changed, writes, events

    def images(self) -> list[dict]:
        return self.emu.images(zone_id="HKG-A", name=IMAGE_NAME)

    def main(self) -> int:
        print("Emulator at %s (seed 'demo', time scale %s); instance %s is %s\n"
              % (self.emu.url, self.emu.time_scale, INSTANCE_ID, instance_status(self.emu)))
        writes = self.run(1)[1]
        # a run longer than two thirds of the lease (300 s, 30 real seconds at the demo's time scale) renews it
        renewals = sum(kind == "renewed" for _entry, kind, _record in self.emu.record_writes())
        self.expect(writes == Counter({"StopInstances": 1, "CreateImage": 1, "StartInstances": 1,
                                       "ModifyResourceTags": 2 + renewals}),
                    "run 1: expected one StopInstances, one CreateImage, one StartInstances and the power record set "
                    "and removed (two ModifyResourceTags, and %d lease renewals), got %s" % (renewals, describe_counts(writes)))
        self.expect(not self.emu.tags(INSTANCE_ID), "run 1: the power record was left on the instance")
        self.expect(instance_status(self.emu) == "RUNNING", "run 1: the instance is not RUNNING again")
        for image in self.images():
            print("  image %s '%s': %s, %s GB" % (image["imageId"], image["imageName"], image["imageStatus"],
                                                  image["imageSize"]))
        changed, writes, events = self.run(2)
        self.expect(changed == 0, "run 2: %d task(s) reported changed; expected none" % changed)
        self.expect(not writes, "run 2: made write calls: %s" % describe_counts(writes))
        self.expect(not events, "run 2: the instance changed state: %s" % events)
        images = self.images()
        self.expect(len(images) == 1 and images[0]["imageStatus"] == "AVAILABLE",
                    "expected exactly one AVAILABLE image named %s, found %s" % (IMAGE_NAME, images))
        self.expect(instance_status(self.emu) == "RUNNING", "the instance is not RUNNING at the end")
        print()
        if self.problems:
            print("DEMO FAILED:\n  " + "\n  ".join(self.problems))
            return 1
        print("Demo OK: the first run recorded the power to put back, stopped, imaged and restarted the instance, and "
              "removed the record; "
              "the second run found the image, changed nothing and never stopped the instance.")
        return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-scale", type=float, default=0.1, help="emulator time scale (default 0.1)")
    parser.add_argument("--verbose", action="store_true", help="print the ansible-playbook output of each run")
    args = parser.parse_args()
    run = leftovers.mark_run()  # the emulator and the playbooks carry this mark: the demo checks it left nothing
    with tempfile.TemporaryDirectory(prefix="zenlayer-demo-") as tmp:
        with Emulator(load_seed("demo"), time_scale=args.time_scale) as emu:
            code = Demo(emu, tmp, args.verbose).main()
    left = leftovers.leftovers(run)
    if left:
        leftovers.clean_up(left)
        print("DEMO FAILED: it left these behind (now stopped and removed):\n" + leftovers.report(left))
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
