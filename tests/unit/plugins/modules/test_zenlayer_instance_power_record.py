# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""zenlayer_instance_power_record against the emulator's zrm service: the record is a tag on the instance, read
back by the next job, a lock until it expires, and a warning (never a failure) where the key may not tag."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.zenlayer.cloud.plugins.module_utils._record import RECORD_TAG_KEY, SKEW_MARGIN_SECONDS, decode_record
from ansible_collections.zenlayer.cloud.plugins.modules import zenlayer_instance_power_record
from ansible_collections.zenlayer.cloud.tests.unit.plugins.modules.utils import run_module

RUNNING_ID = "ins-hkg-web-0001"
STOPPED_ID = "ins-hkg-db-0001"


def run(capsys: Any, check_mode: bool = False, **args: Any) -> dict:
    return run_module(zenlayer_instance_power_record.main, capsys, args, check_mode=check_mode, diff=True)


def record_on(emu: Any, instance_id: str) -> dict | None:
    value = (emu.tags(instance_id) or {}).get(RECORD_TAG_KEY)
    return decode_record(value)


def put_record(emu: Any, instance_id: str, power: str, owner: str, expires_in: float) -> None:
    now = int(emu.now())  # the emulator's (scaled) time, which the module's clock reads
    value = "%s.%d.%d.%s" % (power, now - 10, now + expires_in, owner)
    emu.patch(instances={instance_id: {"tags": [{"key": RECORD_TAG_KEY, "value": value}, {"key": "team", "value": "web"}]}})


def test_take_and_release_keeps_the_current_power_and_leaves_other_tags(emulator_env, capsys):
    emulator_env.patch(instances={RUNNING_ID: {"tags": [{"key": "team", "value": "web"}]}})
    taken = run(capsys, instance_id=RUNNING_ID, owner="job-1", lifetime=600)
    assert taken["changed"] is True and taken["recorded"] is True and taken["previous"] is None
    assert taken["record"]["power"] == "running" and taken["record"]["owner"] == "job-1"
    assert record_on(emulator_env, RUNNING_ID)["power"] == "running"
    released = run(capsys, instance_id=RUNNING_ID, owner="job-1", state="absent")
    assert released["changed"] is True and released["record"] is None
    assert emulator_env.tags(RUNNING_ID) == {"team": "web"}
    again = run(capsys, instance_id=RUNNING_ID, owner="job-1", state="absent")
    assert again["changed"] is False


def test_check_mode_reads_and_predicts_without_writing(emulator_env, capsys):
    predicted = run(capsys, check_mode=True, instance_id=STOPPED_ID, owner="job-1")
    assert predicted["changed"] is True and predicted["record"]["power"] == "stopped"
    assert record_on(emulator_env, STOPPED_ID) is None
    assert not emulator_env.requests("ModifyResourceTags", service="zrm")


@pytest.mark.long
def test_a_live_record_of_another_job_is_a_lock_naming_its_owner(emulator_env, capsys):
    put_record(emulator_env, RUNNING_ID, "running", "job-1", 600)
    refused = run(capsys, instance_id=RUNNING_ID, owner="job-2")
    assert refused["failed"] is True and "held by job job-1" in refused["msg"] and "take_over" in refused["msg"]
    assert refused["changed"] is False and record_on(emulator_env, RUNNING_ID)["owner"] == "job-1"
    not_removed = run(capsys, instance_id=RUNNING_ID, owner="job-2", state="absent")
    assert not_removed["failed"] is True and record_on(emulator_env, RUNNING_ID) is not None


def test_take_over_keeps_the_original_power(emulator_env, capsys):
    emulator_env.patch(instances={RUNNING_ID: {"instanceStatus": "STOPPED"}})  # left down by the job that is gone
    put_record(emulator_env, RUNNING_ID, "running", "job-1", 600)
    taken = run(capsys, instance_id=RUNNING_ID, owner="job-2", take_over=True)
    assert taken["changed"] is True and taken["previous"]["owner"] == "job-1" and taken["previous"]["stale"] is False
    assert taken["record"] == dict(taken["record"], power="running", owner="job-2")
    assert record_on(emulator_env, RUNNING_ID)["power"] == "running", "the power before the first stop is kept"


def test_an_expired_record_is_taken_over_without_asking(emulator_env, capsys):
    put_record(emulator_env, RUNNING_ID, "running", "job-1", -(SKEW_MARGIN_SECONDS + 1))
    taken = run(capsys, instance_id=RUNNING_ID, owner="job-2")
    assert taken["changed"] is True and taken["previous"]["stale"] is True and taken["record"]["owner"] == "job-2"


def test_waiting_for_the_holder_ends_when_its_record_expires(emulator_env, capsys):
    put_record(emulator_env, RUNNING_ID, "stopped", "job-1", 2)
    taken = run(capsys, instance_id=RUNNING_ID, owner="job-2", wait_timeout=600)
    assert taken["changed"] is True and taken["record"]["power"] == "stopped" and taken["previous"]["owner"] == "job-1"


def test_a_key_that_may_not_tag_gets_a_warning_not_a_failure(emulator_env, capsys):
    emulator_env.patch(tag_denied_keys=[emulator_env.credentials.access_key_id])
    result = run(capsys, instance_id=RUNNING_ID, owner="job-1")
    assert not result.get("failed") and result["recorded"] is False and result["changed"] is False
    assert "may not tag" in str(result.get("warnings"))
    assert record_on(emulator_env, RUNNING_ID) is None


def test_a_bad_owner_is_refused_before_any_request(emulator_env, capsys):
    result = run(capsys, instance_id=RUNNING_ID, owner="job 1")
    assert result["failed"] is True and "owner must be" in result["msg"]
    assert emulator_env.requests() == []


def test_an_expired_record_of_another_job_is_removed(emulator_env, capsys):
    put_record(emulator_env, RUNNING_ID, "running", "job-1", -(SKEW_MARGIN_SECONDS + 1))
    released = run(capsys, instance_id=RUNNING_ID, owner="job-2", state="absent")
    assert released["changed"] is True and record_on(emulator_env, RUNNING_ID) is None


def test_removing_or_giving_up_the_record_of_a_deleted_instance_does_nothing(emulator_env, capsys):
    emulator_env.patch(delete_instances=[RUNNING_ID])
    assert run(capsys, instance_id=RUNNING_ID, owner="job-1", state="absent")["changed"] is False
    assert run(capsys, instance_id=RUNNING_ID, owner="job-1", lifetime=0)["changed"] is False
    taken = run(capsys, instance_id=RUNNING_ID, owner="job-1")
    assert taken["failed"] is True


# -- the lease -------------------------------------------------------------------------------------------------------


def test_giving_the_lease_up_keeps_the_power_and_the_next_job_takes_over_without_waiting(emulator_env, capsys):
    taken = run(capsys, instance_id=RUNNING_ID, owner="job-1")
    assert taken["record"]["live"] is True and taken["record"]["expires"] > taken["record"]["since"]
    given_up = run(capsys, instance_id=RUNNING_ID, owner="job-1", state="lapsed")
    assert given_up["changed"] is True and given_up["record"]["expires"] == 0 and given_up["record"]["live"] is False
    assert record_on(emulator_env, RUNNING_ID)["power"] == "running" and record_on(emulator_env, RUNNING_ID)["expires"] == 0
    reads_before = len(emulator_env.requests("DescribeResourceTags", service="zrm"))
    next_job = run(capsys, instance_id=RUNNING_ID, owner="job-2")
    assert next_job["changed"] is True and next_job["previous"]["owner"] == "job-1" and next_job["previous"]["live"] is False
    assert next_job["record"]["owner"] == "job-2" and next_job["record"]["power"] == "running"
    assert len(emulator_env.requests("DescribeResourceTags", service="zrm")) == reads_before + 1, "it must not wait"


def test_lifetime_zero_is_the_old_name_of_giving_the_lease_up(emulator_env, capsys):
    run(capsys, instance_id=RUNNING_ID, owner="job-1")
    given_up = run(capsys, instance_id=RUNNING_ID, owner="job-1", lifetime=0)
    assert given_up["changed"] is True and record_on(emulator_env, RUNNING_ID)["expires"] == 0


def test_a_lease_shorter_than_a_minute_is_refused_before_any_request(emulator_env, capsys):
    result = run(capsys, instance_id=RUNNING_ID, owner="job-1", lease=30)
    assert result["failed"] is True and "at least 60" in result["msg"] and emulator_env.requests() == []


def test_a_live_lease_of_another_job_is_not_given_up_or_removed_without_take_over(emulator_env, capsys):
    put_record(emulator_env, RUNNING_ID, "running", "job-1", 600)
    for state in ("lapsed", "absent"):
        refused = run(capsys, instance_id=RUNNING_ID, owner="job-2", state=state)
        assert refused["failed"] is True and "job-1" in refused["msg"] and "take_over" in refused["msg"]
    assert record_on(emulator_env, RUNNING_ID)["expires"] > 0
