#!/usr/bin/env python
# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The emulator service of an `ansible-test integration` run (see tests/integration/README.md).

    emulator_service.py serve --state-dir DIR --emulator-dir DIR --owner-pid PID   (runme.sh, detached)
    emulator_service.py start --state-dir DIR --seed FILE [--options JSON]          (setup_emulator's tasks)
    emulator_service.py stop --state-dir DIR                                        (setup_emulator's stop.yml)

`serve` detaches and runs until the owner (the ansible-test process) exits; it holds at most one emulator
(tests/emulator/harness.py's Emulator on 127.0.0.1, a free port). `start` asks it for a fresh emulator with a seed
and options ({"time_scale": 0.05, "rate_limit": 0, "faults": [...], "harsh": false, "async_lag": S,
"async_jitter": S, "image_list_lag": S, "imaging_tail": S, "random_seed": N}; the timing knobs of
tests/emulator/README.md) - the previous one is stopped first - and prints {"url", "domain", "port", "access_key_id",
"access_key_password", "token", "clock"} as JSON ("clock": the value of ZENLAYERCLOUD_EMULATOR_CLOCK for the
modules, null when time_scale is above 1). `stop` stops the emulator. Requests and answers are files in DIR (written
atomically); the service's log is DIR/service.log.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid

POLL = 0.1
ANSWER_TIMEOUT = 60.0
# options passed on to harness.Emulator as they are
TIMING_OPTIONS = ("harsh", "async_lag", "async_jitter", "image_list_lag", "imaging_tail", "random_seed")


def _write_json(path: str, document: dict) -> None:
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(document, handle)
    os.replace(path + ".tmp", path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _detach(log_path: str) -> bool:
    """Double fork: True in the detached grandchild (stdio to log_path), False in the caller."""
    child = os.fork()
    if child:
        os.waitpid(child, 0)  # the first child exits as soon as it has forked the service
        return False
    os.setsid()
    if os.fork():
        os._exit(0)  # pylint: disable=protected-access
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    return True


def serve(args: argparse.Namespace) -> int:
    """The service loop: answer requests, stop everything when the owner exits."""
    sys.path.insert(0, os.path.abspath(args.emulator_dir))
    import harness  # pylint: disable=import-outside-toplevel,import-error

    # the emulators' temp folders in the state dir (ansible-test's output), never left in the machine's /tmp
    tempfile.tempdir = os.path.join(args.state_dir, "tmp")
    os.makedirs(tempfile.tempdir, exist_ok=True)

    request_path = os.path.join(args.state_dir, "request.json")
    answer_path = os.path.join(args.state_dir, "answer.json")
    emulator = None
    print("service %d: owner %d, emulator code %s" % (os.getpid(), args.owner_pid, args.emulator_dir), flush=True)
    try:
        while _alive(args.owner_pid):
            if not os.path.exists(request_path):
                time.sleep(POLL)
                continue
            with open(request_path, encoding="utf-8") as handle:
                request = json.load(handle)
            os.remove(request_path)
            answer: dict = {"id": request.get("id")}
            if emulator is not None:
                emulator.close()
                emulator = None
            try:
                if request.get("action") == "start":
                    options = request.get("options") or {}
                    emulator = harness.Emulator(request["seed"], time_scale=float(options.get("time_scale", 0.05)),
                                                rate_limit=options.get("rate_limit", 0),
                                                log_file=os.path.join(args.state_dir, "requests.log"),
                                                **{name: options[name] for name in TIMING_OPTIONS if name in options})
                    emulator.start()
                    if options.get("faults"):
                        emulator.add_faults(*options["faults"])
                    answer.update(url=emulator.url, domain=emulator.domain, port=emulator.port,
                                  access_key_id=emulator.credentials.access_key_id,
                                  access_key_password=emulator.credentials.access_key_password,
                                  token=emulator.credentials.token, clock=emulator.clock_setting())
                    print("service: emulator %s for seed %s" % (emulator.url, request["seed"]), flush=True)
                else:
                    answer.update(stopped=True)
                    print("service: emulator stopped", flush=True)
            except Exception as error:  # pylint: disable=broad-exception-caught
                answer.update(error="%s: %s" % (type(error).__name__, error))
            _write_json(answer_path, answer)
    finally:
        if emulator is not None:
            emulator.close()
        print("service %d: owner %d is gone, stopped" % (os.getpid(), args.owner_pid), flush=True)
    return 0


def ask(args: argparse.Namespace, request: dict) -> int:
    """Send one request to the service and print its answer (exit 1 on an error or no answer)."""
    request_id = uuid.uuid4().hex
    answer_path = os.path.join(args.state_dir, "answer.json")
    if not os.path.isdir(args.state_dir):
        sys.exit("no emulator service in %s: the setup target setup_emulator (setup/once) starts it; run the target "
                 "with ansible-test integration" % args.state_dir)
    _write_json(os.path.join(args.state_dir, "request.json"), dict(request, id=request_id))
    deadline = time.monotonic() + ANSWER_TIMEOUT
    while time.monotonic() < deadline:
        try:
            with open(answer_path, encoding="utf-8") as handle:
                answer = json.load(handle)
        except (OSError, ValueError):
            answer = {}
        if answer.get("id") == request_id:
            print(json.dumps(answer))
            return 1 if answer.get("error") else 0
        time.sleep(POLL)
    sys.exit("the emulator service in %s did not answer within %d s (see service.log there)"
             % (args.state_dir, ANSWER_TIMEOUT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("serve", "start", "stop"):
        command = sub.add_parser(name)
        command.add_argument("--state-dir", required=True)
        if name == "serve":
            command.add_argument("--emulator-dir", required=True)
            command.add_argument("--owner-pid", type=int, required=True)
        if name == "start":
            command.add_argument("--seed", required=True)
            command.add_argument("--options", default="{}",
                                 help="JSON: time_scale, rate_limit, faults, " + ", ".join(TIMING_OPTIONS))
    args = parser.parse_args()
    if args.command == "serve":
        os.makedirs(args.state_dir, exist_ok=True)
        for stale in ("request.json", "answer.json"):
            if os.path.exists(os.path.join(args.state_dir, stale)):
                os.remove(os.path.join(args.state_dir, stale))
        if not _detach(os.path.join(args.state_dir, "service.log")):
            print("emulator service started (state in %s)" % args.state_dir)
            return 0
        try:
            return serve(args)
        finally:
            os._exit(0)  # pylint: disable=protected-access
    if args.command == "start":
        return ask(args, {"action": "start", "seed": os.path.abspath(args.seed), "options": json.loads(args.options)})
    return ask(args, {"action": "stop"})


if __name__ == "__main__":
    sys.exit(main())
