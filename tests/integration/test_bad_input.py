# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad input (issue 5): invalid inputs across the four modules and the role.

Each one fails with a message that names the option and what is allowed. Those that need no look-up fail before any
request reaches the emulator: they all run in one playbook and the emulator's request log must stay empty. Those that
need one (an instance of a zone without images, a public image id, ...) may read but never write.
Credentials come from module_defaults (the distinctive secrets), so the credential cases can leave them out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ansible_run import SECRET_KEY_ID, SECRET_PASSWORD, SECRET_TOKEN, Scenario, run_playbook, secret_seed

pytestmark = pytest.mark.boundary  # argument specs: ansible-core's checks and messages

IMG = "zenlayer.cloud.zenlayer_image"
IMG_INFO = "zenlayer.cloud.zenlayer_image_info"
POWER = "zenlayer.cloud.zenlayer_instance_power"
INS_INFO = "zenlayer.cloud.zenlayer_instance_info"
ROLE = "role image_from_instance"
GOOD_IMAGE = {"instance_id": "ins-hkg-db-0001", "name": "good-name"}
GOOD_POWER = {"instance_ids": ["ins-hkg-web-0001"], "state": "stopped"}
GOOD_ROLE = {"image_from_instance_instance_id": "ins-hkg-web-0001", "image_from_instance_name": "good-name"}
NAME_RULE = "1 to 24 characters of letters, digits"


def _c(target: str, what: str, args: dict, *needles: str, base: dict | None = None) -> tuple:
    merged = dict(base if base is not None else {IMG: GOOD_IMAGE, POWER: GOOD_POWER, ROLE: GOOD_ROLE}.get(target, {}))
    merged.update(args)
    return (target, what, {k: v for k, v in merged.items() if v != "<omit>"}, needles)


# (target, what is wrong, arguments, fragments the message must hold): no look-up needed, nothing may be sent.
NO_LOOKUP = [
    _c(IMG, "name of 25 characters", {"name": "a" * 25}, "name", NAME_RULE),
    _c(IMG, "empty name", {"name": ""}, "name", NAME_RULE),
    _c(IMG, "name with a space", {"name": "web image"}, "name", NAME_RULE),
    _c(IMG, "name with an emoji", {"name": "web-\U0001F600"}, "name", NAME_RULE),
    _c(IMG, "name with punctuation", {"name": "web.img!"}, "name", NAME_RULE),
    _c(IMG, "name with a slash", {"name": "web/img"}, "name", NAME_RULE),
    _c(IMG, "description of 256 characters", {"description": "d" * 256}, "description", "at most 255"),
    _c(IMG, "unknown state", {"state": "gone"}, "state", "present, absent"),
    _c(IMG, "wait_timeout 0", {"wait_timeout": 0}, "wait_timeout", "above 0"),
    _c(IMG, "negative wait_timeout", {"wait_timeout": -5}, "wait_timeout", "above 0"),
    _c(IMG, "wait_timeout not a number", {"wait_timeout": "soon"}, "wait_timeout", "int"),
    _c(IMG, "wait not a boolean", {"wait": "maybe"}, "wait", "bool"),
    _c(IMG, "state=present without name", {"name": "<omit>"}, "name", "state is present but all of the following are missing"),
    _c(IMG, "image_id with state=present (mutually exclusive)", {"image_id": "img-1"}, "image_id", "mutually exclusive"),
    _c(IMG, "state=present without instance_id or zone_id", {"instance_id": "<omit>"}, "instance_id", "zone_id"),
    _c(IMG, "image_id and name together with state=absent", {"state": "absent", "image_id": "img-1"},
       "image_id", "name", "mutually exclusive"),
    _c(IMG, "name ending in a line break (a YAML `name: |` block)", {"name": "rel-img\n"}, "name", "letters, digits"),
    _c(IMG, "state=absent without image_id or name", {"state": "absent", "name": "<omit>", "instance_id": "<omit>"},
       "image_id", "name"),
    _c(IMG, "state=absent with name but no zone", {"state": "absent", "instance_id": "<omit>"}, "zone_id", "instance_id"),
    _c(IMG, "unknown option", {"colour": "red"}, "colour", "Supported parameters include"),
    _c(IMG, "bad scheme", {"scheme": "ftp"}, "scheme", "https or http"),
    _c(IMG, "domain with a scheme", {"domain": "https://console.zenlayer.com"}, "domain", "no scheme"),
    _c(IMG, "domain with spaces", {"domain": "console zenlayer com"}, "domain", "host name"),
    _c(IMG, "domain with a path", {"domain": "console.zenlayer.com/api"}, "domain", "no path"),
    _c(IMG, "port out of range", {"domain": "127.0.0.1:99999"}, "port", "1 to 65535"),
    _c(IMG, "client_timeout 0", {"client_timeout": 0}, "client_timeout", "above 0"),
    _c(IMG, "negative client_timeout", {"client_timeout": -1}, "client_timeout", "above 0"),
    _c(IMG, "negative api_retries", {"api_retries": -1}, "api_retries", "0 to 20"),
    _c(IMG, "api_retries 1000", {"api_retries": 1000}, "api_retries", "0 to 20"),
    _c(IMG, "access_key_id without its password", {"access_key_password": None}, "access_key_password",
       "ZENLAYERCLOUD_ACCESS_KEY_PASSWORD"),
    _c(IMG, "access_key_password without its key id", {"access_key_id": None}, "access_key_id",
       "ZENLAYERCLOUD_ACCESS_KEY_ID"),
    _c(IMG, "no credentials at all", {"access_key_id": None, "access_key_password": None}, "access_key_id",
       "access_token"),
    _c(IMG, "token and key pair together (mutually exclusive)", {"access_token": SECRET_TOKEN}, "access_token",
       "not both"),
    _c(POWER, "unknown state", {"state": "off"}, "state", "running, stopped, restarted"),
    _c(POWER, "missing state", {"state": "<omit>"}, "state", "required"),
    _c(POWER, "missing instance_ids", {"instance_ids": "<omit>"}, "instance_ids", "required"),
    _c(POWER, "force_shutdown not a boolean", {"force_shutdown": "perhaps"}, "force_shutdown", "bool"),
    _c(POWER, "wait_timeout 0", {"wait_timeout": 0}, "wait_timeout", "above 0"),
    _c(IMG_INFO, "empty image_ids (never means all)", {"image_ids": []}, "image_ids", "empty list"),
    _c(INS_INFO, "empty instance_ids (never means all)", {"instance_ids": []}, "instance_ids", "empty list"),
    _c(POWER, "negative wait_timeout", {"wait_timeout": -1}, "wait_timeout", "above 0"),
    _c(POWER, "instance_ids a mapping", {"instance_ids": {"a": 1}}, "instance_ids", "list"),
    _c(POWER, "api_retries not a number", {"api_retries": "many"}, "api_retries", "int"),
    _c(POWER, "bad scheme", {"scheme": "HTTPX"}, "scheme", "https or http"),
    _c(IMG_INFO, "unknown image_type", {"image_type": "PRIVATE"}, "image_type", "CUSTOM_IMAGE"),
    _c(IMG_INFO, "unknown image_status", {"image_status": "BROKEN"}, "image_status", "AVAILABLE"),
    _c(IMG_INFO, "empty domain", {"domain": ""}, "domain", "host name"),
    _c(INS_INFO, "unknown option", {"zone": "HKG-A"}, "zone", "Supported parameters include"),
    _c(INS_INFO, "client_timeout not a number", {"client_timeout": "fast"}, "client_timeout", "float"),
    _c(ROLE, "missing image_from_instance_name", {"image_from_instance_name": "<omit>"}, "image_from_instance_name",
       "required"),
    _c(ROLE, "missing image_from_instance_instance_id", {"image_from_instance_instance_id": "<omit>"},
       "image_from_instance_instance_id", "required"),
    _c(ROLE, "unknown power_after", {"image_from_instance_power_after": "sideways"}, "image_from_instance_power_after",
       "previous"),
    _c(ROLE, "stop_timeout 0", {"image_from_instance_stop_timeout": 0}, "image_from_instance_stop_timeout", "above 0"),
    _c(ROLE, "negative wait_timeout", {"image_from_instance_wait_timeout": -1}, "image_from_instance_wait_timeout",
       "above 0"),
    _c(ROLE, "stop_timeout not a number", {"image_from_instance_stop_timeout": "soon"},
       "image_from_instance_stop_timeout", "int"),
    _c(ROLE, "force_shutdown not a boolean", {"image_from_instance_force_shutdown": "perhaps"},
       "image_from_instance_force_shutdown", "bool"),
    _c(ROLE, "empty name", {"image_from_instance_name": ""}, "image_from_instance_name", "must not be empty"),
    _c(ROLE, "name and line prefix both", {"image_from_instance_line_prefix": "web-"}, "image_from_instance_name",
       "never both"),
    _c(ROLE, "line prefix without a separator", {"image_from_instance_name": "<omit>",
                                                 "image_from_instance_line_prefix": "web"}, "prefix", "ending with"),
    _c(ROLE, "line prefix of 13 characters", {"image_from_instance_name": "<omit>",
                                              "image_from_instance_line_prefix": "web-frontend-"}, "prefix", "1 to 12"),
    _c(ROLE, "line max_age without a unit", {"image_from_instance_name": "<omit>", "image_from_instance_line_prefix": "web-",
                                             "image_from_instance_line_max_age": "20"}, "max_age", "duration"),
    _c(ROLE, "name with a space", {"image_from_instance_name": "my image"}, "image_from_instance_name", "24"),
    _c(ROLE, "name of 25 characters", {"image_from_instance_name": "b" * 25}, "image_from_instance_name", "24"),
    _c(ROLE, "description of 256 characters", {"image_from_instance_description": "d" * 256},
       "image_from_instance_description", "255"),
]

# These need a look-up: reads are allowed, writes are not, the world must not change.
WITH_LOOKUP = [
    _c(IMG, "image_id of a public image (state=absent, zone given)",
       {"state": "absent", "image_id": "img-ubuntu-2204", "zone_id": "HKG-A", "name": "<omit>", "instance_id": "<omit>"},
       "public image", "never deletes"),
    _c(IMG, "image_id of a public image (state=absent, every zone)",
       {"state": "absent", "image_id": "img-centos-79", "name": "<omit>", "instance_id": "<omit>"}, "public image"),
    _c(IMG, "instance in a zone without image support", {"instance_id": "ins-sin-app-0001"}, "SIN-E",
       "does not support custom images"),
    _c(IMG, "instance that does not exist", {"instance_id": "ins-nope-0001"}, "ins-nope-0001", "instance_id"),
    _c(IMG, "instance_id and zone_id of different zones", {"zone_id": "FRA-A"}, "zone_id", "HKG-A"),
    _c(IMG, "running instance (must be stopped)", {"instance_id": "ins-hkg-web-0001"}, "STOPPED", "zenlayer_instance_power"),
    _c(POWER, "instance that does not exist", {"instance_ids": ["ins-nope-0001"]}, "ins-nope-0001", "not found"),
    _c(IMG_INFO, "zone that does not exist", {"zone_id": "XXX-Z"}, "XXX-Z"),
    _c(ROLE, "instance that does not exist", {"image_from_instance_instance_id": "ins-nope-0001"}, "ins-nope-0001",
       "image_from_instance_instance_id"),
    _c(ROLE, "instance in a zone without image support", {"image_from_instance_instance_id": "ins-sin-app-0001"},
       "SIN-E", "does not support custom images"),
    _c(IMG, "wrong access key password", {"access_key_password": "Wr0ng-Pa55-zl-000000"}, "AUTH_SIGNATURE_MISMATCH"),
]


def _task(index: int, case: tuple) -> dict:
    target, _what, args, _needles = case
    name = "case %03d" % index
    if target == ROLE:
        return {"block": [{"name": "role %03d" % index, "ansible.builtin.include_role": {"name": "zenlayer.cloud.image_from_instance"},
                           "vars": args},
                          {"name": name, "ansible.builtin.debug": {"msg": "NOT FAILED"}}],
                "rescue": [{"name": name, "ansible.builtin.debug": {
                    "msg": "{{ ansible_failed_result.msg | default('') }} "
                           "{{ ansible_failed_result.argument_errors | default([]) | join(' ') }}"}}]}
    return {"name": name, target: args, "ignore_errors": True}


def _plays(cases: list) -> list[dict]:
    credentials = {"access_key_id": SECRET_KEY_ID, "access_key_password": SECRET_PASSWORD}
    return [{"hosts": "localhost", "gather_facts": False,
             "module_defaults": {"group/zenlayer.cloud.zenlayer": dict(credentials, api_retries=1, client_timeout=5)},
             "vars": {"zc_domain": "{{ emulator_domain }}"},
             "tasks": [_task(index, case) for index, case in enumerate(cases)]}]


def _run_cases(cases: list, category: str, tmp_path: Path, harness, collections_root: str):
    log = tmp_path / "emulator.log"
    emu = harness.Emulator(secret_seed(), time_scale=0.05, log_file=str(log)).start()
    try:
        run = run_playbook(emu, collections_root, _plays(cases), tmp_dir=tmp_path, verbosity=4, auth="none")
        return emu, run, log
    except BaseException:
        emu.close()
        raise


def test_count_of_inputs() -> None:
    assert len(NO_LOOKUP) + len(WITH_LOOKUP) >= 40


def test_no_lookup_inputs_fail_before_any_request(tmp_path: Path, harness, collections_root: str) -> None:
    emu, run, log = _run_cases(NO_LOOKUP, "bad input", tmp_path, harness, collections_root)
    try:
        _assert_cases_indexed(run, NO_LOOKUP)
        with Scenario("bad input", "all %d no-look-up inputs: emulator log empty, secrets absent" % len(NO_LOOKUP),
                      "all", expect="no request at all") as sc:
            sc.scan(run.output, run.results, log.read_text(encoding="utf-8") if log.exists() else "")
            requests = emu.requests()
            sc.outcome = "%d requests reached the emulator" % len(requests)
            assert requests == [], [(r["action"], r["body"]) for r in requests]
    finally:
        emu.close()


def test_lookup_inputs_fail_without_writing(tmp_path: Path, harness, collections_root: str) -> None:
    emu, run, log = _run_cases(WITH_LOOKUP, "bad input", tmp_path, harness, collections_root)
    try:
        _assert_cases_indexed(run, WITH_LOOKUP)
        with Scenario("bad input", "all %d look-up inputs: reads only, world unchanged" % len(WITH_LOOKUP), "all",
                      expect="only Describe* requests; no image; power unchanged") as sc:
            sc.scan(run.output, run.results, log.read_text(encoding="utf-8") if log.exists() else "", emu.requests())
            writes = [r["action"] for r in emu.requests() if not r["action"].startswith("Describe")]
            state = emu.state()
            sc.check_images(state)
            sc.check_power(state, {i["instanceId"]: i["instanceStatus"] for i in secret_seed()["instances"]})
            sc.outcome = "%d requests, writes: %s" % (len(emu.requests()), writes or "none")
            assert writes == [], writes
            assert [i for i in state["images"] if i.get("zoneId")] == []
    finally:
        emu.close()


def _assert_cases_indexed(run: Any, cases: list) -> None:
    problems = []
    for index, (target, what, args, needles) in enumerate(cases):
        shown = ["%s=%s" % (k, (repr(v) if not isinstance(v, str) or len(v) <= 30 else "%r...(%d chars)" % (v[:12], len(v))))
                 for k, v in args.items() if k not in ("access_key_id", "access_key_password") or v is None]
        try:
            with Scenario("bad input", what, target.replace("zenlayer.cloud.", ""),
                          expect="fails naming " + " / ".join(needles), inputs=shown) as sc:
                record = run.task("case %03d" % index)
                message = str(record["result"].get("msg", ""))
                failed = not message.startswith("NOT FAILED") and (record["status"] == "failed" or target == ROLE)
                sc.outcome = ("FAILED: " if failed else "NOT FAILED: ") + message
                sc.scan(message)
                assert failed, "did not fail: %s" % message
                missing = [needle for needle in needles if needle.lower() not in message.lower()]
                assert not missing, "message lacks %s: %s" % (missing, message)
        except (AssertionError, KeyError) as error:
            problems.append("case %03d %s (%s): %s" % (index, target, what, error))
    assert not problems, "\n".join(problems) + "\n" + run.report()
