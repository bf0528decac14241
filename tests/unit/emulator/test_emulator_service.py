"""The ansible-test targets' emulator service (setup_emulator/files/emulator_service.py): a target's options set the
timing knobs, and the answer carries the clock the setup_emulator role exports to the modules."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

TESTS = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EMULATOR_DIR = os.path.join(TESTS, "emulator")
SERVICE = os.path.join(TESTS, "integration", "targets", "setup_emulator", "files", "emulator_service.py")
SEED = os.path.join(EMULATOR_DIR, "seeds", "default.json")


def _service(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, SERVICE, *argv], capture_output=True, text=True, timeout=90, check=False)


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _state(url: str) -> dict:
    from urllib.request import urlopen  # pylint: disable=import-outside-toplevel
    with urlopen(url + "/_emulator/state", timeout=10) as answer:
        return json.loads(answer.read().decode("utf-8"))


def test_a_targets_options_set_the_knobs_and_the_answer_tells_the_clock(tmp_path) -> None:
    state_dir = str(tmp_path / "service")
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])  # stands in for ansible-test
    port = None
    try:
        assert _service("serve", "--state-dir", state_dir, "--emulator-dir", EMULATOR_DIR,
                        "--owner-pid", str(owner.pid)).returncode == 0
        options = {"time_scale": 0.05, "harsh": True, "async_lag": 12, "random_seed": 4}
        started = _service("start", "--state-dir", state_dir, "--seed", SEED, "--options", json.dumps(options))
        assert started.returncode == 0, started.stderr
        answer = json.loads(started.stdout)
        port = answer["port"]
        state = _state(answer["url"])
        assert (state["async_lag"], state["async_jitter"], state["image_list_lag"], state["imaging_tail"],
                state["random_seed"]) == (12, 1, 3, 3, 4)
        epoch, scale = (float(part) for part in answer["clock"].split(":"))
        assert scale == 0.05 and answer["clock"] == state["clock"]["env"]
        assert time.time() - 60 < epoch <= time.time()
        plain = json.loads(_service("start", "--state-dir", state_dir, "--seed", SEED, "--options",
                                    json.dumps({"time_scale": 2})).stdout)
        assert plain["clock"] is None, "no clock for the modules above a time scale of 1"
        assert not _port_open(port), "the previous emulator was stopped"
        port = plain["port"]
    finally:
        owner.kill()
        owner.wait(timeout=10)
    deadline = time.monotonic() + 15
    while port is not None and _port_open(port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert port is None or not _port_open(port), "the service outlived its owner"
