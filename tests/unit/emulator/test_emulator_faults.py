"""Fault injection, rate limiting, persistence across restarts, the JSON request log, TLS."""
from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import time

import pytest

from emu_helpers import RUNNING_HKG, STOPPED_HKG, error, ok, status_of
from harness import Emulator, load_seed


def test_throttle_fault(emu) -> None:
    emu.add_faults({"action": "DescribeZones", "kind": "throttle", "times": 2})
    assert error(emu, "DescribeZones", {}) == (429, "REQUEST_LIMIT_EXCEEDED")
    assert error(emu, "DescribeZones", {}) == (429, "REQUEST_LIMIT_EXCEEDED")
    ok(emu, "DescribeZones")
    log = emu.requests("DescribeZones")
    assert [(e["fault"], e["performed"], e["http_status"]) for e in log] == [
        ("throttle", False, 429), ("throttle", False, 429), (None, True, 200)]


def test_error_fault_defaults_and_overrides(emu) -> None:
    emu.add_faults({"action": "StopInstances", "kind": "error"},
                   {"action": "StopInstances", "kind": "error", "status": 500, "code": "REQUEST_TIMED_OUT"})
    assert error(emu, "StopInstances", {"instanceIds": [RUNNING_HKG]}) == (503, "SERVICE_TEMPORARY_UNAVAILABLE")
    assert error(emu, "StopInstances", {"instanceIds": [RUNNING_HKG]}) == (500, "REQUEST_TIMED_OUT")
    assert status_of(emu, RUNNING_HKG) == "RUNNING"
    ok(emu, "StopInstances", {"instanceIds": [RUNNING_HKG]})


def test_drop_fault_is_a_connection_error_and_not_performed(emu) -> None:
    emu.add_faults({"action": "StopInstances", "kind": "drop"})
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        emu.call("StopInstances", {"instanceIds": [RUNNING_HKG]})
    entry = emu.requests("StopInstances")[-1]
    assert entry["fault"] == "drop" and entry["performed"] is False and entry["http_status"] is None
    assert status_of(emu, RUNNING_HKG) == "RUNNING"


def test_lose_response_fault_performs_the_action(emu) -> None:
    emu.add_faults({"action": "CreateImage", "kind": "lose_response"})
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        emu.call("CreateImage", {"instanceId": STOPPED_HKG, "imageName": "lost"})
    entry = emu.requests("CreateImage")[-1]
    assert entry["fault"] == "lose_response" and entry["performed"] is True
    assert len(emu.images(name="lost")) == 1


def test_lose_response_5xx_performs_then_answers_502(emu) -> None:
    emu.add_faults({"action": "*", "kind": "lose_response_5xx"})
    assert error(emu, "StopInstances", {"instanceIds": [RUNNING_HKG]}) == (502, "INTERNAL_SERVER_ERROR")
    assert emu.requests("StopInstances")[-1]["performed"] is True
    assert status_of(emu, RUNNING_HKG) in ("STOPPING", "STOPPED")


def test_slow_fault(emu) -> None:
    emu.add_faults({"action": "DescribeZones", "kind": "slow", "delay": 0.3})
    started = time.monotonic()
    ok(emu, "DescribeZones")
    assert time.monotonic() - started >= 0.3
    assert emu.requests("DescribeZones")[-1]["fault"] == "slow"


def test_after_times_window_and_listing(emu) -> None:
    emu.add_faults({"action": "DescribeZones", "kind": "throttle", "after": 1, "times": None, "for_seconds": 0.5})
    ok(emu, "DescribeZones")
    assert error(emu, "DescribeZones", {})[1] == "REQUEST_LIMIT_EXCEEDED"
    ok(emu, "DescribeInstances")  # other actions untouched
    listing = emu.faults()
    assert listing[0]["remaining"] is None and listing[0]["fired"] == 1 and listing[0]["skipped"] == 1
    time.sleep(0.55)
    ok(emu, "DescribeZones")
    emu.clear_faults()
    assert emu.faults() == []


def test_bad_fault_rule_is_refused(emu) -> None:
    with pytest.raises(Exception, match="kind"):
        emu.add_faults({"action": "*", "kind": "explode"})


def test_rate_limit(make_emu) -> None:
    emu = make_emu(rate_limit=2)
    codes = [emu.call("DescribeZones", {}).status for _attempt in range(6)]
    assert 429 in codes and codes[0] == 200
    assert emu.requests()[-1]["code"] == "REQUEST_LIMIT_EXCEEDED"
    time.sleep(1.1)
    assert emu.call("DescribeZones", {}).status == 200


def test_persistence_across_restart(make_emu, tmp_path) -> None:
    state_file = str(tmp_path / "world.json")
    emu = make_emu(state_file=state_file, time_scale=1.0)
    # transitions of an hour: still under way after the restart however long it takes (no race with the clock)
    emu.patch(timings={"image_seconds": 3600.0, "stop_seconds": 3600.0})
    image_id = ok(emu, "CreateImage", {"instanceId": STOPPED_HKG, "imageName": "survivor"})["imageId"]
    ok(emu, "StopInstances", {"instanceIds": [RUNNING_HKG], "forceShutdown": False})
    before = emu.state()
    port = emu.port
    emu.restart()  # SIGKILL, then the same port and state file
    assert emu.port == port
    after = emu.state()
    for world in (before, after):
        world["clock"].pop("now")  # the emulator's time of the reading: later after a restart, by design
    assert after == before, "the world (statuses, transitions under way, timings, the clock...) survives a SIGKILL"
    assert status_of(emu, STOPPED_HKG) == "IMAGING" and status_of(emu, RUNNING_HKG) == "STOPPING"
    due = time.time()  # the transitions under way, due now: they complete after the restart
    emu.patch(instances={STOPPED_HKG: {"pending": {"to": "STOPPED", "at": due}},
                         RUNNING_HKG: {"pending": {"to": "STOPPED", "at": due}}},
              images={image_id: {"pending": {"to": "AVAILABLE", "at": due}}})
    assert status_of(emu, STOPPED_HKG) == "STOPPED" and status_of(emu, RUNNING_HKG) == "STOPPED"
    info = ok(emu, "DescribeImages", {"zoneId": "HKG-A", "imageIds": [image_id]})["dataSet"][0]
    assert info["imageStatus"] == "AVAILABLE"
    assert emu.instance(RUNNING_HKG)["lastForceShutdown"] is False
    assert emu.state()["timings"]["image_seconds"] == 3600.0
    with open(state_file, encoding="utf-8") as handle:
        assert json.load(handle)["format"].startswith("zenlayer-vm-emulator-state/")


def test_log_file_has_one_json_line_per_request_and_no_secret(make_emu, tmp_path) -> None:
    log_file = str(tmp_path / "requests.jsonl")
    emu = make_emu(log_file=log_file)
    ok(emu, "DescribeZones")
    emu.call("DescribeZones", {}, password="wrong-password")
    emu.state()  # admin calls are not logged
    with open(log_file, encoding="utf-8") as handle:
        text = handle.read()
    lines = [json.loads(line) for line in text.splitlines()]
    assert [e["http_status"] for e in lines] == [200, 401]
    assert set(lines[0]) == {"ts", "service", "action", "http_status", "code", "request_id", "auth", "access_key_id", "body",
                             "fault", "performed", "duration_ms"}
    for secret in ("emulator-secret-0123456789", "wrong-password", "Signature="):
        assert secret not in text


def test_sigterm_exits_cleanly() -> None:
    emu = Emulator(load_seed("demo")).start()
    try:
        process = emu.process
        emu.stop()
        assert process.returncode == 0
    finally:
        emu.close()


def test_server_runs_from_any_cwd(tmp_path) -> None:
    script = os.path.join(os.path.dirname(__file__), "..", "..", "emulator", "server.py")
    seed = os.path.join(os.path.dirname(script), "seeds", "demo.json")
    with subprocess.Popen(["python3", os.path.abspath(script), "--port", "0", "--seed", os.path.abspath(seed)],
                          cwd=str(tmp_path), stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout.readline().startswith("listening on http://127.0.0.1:")
        finally:
            process.terminate()
            process.wait(timeout=5)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl command not available to make a certificate")
def test_tls(tmp_path) -> None:
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    with Emulator(load_seed("demo"), tls=(cert, key)) as emu:
        assert emu.url.startswith("https://") and emu.env()["ZENLAYERCLOUD_SCHEME"] == "https"
        ok(emu, "DescribeZones")
        assert emu.requests()[-1]["auth"] == "hmac"


# -- performed, then answered badly ----------------------------------------------------------------------------------

@pytest.mark.parametrize("status, code", [(500, "INTERNAL_SERVER_ERROR"), (408, "REQUEST_TIMED_OUT"),
                                          (400, "INTERNAL_SERVER_ERROR")])
def test_performed_error_performs_then_answers_the_chosen_status(emu, status: int, code: str) -> None:
    emu.add_faults({"action": "StopInstances", "kind": "performed_error", "status": status, "code": code})
    assert error(emu, "StopInstances", {"instanceIds": [RUNNING_HKG]}) == (status, code)
    entry = emu.requests("StopInstances")[-1]
    assert (entry["fault"], entry["performed"], entry["http_status"], entry["code"]) == ("performed_error", True, status, code)
    assert status_of(emu, RUNNING_HKG) in ("STOPPING", "STOPPED")


def test_performed_error_defaults_to_503(emu) -> None:
    emu.add_faults({"action": "CreateImage", "kind": "performed_error"})
    assert error(emu, "CreateImage", {"instanceId": STOPPED_HKG, "imageName": "p503"}) == (503, "SERVICE_TEMPORARY_UNAVAILABLE")
    assert len(emu.images(name="p503")) == 1


def test_performed_error_on_a_refused_action_is_logged_as_not_performed(emu) -> None:
    emu.add_faults({"action": "StopInstances", "kind": "performed_error", "status": 502, "code": "INTERNAL_SERVER_ERROR"})
    assert error(emu, "StopInstances", {"instanceIds": [STOPPED_HKG]}) == (502, "INTERNAL_SERVER_ERROR")
    assert emu.requests("StopInstances")[-1]["performed"] is False


def test_performed_drop_performs_then_closes(emu) -> None:
    emu.add_faults({"action": "StopInstances", "kind": "performed_drop"})
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        emu.call("StopInstances", {"instanceIds": [RUNNING_HKG]})
    entry = emu.requests("StopInstances")[-1]
    assert (entry["fault"], entry["performed"], entry["http_status"]) == ("performed_drop", True, None)
    assert status_of(emu, RUNNING_HKG) in ("STOPPING", "STOPPED")


def test_performed_timeout_performs_and_holds_the_answer_past_the_client_timeout(emu) -> None:
    emu.add_faults({"action": "CreateImage", "kind": "performed_timeout", "delay": 1.5})
    started = time.monotonic()
    with pytest.raises(OSError):  # socket.timeout is an OSError
        emu.call("CreateImage", {"instanceId": STOPPED_HKG, "imageName": "slowpoke"}, timeout=0.5)
    assert time.monotonic() - started < 1.4
    entry = emu.requests("CreateImage")[-1]  # logged while the answer is still held
    assert (entry["fault"], entry["performed"], entry["http_status"]) == ("performed_timeout", True, None)
    assert len(emu.images(name="slowpoke")) == 1


def test_performed_timeout_then_closes_without_an_answer(emu) -> None:
    emu.add_faults({"action": "StopInstances", "kind": "performed_timeout", "delay": 0.3})
    started = time.monotonic()
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        emu.call("StopInstances", {"instanceIds": [RUNNING_HKG]}, timeout=5)
    assert 0.3 <= time.monotonic() - started < 3


def test_timeout_fault_holds_and_does_not_perform(emu) -> None:
    emu.add_faults({"action": "StopInstances", "kind": "timeout", "delay": 1.0})
    with pytest.raises(OSError):
        emu.call("StopInstances", {"instanceIds": [RUNNING_HKG]}, timeout=0.3)
    entry = emu.requests("StopInstances")[-1]
    assert (entry["fault"], entry["performed"]) == ("timeout", False)
    assert status_of(emu, RUNNING_HKG) == "RUNNING"


def test_timeout_kinds_default_to_a_hold_beyond_60_s_and_are_bounded(emu) -> None:
    listing = emu.add_faults({"action": "X", "kind": "performed_timeout"}, {"action": "X", "kind": "timeout"})
    assert [rule["delay"] for rule in listing] == [65.0, 65.0]
    assert [rule["performs"] for rule in listing] == [True, False]
    with pytest.raises(Exception, match="delay"):
        emu.add_faults({"action": "X", "kind": "performed_timeout", "delay": 3600})


def test_performed_fault_with_async_lag_is_accepted_but_not_visible_yet(make_emu) -> None:
    emu = make_emu(extra_args=["--async-lag", "60"])  # 3 s: seen not in effect yet, even on a loaded machine
    emu.add_faults({"action": "StopInstances", "kind": "performed_error", "status": 502, "code": "INTERNAL_SERVER_ERROR"})
    assert error(emu, "StopInstances", {"instanceIds": [RUNNING_HKG]})[0] == 502
    assert status_of(emu, RUNNING_HKG) == "RUNNING"
    assert emu.requests("StopInstances")[-1]["performed"] is True
    emu.wait_for(lambda: status_of(emu, RUNNING_HKG) == "STOPPED", timeout=15)


# -- Retry-After -----------------------------------------------------------------------------------------------------

def test_throttle_fault_sends_retry_after(emu) -> None:
    emu.add_faults({"action": "DescribeZones", "kind": "throttle"}, {"action": "DescribeZones", "kind": "throttle", "retry_after": 7})
    assert emu.call("DescribeZones", {}).headers.get("Retry-After") == "1"
    assert emu.call("DescribeZones", {}).headers.get("Retry-After") == "7"
    assert "Retry-After" not in emu.call("DescribeZones", {}).headers


def test_rate_limiter_sends_retry_after(make_emu) -> None:
    emu = make_emu(rate_limit=0.5)
    assert emu.call("DescribeZones", {}).status == 200
    answer = emu.call("DescribeZones", {})
    assert answer.status == 429 and answer.headers.get("Retry-After") == "2"


def _listing_ids(emu, page: int, size: int) -> tuple[int, list[str]]:
    response = ok(emu, "DescribeInstances", {"pageNum": page, "pageSize": size})
    return response["totalCount"], [item["instanceId"] for item in response["dataSet"]]


def test_then_patch_changes_the_account_between_two_pages(emu) -> None:
    """After page 1 is answered the first instance is deleted: page 2 comes from a smaller account, shifted by one."""
    total, first_page = _listing_ids(emu, 1, 3)
    emu.clear_requests()
    emu.add_faults({"action": "DescribeInstances", "kind": "then_patch", "page": 1,
                    "patch": {"delete_instances": [first_page[0]]}})
    assert _listing_ids(emu, 1, 3) == (total, first_page)  # answered from the account as it was
    second_total, second_page = _listing_ids(emu, 2, 3)
    assert second_total == total - 1 and first_page[0] not in second_page
    assert emu.instance(first_page[0]) is None
    assert [entry["fault"] for entry in emu.requests("DescribeInstances")] == ["then_patch", None]
    listing = emu.faults()[0]
    assert listing["fired"] == 1 and listing["page"] == 1 and listing["performs"] is True


def test_then_patch_rule_only_sees_its_page(emu) -> None:
    emu.add_faults({"action": "DescribeInstances", "kind": "then_patch", "page": 2, "times": 1,
                    "patch": {"instances": {"ins-new-1": {"zoneId": "HKG-A", "instanceName": "new-1"}}}})
    total, _ids = _listing_ids(emu, 1, 2)
    assert emu.instance("ins-new-1") is None and emu.faults()[0]["skipped"] == 0
    _listing_ids(emu, 2, 2)
    assert emu.instance("ins-new-1") is not None
    assert _listing_ids(emu, 1, 2)[0] == total + 1


@pytest.mark.parametrize("rule, message", [
    ({"kind": "then_patch"}, "needs patch"),
    ({"kind": "then_patch", "patch": []}, "needs patch"),
    ({"kind": "throttle", "patch": {"delete_instances": []}}, "only for the kind then_patch"),
    ({"kind": "throttle", "page": 0}, "page must be"),
])
def test_bad_then_patch_rules_are_refused(emu, rule, message) -> None:
    with pytest.raises(Exception, match=message):
        emu.add_faults(dict(rule, action="DescribeInstances"))


def test_a_broken_patch_answers_500_when_it_fires(emu) -> None:
    emu.add_faults({"action": "DescribeZones", "kind": "then_patch", "patch": {"async_lag": -1}})
    assert error(emu, "DescribeZones", {}) == (500, "EMULATOR_FAULT_RULE_BROKEN")
