# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The README's Quick start, role and tag-group blocks, taken from README.md itself and run as a newcomer runs them.

The blocks run in order with bash from a folder that looks like the checkout (its Makefile, scripts, tests and
playbooks linked in; the files the README has you write land there, not in the checkout), against the emulator that
their own `make emulator` starts (EMULATOR_DIR in the test's temp folder), with the collection where an installed one
would be (ANSIBLE_COLLECTIONS_PATH) and this venv's ansible first on PATH. Each command's output and the emulator's
world are checked against what the command asks for, so a README edit that breaks a block fails this test.

A YAML block whose first line is a comment starting with a file name (`# image-one.yml`) is written to that file.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.boundary  # ad-hoc use, a play, the inventory plugin: what a newcomer runs first

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
SECTIONS = ("Quick start", "The role", "Inventory")
LINKED = ("Makefile", "scripts", "tests", "playbooks")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
STATUS_OF = {"stopped": "STOPPED", "running": "RUNNING"}
RECAP = re.compile(r"^(\S+)\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE)


def section(text: str, title: str) -> str:
    """The body of the `## title` section of the README."""
    match = re.search(r"^## %s\n(.*?)(?=^## |\Z)" % re.escape(title), text, re.MULTILINE | re.DOTALL)
    assert match, "README.md has no section '## %s' (tests/integration/test_readme.py runs its blocks)" % title
    return match.group(1)


def blocks(body: str) -> list[tuple[str, str]]:
    """The fenced blocks of a section: (language, text)."""
    return list(FENCE.findall(body))


def commands(script: str) -> list[str]:
    """The commands of a sh block: comments and blank lines dropped, `\\` continuations joined."""
    joined = re.sub(r"\\\n\s*", " ", script)
    return [line.strip() for line in joined.splitlines() if shlex.split(line, comments=True)]


def _checkout_view(tmp_path: Path) -> Path:
    view = tmp_path / "checkout"
    view.mkdir()
    for name in LINKED:
        (view / name).symlink_to(REPO / name)
    return view


def _environment(tmp_path: Path, collections_root: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith(("ZENLAYERCLOUD_", "ANSIBLE_"))}
    env.update({"PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
                "EMULATOR_DIR": str(tmp_path / "emulator"), "ANSIBLE_COLLECTIONS_PATH": collections_root,
                "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"), "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0",
                "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost", "MAKEFLAGS": ""})
    return env


def run_command(command: str, cwd: Path, env: dict[str, str]) -> str:
    """Run one command of a block with bash, as typed into a shell: what it exports (`eval "$(...)"`) stays in `env`
    for the next ones. Its output (stdout and stderr); the test fails when it fails."""
    env_file = cwd.parent / "env-after"
    script = "set -eo pipefail\n%s\nenv -0 > %s\n" % (command, shlex.quote(str(env_file)))
    done = subprocess.run(["bash", "-c", script], cwd=str(cwd), env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600, check=False)
    assert done.returncode == 0, "the README command `%s` failed (exit %d):\n%s" % (
        command, done.returncode, done.stdout[-4000:])
    env.clear()
    env.update(entry.split("=", 1) for entry in env_file.read_text(encoding="utf-8").split("\0") if "=" in entry)
    return done.stdout


def _world(env: dict[str, str]) -> dict:
    url = "http://" + env["ZENLAYERCLOUD_DOMAIN"] + "/_emulator/state"
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.loads(answer.read().decode("utf-8"))


def _adhoc_arguments(command: str) -> tuple[str, dict[str, str]]:
    words = shlex.split(command, comments=True)
    module = words[words.index("-m") + 1]
    arguments = dict(word.split("=", 1) for word in shlex.split(words[words.index("-a") + 1]))
    return module, arguments


def check_adhoc(command: str, output: str, world: dict) -> None:
    """An ad-hoc command: it succeeded, and the world is as it asked."""
    assert re.search(r"^localhost \| (CHANGED|SUCCESS) =>", output, re.MULTILINE), "`%s` did not succeed:\n%s" % (
        command, output[-3000:])
    module, arguments = _adhoc_arguments(command)
    instances = {item["instanceId"]: item for item in world["instances"]}
    if module.endswith("zenlayer_instance_power"):
        for instance_id in arguments["instance_ids"].split(","):
            assert instances[instance_id]["instanceStatus"] == STATUS_OF[arguments["state"]], (command, instances[instance_id])
    elif module.endswith(".zenlayer_image"):
        zone = instances[arguments["instance_id"]]["zoneId"]
        made = [image for image in world["images"] if image["imageName"] == arguments["name"] and image["zoneId"] == zone]
        assert [image["imageStatus"] for image in made] == ["AVAILABLE"], (command, made)
        assert '"image_status": "AVAILABLE"' in output and made[0]["imageId"] in output, output
    elif module.endswith("zenlayer_image_info"):
        assert '"image_name": "%s"' % arguments["name"] in output, output


def check_playbook(command: str, output: str, world: dict, before: dict) -> list[str]:
    """A playbook run: every host ok, no failure; no instance left in another power state. Returns the hosts."""
    recap = RECAP.findall(output)
    assert recap and all(int(unreachable) == 0 and int(failed) == 0 for _host, _changed, unreachable, failed in recap), (
        "`%s` failed:\n%s" % (command, output[-4000:]))
    after = {item["instanceId"]: item["instanceStatus"] for item in world["instances"]}
    assert after == before, "`%s` left instances in another power state: %s -> %s" % (command, before, after)
    return [host for host, _changed, _unreachable, _failed in recap]


def write_files(body: str, cwd: Path) -> list[str]:
    """The YAML blocks that name their file on their first line, written there; their names."""
    written = []
    for language, text in blocks(body):
        first = text.splitlines()[0] if text.strip() else ""
        match = re.match(r"#\s*(\S+\.ya?ml)\b", first)
        if language in ("yaml", "yml") and match:
            (cwd / match.group(1)).write_text(text, encoding="utf-8")
            written.append(match.group(1))
    return written


def _run_section(title: str, cwd: Path, env: dict[str, str]) -> list[tuple[str, str, dict, dict]]:
    """Write the section's files, run the commands of its sh blocks in order; for each (command, output, the
    emulator's world before it, and after it)."""
    body = section(README.read_text(encoding="utf-8"), title)
    write_files(body, cwd)
    scripts = [text for language, text in blocks(body) if language in ("sh", "bash", "shell")]
    assert scripts, "the README's '%s' section has no sh block to run" % title
    results = []
    for command in [command for script in scripts for command in commands(script)]:
        before = _world(env) if env.get("ZENLAYERCLOUD_DOMAIN") else {}
        output = run_command(command, cwd, env)
        results.append((command, output, before, _world(env) if env.get("ZENLAYERCLOUD_DOMAIN") else {}))
    return results


def _statuses(world: dict) -> dict[str, str]:
    return {item["instanceId"]: item["instanceStatus"] for item in world["instances"]}


def test_the_readme_blocks_run_as_written(tmp_path: Path, collections_root: str) -> None:
    cwd = _checkout_view(tmp_path)
    env = _environment(tmp_path, collections_root)
    try:
        quick = _run_section("Quick start", cwd, env)
        assert shlex.split(quick[0][0], comments=True) == ["make", "emulator"], "the Quick start starts with make emulator"
        assert "export ZENLAYERCLOUD_DOMAIN=127.0.0.1:" in quick[0][1], quick[0]
        adhoc = [(command, output, after) for command, output, _before, after in quick if command.startswith("ansible ")]
        assert len(adhoc) >= 3, "the Quick start runs at least three modules ad hoc: %s" % [item[0] for item in quick]
        for command, output, after in adhoc:
            check_adhoc(command, output, after)

        role = [item for item in _run_section("The role", cwd, env) if item[0].startswith("ansible-playbook ")]
        assert role, "the role section runs its play with ansible-playbook"
        for command, output, before, after in role:
            check_playbook(command, output, after, _statuses(before))

        tag_group = _run_section("Inventory", cwd, env)
        graph = next(item[1] for item in tag_group if item[0].startswith("ansible-inventory "))
        web = sorted(item["instanceName"] for item in _world(env)["instances"]
                     if {"key": "role", "value": "web"} in item.get("tags", []))
        assert "@tag_role_web:" in graph and all("--%s\n" % name in graph for name in web), (web, graph)
        command, output, before, after = next(item for item in tag_group if item[0].startswith("ansible-playbook "))
        hosts = check_playbook(command, output, after, _statuses(before))
        assert sorted(hosts) == web, "the tag group's play ran on %s, expected %s" % (hosts, web)
        images = {image["imageName"]: image["imageStatus"] for image in after["images"]}
        assert all(images.get(name + "-golden") == "AVAILABLE" for name in web), images
    finally:
        subprocess.run(["make", "-s", "emulator-stop"], cwd=str(cwd), env=env, capture_output=True, check=False)
