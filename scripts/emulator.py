# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The emulator in the background, for the README's Quick start and your own playbooks (`make emulator`).

    python3 scripts/emulator.py start   # start it (seed tests/emulator/seeds/quickstart.json), print the export lines
    python3 scripts/emulator.py env     # print the export lines again
    python3 scripts/emulator.py stop    # stop it and remove its files

The export lines go to stdout (so `eval "$(python3 scripts/emulator.py env)"` works), everything else to stderr.
Its files (pid, address, world, request log) are in EMULATOR_DIR, tests/output/emulator by default. It needs only
the Python standard library, and talks to nothing but 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER = os.path.join(REPO, "tests", "emulator", "server.py")
SEEDS = os.path.join(REPO, "tests", "emulator", "seeds")
DEFAULT_DIR = os.path.join(REPO, "tests", "output", "emulator")
START_TIMEOUT = 60.0  # seconds: a quarter of one on an idle machine, more than 10 on a loaded one (tests/emulator/harness.py)


def _files(directory: str) -> dict[str, str]:
    return {name: os.path.join(directory, name) for name in ("emulator.json", "state.json", "requests.log", "server.out",
                                                             "server.err")}


def remove_files(directory: str) -> None:
    """Remove what start wrote (only that), and the directory when nothing else is in it."""
    for path in _files(directory).values():
        if os.path.exists(path):
            os.remove(path)
    try:
        os.rmdir(directory)
    except OSError:
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running(directory: str) -> dict | None:
    """What `start` recorded, when that emulator still runs."""
    try:
        with open(_files(directory)["emulator.json"], encoding="utf-8") as handle:
            info = json.load(handle)
    except (OSError, ValueError):
        return None
    return info if _alive(int(info["pid"])) else None


def export_lines(info: dict) -> str:
    """The shell lines that point the collection at this emulator."""
    return ("export ZENLAYERCLOUD_DOMAIN=%(domain)s ZENLAYERCLOUD_SCHEME=http\n"
            "export ZENLAYERCLOUD_ACCESS_KEY_ID=%(key_id)s ZENLAYERCLOUD_ACCESS_KEY_PASSWORD=%(password)s\n" % info)


def _wait_for_address(out_path: str, process: subprocess.Popen) -> str | None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        with open(out_path, encoding="utf-8", errors="replace") as handle:
            first = handle.readline().strip()
        if first.startswith("listening on "):
            return first[len("listening on "):]
        time.sleep(0.05)
    return None


def start(args: argparse.Namespace) -> int:
    info = running(args.dir)
    if info:
        print("The emulator is already running at %s (seed %s); `make emulator-stop` stops it." % (info["url"], info["seed"]),
              file=sys.stderr)
    else:
        info = _spawn(args)
        if info is None:
            return 1
        print("The emulator runs in the background at %s: seed %s, time scale %s, its files in %s.\n"
              "Stop it with `make emulator-stop`. Paste these lines into your shell (or run: eval \"$(make -s emulator-env)\"):"
              % (info["url"], info["seed"], info["time_scale"], args.dir), file=sys.stderr)
    sys.stdout.write(export_lines(info))
    return 0


def _spawn(args: argparse.Namespace) -> dict | None:
    files = _files(args.dir)
    remove_files(args.dir)  # a fresh world: the Quick start expects the seed as it is
    os.makedirs(args.dir, exist_ok=True)
    seed = os.path.abspath(args.seed) if os.path.sep in args.seed else os.path.join(SEEDS, args.seed + ".json")
    command = [sys.executable, SERVER, "--port", str(args.port), "--seed", seed, "--state", files["state.json"],
               "--log", files["requests.log"], "--time-scale", str(args.time_scale), "--outlive-parent"]
    with open(files["server.out"], "wb") as out, open(files["server.err"], "wb") as err:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=err,  # pylint: disable=consider-using-with
                                   start_new_session=True, cwd=args.dir)
    url = _wait_for_address(files["server.out"], process)
    if url is None:
        process.kill()
        with open(files["server.err"], encoding="utf-8", errors="replace") as handle:
            print("The emulator did not start:\n%s" % handle.read()[-3000:], file=sys.stderr)
        return None
    with open(seed, encoding="utf-8") as handle:
        key_id, password = next(iter(json.load(handle)["access_keys"].items()))
    info = {"pid": process.pid, "url": url, "domain": url.split("://", 1)[1], "seed": os.path.relpath(seed, REPO),
            "time_scale": args.time_scale, "key_id": key_id, "password": password}
    with open(files["emulator.json"], "w", encoding="utf-8") as handle:
        json.dump(info, handle)
    return info


def env(args: argparse.Namespace) -> int:
    info = running(args.dir)
    if not info:
        print("No emulator runs from %s: start one with `make emulator`." % args.dir, file=sys.stderr)
        return 1
    sys.stdout.write(export_lines(info))
    return 0


def stop(args: argparse.Namespace) -> int:
    info = running(args.dir)
    if info:
        os.kill(int(info["pid"]), signal.SIGTERM)
        deadline = time.monotonic() + 5
        while _alive(int(info["pid"])) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(int(info["pid"])):
            os.kill(int(info["pid"]), signal.SIGKILL)
        print("The emulator at %s is stopped." % info["url"], file=sys.stderr)
    else:
        print("No emulator was running from %s." % args.dir, file=sys.stderr)
    remove_files(args.dir)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("start", "env", "stop"))
    parser.add_argument("--dir", default=os.environ.get("EMULATOR_DIR") or DEFAULT_DIR,
                        help="where its files go (default: $EMULATOR_DIR, else tests/output/emulator)")
    parser.add_argument("--seed", default="quickstart", help="a seed name (tests/emulator/seeds/NAME.json) or a path")
    parser.add_argument("--port", type=int, default=int(os.environ.get("EMULATOR_PORT") or 0),
                        help="port on 127.0.0.1 (default: $EMULATOR_PORT, else any free one)")
    parser.add_argument("--time-scale", type=float, default=1.0, help="multiplies the seed's timings (default 1)")
    args = parser.parse_args()
    args.dir = os.path.abspath(args.dir)
    return {"start": start, "env": env, "stop": stop}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
