# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Secrets (issue 5): with a distinctive access key password and token, at -vvvv, neither appears in any output,
warning, error, diff or returned value - also when the API echoes them in an error message, when they are given
as module options, in check and diff mode, with the bearer token, ad-hoc, and when they are wrong.

(Every other reliability test scans its own runs too: test_faults, test_bad_input, test_tls, test_concurrency.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_run import (SECRET_KEY_ID, SECRET_PASSWORD, SECRET_TOKEN, Scenario, find_secrets, run_adhoc,
                         run_playbook, secret_seed)

pytestmark = pytest.mark.boundary  # no_log and ansible-core's output at -vvvv, ad-hoc and playbooks

# The API can only echo what it was sent: the password's signature never carries it, but a broken gateway might.
ECHO = {"key": "Signature check failed for secret %s (injected echo)." % SECRET_PASSWORD,
        "token": "Bearer token %s is not valid here (injected echo)." % SECRET_TOKEN}


def _emulator(harness, tmp_path: Path):
    return harness.Emulator(secret_seed(), time_scale=0.05, log_file=str(tmp_path / "emulator.log"))


def _everything(emu, run, tmp_path: Path) -> list:
    log = tmp_path / "emulator.log"
    return [run.output, run.results, log.read_text(encoding="utf-8") if log.exists() else "", emu.requests(),
            emu.state(), emu.events()]


def test_api_error_echoing_secrets(tmp_path: Path, harness, collections_root: str) -> None:
    """An API error message that repeats the password or the token is redacted, for key and token auth."""
    with _emulator(harness, tmp_path) as emu:
        for auth in ("key", "token"):
            emu.clear_faults()
            emu.add_faults({"action": "*", "kind": "error", "status": 400, "code": "AUTH_ECHO", "message": ECHO[auth],
                            "times": None})
            tasks = [{"name": "image", "zenlayer.cloud.zenlayer_image": {"instance_id": "ins-hkg-db-0001", "name": "echo"},
                      "ignore_errors": True},
                     {"name": "power", "zenlayer.cloud.zenlayer_instance_power": {"instance_ids": ["ins-hkg-web-0001"],
                                                                                  "state": "stopped"},
                      "ignore_errors": True}]
            run = run_playbook(emu, collections_root, [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}],
                               tmp_dir=tmp_path / auth, verbosity=4, auth=auth)
            with Scenario("secrets", "API error message echoes password and token (%s auth)" % auth, "modules",
                          expect="failure, message redacted") as sc:
                results = [run.task("image")["result"], run.task("power")["result"]]
                sc.outcome = "FAILED: %s" % results[0].get("msg")
                assert run.failed("image") and run.failed("power"), results
                assert all("AUTH_ECHO" in r["msg"] for r in results), results
                sc.scan(*_everything(emu, run, tmp_path))


def test_secrets_as_module_options_check_and_diff(tmp_path: Path, harness, collections_root: str) -> None:
    """Credentials given inline (module_defaults and task options), -vvvv --diff, check mode, a warning, a failure."""
    with _emulator(harness, tmp_path) as emu:
        credentials = {"access_key_id": SECRET_KEY_ID, "access_key_password": SECRET_PASSWORD}
        tasks = [
            {"name": "check mode image of a running instance (warns)", "check_mode": True,
             "zenlayer.cloud.zenlayer_image": {"instance_id": "ins-hkg-web-0001", "name": "inline"}},
            {"name": "power with inline password", "zenlayer.cloud.zenlayer_instance_power":
                dict(credentials, instance_ids=["ins-hkg-db-0001"], state="running")},
            {"name": "image with inline token", "zenlayer.cloud.zenlayer_image":
                {"instance_id": "ins-fra-broken-0001", "name": "inline-tok", "access_token": SECRET_TOKEN,
                 "access_key_id": None, "access_key_password": None}, "ignore_errors": True},
            {"name": "wrong password", "zenlayer.cloud.zenlayer_image_info":
                {"zone_id": "HKG-A", "access_key_password": SECRET_PASSWORD[::-1]}, "ignore_errors": True},
            {"name": "both token and key", "zenlayer.cloud.zenlayer_instance_info":
                {"access_token": SECRET_TOKEN}, "ignore_errors": True},
            {"name": "role with module_defaults credentials", "ansible.builtin.include_role":
                {"name": "zenlayer.cloud.image_from_instance"},
             "vars": {"image_from_instance_instance_id": "ins-hkg-web-0002", "image_from_instance_name": "inline-role"}},
        ]
        plays = [{"hosts": "localhost", "gather_facts": False,
                  "module_defaults": {"group/zenlayer.cloud.zenlayer": credentials}, "tasks": tasks}]
        run = run_playbook(emu, collections_root, plays, tmp_dir=tmp_path / "run", verbosity=4, auth="none",
                           extra_env={"ANSIBLE_DIFF_ALWAYS": "1"})
        with Scenario("secrets", "credentials inline, -vvvv, diff, check mode, warnings, failures", "modules and role",
                      expect="no fragment anywhere") as sc:
            sc.outcome = "rc=%s, %d task results scanned" % (run.rc, len(run.results))
            sc.scan(*_everything(emu, run, tmp_path))
            assert run.failed("wrong password")
            assert run.failed("both token and key")
            assert run.task("check mode image of a running instance")["result"].get("warnings")
            assert run.rc == 0, run.report()


def test_token_auth_role_under_faults(tmp_path: Path, harness, collections_root: str) -> None:
    """The bearer token through lost answers and throttling, playbook and ad-hoc."""
    with _emulator(harness, tmp_path) as emu:
        emu.add_faults({"action": "CreateImage", "kind": "lose_response"}, {"action": "StopInstances", "kind": "lose_response"},
                       {"action": "*", "kind": "throttle", "times": 3})
        plays = [{"hosts": "localhost", "gather_facts": False, "tasks": [
            {"name": "role", "ansible.builtin.include_role": {"name": "zenlayer.cloud.image_from_instance"},
             "vars": {"image_from_instance_instance_id": "ins-hkg-web-0001", "image_from_instance_name": "tok-role"}}]}]
        run = run_playbook(emu, collections_root, plays, tmp_dir=tmp_path / "play", verbosity=4, auth="token")
        adhoc = run_adhoc(emu, collections_root, "zenlayer.cloud.zenlayer_image",
                          {"instance_id": "ins-hkg-db-0001", "name": "tok-adhoc", "api_retries": 1}, tmp_dir=tmp_path / "adhoc",
                          verbosity=4, auth="token")
        with Scenario("secrets", "bearer token, role and ad-hoc under faults, -vvvv", "role and zenlayer_image",
                      expect="success, no fragment anywhere") as sc:
            sc.outcome = "playbook rc=%s, ad-hoc rc=%s" % (run.rc, adhoc.rc)
            sc.scan(*_everything(emu, run, tmp_path), adhoc.output, adhoc.results)
            assert run.rc == 0, run.report()
            assert adhoc.rc == 0, adhoc.report()
            assert {r["auth"] for r in emu.requests()} == {"bearer"}
            sc.check_images(emu.state())


def test_find_secrets_sees_fragments() -> None:
    assert find_secrets("xx %s yy" % SECRET_PASSWORD[:12])
    assert find_secrets({"a": [SECRET_TOKEN]})
    assert not find_secrets("********", "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER")
