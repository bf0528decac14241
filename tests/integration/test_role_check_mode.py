# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The role's --check predicts the real run: the same changed tasks, no write; a happy run prints no warning and its
look-first step reports no change. Without tag permission the role warns once and keeps the always-guarantee."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ansible_run import run_playbook, secret_seed

pytestmark = pytest.mark.boundary  # the role in ansible-playbook --check

RECAP = re.compile(r"^localhost\s*:.*?changed=(\d+).*?failed=(\d+)", re.MULTILINE)
CHANGED_TASK = re.compile(r"^TASK \[(?P<task>[^\]]+)\][^\n]*\n(?:(?!TASK \[).*\n)*?changed: \[localhost\]", re.MULTILINE)


def role_play(instance_id: str) -> list[dict]:
    return [{"hosts": "localhost", "gather_facts": False,
             "roles": [{"role": "zenlayer.cloud.image_from_instance",
                        "vars": {"image_from_instance_instance_id": instance_id,
                                 "image_from_instance_name": "check-golden"}}]}]


def changed_tasks(output: str) -> list[str]:
    return [match.group("task") for match in CHANGED_TASK.finditer(output)]


@pytest.mark.parametrize("instance_id", ["ins-hkg-web-0001", "ins-hkg-db-0001"], ids=["running", "stopped"])
def test_check_mode_predicts_the_changed_tasks_of_the_real_run(instance_id: str, tmp_path: Path, harness,
                                                               collections_root: str) -> None:
    with harness.Emulator(secret_seed(), time_scale=0.05) as emu:
        predicted = run_playbook(emu, collections_root, role_play(instance_id), tmp_dir=tmp_path / "check", check=True)
        assert predicted.rc == 0, predicted.report()
        assert not [entry for entry in emu.requests() if not entry["action"].startswith("Describe")], "check mode wrote"
        real = run_playbook(emu, collections_root, role_play(instance_id), tmp_dir=tmp_path / "real")
        assert real.rc == 0, real.report()
    assert changed_tasks(real.output), "the real run changes something: the comparison below must not be empty"
    assert changed_tasks(predicted.output) == changed_tasks(real.output)
    assert RECAP.search(predicted.output).group(1) == RECAP.search(real.output).group(1)
    assert "[WARNING]" not in real.output and "[WARNING]" not in predicted.output
    assert not any("pre-flight" in task.lower() or "Ask whether" in task for task in changed_tasks(real.output))


def test_without_tag_permission_the_role_warns_once_and_still_puts_the_power_back(tmp_path: Path, harness,
                                                                                  collections_root: str) -> None:
    seed = secret_seed()
    with harness.Emulator(seed, time_scale=0.05) as emu:
        emu.patch(tag_denied_keys=list(seed["access_keys"]))
        run = run_playbook(emu, collections_root, role_play("ins-hkg-web-0001"), tmp_dir=tmp_path)
        assert run.rc == 0, run.report()
        assert run.output.count("may not tag instance") == 1
        assert emu.instance("ins-hkg-web-0001")["instanceStatus"] == "RUNNING"
        assert [image["imageStatus"] for image in emu.images(name="check-golden")] == ["AVAILABLE"]
