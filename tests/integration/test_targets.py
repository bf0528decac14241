# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The integration runner: every tests/integration/targets/NAME/ (but setup_*) is one test.

Each test starts the emulator (tests/emulator) with the target's seed, writes a playbook that applies the role NAME
(ANSIBLE_ROLES_PATH=tests/integration/targets) and runs ansible-playbook from the venv of this Python against it.
See tests/integration/README.md for the files a target may hold.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_run import ansible_env  # tests/integration, put on sys.path by pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TARGETS_DIR = os.path.join(HERE, "targets")
EMULATOR_DIR = os.path.join(os.path.dirname(HERE), "emulator")
TIMEOUT = 300
DEFAULT_TIME_SCALE = 0.05


def discover_targets() -> list[str]:
    """The target names, sorted."""
    if not os.path.isdir(TARGETS_DIR):
        return []
    return sorted(name for name in os.listdir(TARGETS_DIR)
                  if os.path.isdir(os.path.join(TARGETS_DIR, name)) and not name.startswith(("setup_", ".")))


def _load_json(path: Path, default):
    if path.is_file():
        with path.open(encoding="utf-8") as handle:
            return json.load(handle)
    return default


def _tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(none)"


@pytest.mark.parametrize("target", discover_targets())
def test_target(target: str, tmp_path: Path, collections_root: str, harness) -> None:  # pylint: disable=redefined-outer-name
    """Run the target's role with ansible-playbook against a fresh emulator."""
    files = Path(TARGETS_DIR) / target / "files"
    seed = files / "seed.json"
    if not seed.is_file():
        seed = Path(EMULATOR_DIR) / "seeds" / "default.json"
    options = _load_json(files / "emulator.json", {})
    runner = _load_json(files / "runner.json", {})

    if runner.get("inventory"):
        inventory = str(files / runner["inventory"])
        hosts = "all"
    else:
        inventory = str(tmp_path / "inventory.ini")
        Path(inventory).write_text("localhost ansible_connection=local\n", encoding="utf-8")
        hosts = "localhost"
    playbook = tmp_path / "playbook.yml"
    playbook.write_text("- hosts: %s\n  gather_facts: false\n  roles:\n    - %s\n" % (hosts, json.dumps(target)),
                        encoding="utf-8")

    emulator_log = tmp_path / "emulator.log"
    with harness.Emulator(str(seed), time_scale=float(options.get("time_scale", DEFAULT_TIME_SCALE)),
                          rate_limit=options.get("rate_limit", 0), log_file=str(emulator_log)) as emu:
        if options.get("faults"):
            emu.add_faults(*options["faults"])
        env = ansible_env(emu, collections_root, tmp_path, extra_env=runner.get("extra_env"),
                          unset_env=runner.get("unset_env") or ())
        command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", inventory, str(playbook),
                   "-e", json.dumps({"emulator_url": emu.url, "emulator_domain": emu.domain})]
        if runner.get("forks"):
            command += ["--forks", str(int(runner["forks"]))]
        try:
            result = subprocess.run(command, env=env, cwd=str(tmp_path), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=TIMEOUT, check=False)
            output = result.stdout.decode("utf-8", "replace")
            failure = None if result.returncode == 0 else "ansible-playbook exited with %d" % result.returncode
        except subprocess.TimeoutExpired as error:
            output = (error.stdout or b"").decode("utf-8", "replace")
            failure = "ansible-playbook timed out after %d s" % TIMEOUT
    if failure:
        pytest.fail("target %s: %s\n$ %s\n%s\n--- emulator log (tail) ---\n%s"
                    % (target, failure, " ".join(command), output, _tail(emulator_log)), pytrace=False)
