"""One scaled clock for the emulator and the modules: ZENLAYERCLOUD_EMULATOR_CLOCK, honoured for a loopback endpoint
only, read by the modules' clock (time() included), told by the harness (env(), now()), the emulator's state and its
Date header."""
from __future__ import annotations

import os
import time
from email.utils import parsedate_to_datetime
from types import SimpleNamespace

import pytest

from ansible_collections.zenlayer.cloud.plugins.module_utils import _wait
from ansible_collections.zenlayer.cloud.plugins.module_utils._base import AnsibleZenlayer
from ansible_collections.zenlayer.cloud.plugins.module_utils._record import RECORD_TAG_KEY, decode_record
from ansible_collections.zenlayer.cloud.plugins.modules import zenlayer_instance_power_record
from ansible_collections.zenlayer.cloud.tests.unit.plugins.modules.utils import run_module

ENV = "ZENLAYERCLOUD_EMULATOR_CLOCK"
EPOCH = 1_800_000_000.0
RUNNING_ID = "ins-hkg-web-0001"
LOOPBACK = ["127.0.0.1", "127.0.0.1:8080", "localhost", "LocalHost:443", "::1", "[::1]", "[::1]:8080"]
ELSEWHERE = ["console.zenlayer.com", "console.zenlayer.com:443", "127.0.0.2", "10.0.0.1:8080", "localhost.example.com",
             "127.0.0.1.example.com", "[2001:db8::1]:443", "::2", ""]
MALFORMED = ["", "abc", "1800000000", "1800000000:0", "1800000000:-0.5", "1800000000:1.5", "1800000000:nan",
             "1800000000:inf", "nan:0.05", "inf:0.05", "1:2:3", "1800000000:0.05:", " : "]


@pytest.mark.parametrize("domain", LOOPBACK)
def test_a_loopback_endpoint_runs_on_the_emulator_clock(monkeypatch, domain) -> None:
    monkeypatch.setenv(ENV, "%r:0.05" % EPOCH)
    clock = _wait.clock_for_endpoint(domain)
    assert isinstance(clock, _wait.ScaledClock)
    assert (clock.epoch, clock.scale) == (EPOCH, 0.05)


@pytest.mark.parametrize("domain", ELSEWHERE)
def test_any_other_endpoint_keeps_the_system_clock(monkeypatch, domain) -> None:
    monkeypatch.setenv(ENV, "%r:0.05" % EPOCH)
    assert _wait.clock_for_endpoint(domain) is _wait.SYSTEM_CLOCK


@pytest.mark.parametrize("value", MALFORMED)
def test_a_malformed_value_is_ignored(monkeypatch, value) -> None:
    monkeypatch.setenv(ENV, value)
    assert _wait.clock_for_endpoint("127.0.0.1:8080") is _wait.SYSTEM_CLOCK


def test_without_the_variable_the_system_clock_is_read_at_call_time(monkeypatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    replaced = _wait.Clock()
    monkeypatch.setattr(_wait, "SYSTEM_CLOCK", replaced)
    assert _wait.clock_for_endpoint("127.0.0.1:8080") is replaced


def test_the_scaled_clock_runs_1_over_scale_as_fast_from_its_epoch() -> None:
    # each reading is bracketed by the real clock before and after it: on the 0.05 clock a loaded machine's 50 ms
    # between two lines is a second
    epoch = time.time() - 100.0
    clock = _wait.ScaledClock(epoch, 0.05)
    before, scaled, after = time.time(), clock.time(), time.time()
    assert epoch + (before - epoch) / 0.05 <= scaled <= epoch + (after - epoch) / 0.05 and scaled >= epoch + 2000.0
    before, stamp, after = clock.time(), clock.utcnow().timestamp(), clock.time()
    assert before - 0.001 <= stamp <= after + 0.001
    assert clock.utcnow().utcoffset().total_seconds() == 0
    real_before, started_mono, started_time, real_started = time.monotonic(), clock.monotonic(), clock.time(), time.monotonic()
    clock.sleep(4.0)  # 0.2 s of real time
    real_ended, ended_mono, ended_time, real_after = time.monotonic(), clock.monotonic(), clock.time(), time.monotonic()
    assert 0.19 <= real_ended - real_started and real_after - real_before < 2.0
    for scaled_seconds in (ended_mono - started_mono, ended_time - started_time):
        assert 4.0 <= scaled_seconds and (real_ended - real_started) / 0.05 - 0.1 <= scaled_seconds \
            <= (real_after - real_before) / 0.05 + 0.1


def test_a_module_takes_the_clock_of_its_endpoint(monkeypatch) -> None:
    monkeypatch.setenv(ENV, "%r:0.25" % EPOCH)

    def module(domain: str) -> SimpleNamespace:
        return SimpleNamespace(params={"domain": domain}, check_mode=False)

    near = AnsibleZenlayer(module("127.0.0.1:40000")).clock
    assert isinstance(near, _wait.ScaledClock) and (near.epoch, near.scale) == (EPOCH, 0.25)
    assert AnsibleZenlayer(module("console.zenlayer.com")).clock is _wait.SYSTEM_CLOCK


def test_the_harness_tells_the_clock(make_emu) -> None:
    emu = make_emu(time_scale=0.05, clock_epoch=EPOCH)
    assert emu.env()[ENV] == "%r:%r" % (EPOCH, 0.05)
    assert emu.now() == pytest.approx(_wait.ScaledClock(EPOCH, 0.05).time(), abs=0.5)
    # bracketed by the harness's clock before and after each answer: on the 0.05 clock a loaded machine's 50 ms
    # between two calls is a second
    before, clock, after = emu.now(), emu.state()["clock"], emu.now()
    assert (clock["epoch"], clock["time_scale"], clock["env"]) == (EPOCH, 0.05, emu.env()[ENV])
    assert before - 0.5 <= clock["now"] <= after + 0.5
    before, answer, after = emu.now(), emu.call("DescribeZones", {}), emu.now()
    date = parsedate_to_datetime(answer.headers["Date"]).timestamp()
    assert before - 1.0 <= date <= after + 1.0, "the Date header tells the emulator's time (to the second)"


def test_the_epoch_defaults_to_the_start_and_survives_a_restart(make_emu) -> None:
    before = time.time()
    emu = make_emu(time_scale=0.05)
    assert before <= emu.clock_epoch <= time.time()
    assert emu.now() >= time.time()
    emu.restart()
    assert emu.state()["clock"]["epoch"] == emu.clock_epoch


def test_no_clock_above_a_time_scale_of_one(make_emu) -> None:
    emu = make_emu(time_scale=2.0)
    assert ENV not in emu.env() and emu.state()["clock"]["env"] is None
    assert emu.now() == pytest.approx(time.time(), abs=0.5)


def _record_expiry(capsys, emu) -> float:
    result = run_module(zenlayer_instance_power_record.main, capsys,
                        {"instance_id": RUNNING_ID, "owner": "job-clock", "lifetime": 300})
    assert not result.get("failed"), result
    emu.settle()
    return decode_record(emu.tags(RUNNING_ID)[RECORD_TAG_KEY])["expires"]


@pytest.mark.emulator(clock_epoch=time.time() - 3600)
def test_a_module_writes_its_record_on_the_emulators_time(emulator_env, capsys, monkeypatch) -> None:
    """Only the variable (the unit tests' own scaled SYSTEM_CLOCK set aside): the record expires 300 s of emulator
    time from now (15 s of real time at scale 0.05); the emulator's time is 20 hours ahead of the wall clock."""
    monkeypatch.setattr(_wait, "SYSTEM_CLOCK", _wait.Clock())
    assert os.environ[ENV] == emulator_env.clock_setting()
    before = emulator_env.now()
    expires = _record_expiry(capsys, emulator_env)
    assert int(before) + 300 <= expires <= emulator_env.now() + 300  # whatever the load: between the two readings
    assert expires - time.time() > 60_000


@pytest.mark.emulator(clock_epoch=time.time() - 3600)
def test_without_the_variable_a_module_writes_on_the_system_clock(emulator_env, capsys, monkeypatch) -> None:
    monkeypatch.setattr(_wait, "SYSTEM_CLOCK", _wait.Clock())
    monkeypatch.delenv(ENV)
    assert _record_expiry(capsys, emulator_env) == pytest.approx(time.time() + 300, abs=3)
