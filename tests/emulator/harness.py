"""Start, drive and inspect the Zenlayer VM API emulator from Python (pytest fixtures, integration runner, demos).

    from harness import Emulator, load_seed
    with Emulator(load_seed("default"), time_scale=0.05) as emu:
        os.environ.update(emu.env())
        status, doc = emu.call("DescribeZones", {})
        emu.add_faults({"action": "CreateImage", "kind": "lose_response"})
        print(emu.requests("CreateImage"), emu.state(), emu.events())
"""
from __future__ import annotations

import http.client
import json
import os
import queue
import select
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, NamedTuple

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import signing  # noqa: E402  pylint: disable=wrong-import-position

SERVER_SCRIPT = os.path.join(_HERE, "server.py")
SEEDS_DIR = os.path.join(_HERE, "seeds")
# An idle machine starts the emulator in a quarter of a second; at a load of 15 on two cores (make test's first
# minutes, every session installing at once) it was seen taking 3 to 4 s, and more than 10 s at its peaks.
START_TIMEOUT = 60.0
ADMIN_TIMEOUT = 30.0  # an admin call's answer, on the same loaded machine
STOP_TIMEOUT = 5.0
SERVICE_VERSIONS = {"vm": "2023-03-13", "zrm": "2025-10-14"}
EMULATOR_CLOCK_ENV = "ZENLAYERCLOUD_EMULATOR_CLOCK"
# The tag of the role's power record (plugins/module_utils/_record.py), value POWER.SINCE.EXPIRES.OWNER. The emulator
# stores it as any tag; only the tests read it, with record_writes().
POWER_RECORD_TAG = "zenlayer-cloud-power-record"


class Credentials(NamedTuple):
    """The first access key and token of the seed."""

    access_key_id: str | None
    access_key_password: str | None
    token: str | None


class ApiAnswer(NamedTuple):
    """A raw API answer: HTTP status, parsed JSON (None if not JSON) and headers."""

    status: int
    body: Any
    headers: dict


class EmulatorError(RuntimeError):
    """The emulator did not start, or an admin call failed."""


def load_seed(name: str) -> dict:
    """The seed tests/emulator/seeds/NAME.json as a dict."""
    path = name if name.endswith(".json") and os.path.sep in name else os.path.join(SEEDS_DIR, name + ".json")
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def record_writes(requests: list[dict], tag_key: str = POWER_RECORD_TAG) -> list[tuple[dict, str, dict | None]]:
    """The power record writes performed in a request log (Emulator.requests()), oldest first, as (entry, kind,
    record). kind: "written" (a record where the instance held none, another owner's, or one expiring no later),
    "renewed" (its owner's record again, expiring later: how many a run makes depends on how long it takes, so on the
    machine's load) or "removed"; record: {power, since, expires, owner} of the value written, None when removed."""
    writes: list[tuple[dict, str, dict | None]] = []
    held: dict[str, dict] = {}  # instance -> the record it holds
    for entry in requests:
        if entry["action"] != "ModifyResourceTags" or not entry["performed"]:
            continue
        body = entry["body"]
        instance_id = body.get("resourceUuid")
        values = [tag.get("value", "") for tag in body.get("replaceTags") or [] if tag.get("key") == tag_key]
        if values:
            power, since, expires, owner = values[0].split(".", 3)
            record = {"power": power, "since": int(since), "expires": int(expires), "owner": owner}
            before = held.get(instance_id)
            renewed = before is not None and before["owner"] == owner and record["expires"] > before["expires"]
            writes.append((entry, "renewed" if renewed else "written", record))
            held[instance_id] = record
        elif tag_key in (body.get("deleteTagKeys") or []):
            writes.append((entry, "removed", None))
            held.pop(instance_id, None)
    return writes


def _credentials_of(seed: dict) -> Credentials:
    keys = seed.get("access_keys") or {}
    key_id = next(iter(keys), None)
    tokens = seed.get("tokens") or []
    return Credentials(key_id, keys.get(key_id) if key_id else None, tokens[0] if tokens else None)


def _exited(pidfd: int, timeout: float | None = 0.0) -> bool:
    """Whether the process of `pidfd` has exited (a pidfd reads ready then), waiting up to `timeout` (None: until it
    has)."""
    return bool(select.select([pidfd], [], [], timeout)[0])


class ForkServer:
    """server.py --fork-server, started by use_fork_server(): it forks each emulator from a process that has already
    imported the emulator's code, which saves about 0.1 CPU-s an emulator (the unit tests start about 1,500). On with
    use_fork_server() (tests/unit/conftest.py); off, each emulator is a new interpreter.

    ansible-test runs each unit test in a fork of its pytest worker (its ansible_forked plugin). The server is started
    in the worker, before those forks, so that the tests of a worker share it: started in a test's fork, it would end
    with that fork, and each test would pay a new interpreter for it again."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.process: subprocess.Popen | None = None
        self._pidfd: int | None = None
        self._asked = 0

    def start(self) -> None:
        with self.lock:
            self._started()

    def _running(self) -> bool:
        # a pidfd, not Popen.poll(): in a test's fork the server is not a child, and poll() would take it for ended
        return self._pidfd is not None and not _exited(self._pidfd)

    def _started(self) -> subprocess.Popen:
        if not self._running():
            if self._pidfd is not None:
                os.close(self._pidfd)
            self.process = subprocess.Popen([sys.executable, SERVER_SCRIPT, "--fork-server"], stdin=subprocess.PIPE,  # pylint: disable=consider-using-with
                                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            self._pidfd = os.pidfd_open(self.process.pid)
        return self.process

    def _ask(self, request: dict) -> dict:
        with self.lock:
            if "reap" in request and not self._running():
                return {"returncode": None}  # the fork server that started it has ended: init reaped it
            process = self._started()
            assert process.stdin and process.stdout
            # the tests' forks share the pipes: an answer a killed fork never read must not be taken for this one's
            self._asked += 1
            request_id = "%d-%d" % (os.getpid(), self._asked)
            process.stdin.write((json.dumps(dict(request, id=request_id)) + "\n").encode())
            process.stdin.flush()
            while True:
                answer = process.stdout.readline()
                if not answer or json.loads(answer).get("id") == request_id:
                    break
        if not answer:
            raise EmulatorError("the emulators' fork server ended (exit status %s)" % process.poll())
        return json.loads(answer)

    def spawn(self, argv: list[str], stdout_path: str, stderr_path: str) -> ForkedProcess:
        return ForkedProcess(self, self._ask({"spawn": argv, "stdout": stdout_path, "stderr": stderr_path})["pid"],
                             stdout_path)

    def reap(self, pid: int) -> int | None:
        """The exit status of an emulator that has exited (None if unknown: its fork server ended before it)."""
        return self._ask({"reap": pid})["returncode"]

    def close(self) -> None:
        with self.lock:
            if self.process is not None:
                assert self.process.stdin
                self.process.stdin.close()
                try:
                    self.process.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            if self._pidfd is not None:
                os.close(self._pidfd)
            self.process, self._pidfd = None, None


class ForkedProcess:
    """What the harness and the tests use of a Popen (pid, returncode, poll, wait, send_signal, kill), for an emulator
    of the fork server: not this process's child, so it is watched through a pidfd, and the fork server reaps it."""

    stdout = None

    def __init__(self, server: ForkServer, pid: int, stdout_path: str) -> None:
        self.server, self.pid, self.stdout_path = server, pid, stdout_path
        self.returncode: int | None = None
        self._pidfd = os.pidfd_open(pid)

    def poll(self) -> int | None:
        if self.returncode is None and _exited(self._pidfd):
            returncode = self.server.reap(self.pid)
            self.returncode = -1 if returncode is None else returncode
            os.close(self._pidfd)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None and not _exited(self._pidfd, timeout):
            raise subprocess.TimeoutExpired("emulator %d" % self.pid, timeout or 0)
        return self.poll()  # type: ignore[return-value]

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            try:
                signal.pidfd_send_signal(self._pidfd, signum)
            except ProcessLookupError:  # exited since
                pass

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def first_line(self, timeout: float) -> str | None:
        """The first line it wrote on stdout (None if it exited or timed out first)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.stdout_path, "rb") as handle:
                text = handle.readline()
            if text.endswith(b"\n"):
                return text.decode("utf-8", "replace").strip()
            if self.poll() is not None:
                return None
            time.sleep(0.01)
        return None


_FORK_SERVER: ForkServer | None = None


def use_fork_server(enabled: bool = True) -> None:
    """Emulators started from here on are forked by a fork server (ForkServer), or (False) new interpreters; False
    also ends the fork server."""
    global _FORK_SERVER  # pylint: disable=global-statement
    if enabled and _FORK_SERVER is None and hasattr(os, "pidfd_open"):
        _FORK_SERVER = ForkServer()
        _FORK_SERVER.start()
    elif not enabled and _FORK_SERVER is not None:
        _FORK_SERVER.close()
        _FORK_SERVER = None


def _read_first_line(stream: Any, lines: queue.Queue) -> None:
    """Put the first stdout line on the queue, then drain the pipe until EOF."""
    first = True
    for line in iter(stream.readline, b""):
        if first:
            lines.put(line.decode("utf-8", "replace").strip())
            first = False
    if first:
        lines.put(None)


class Emulator:  # pylint: disable=too-many-instance-attributes
    """A running emulator process on 127.0.0.1 (context manager).

    seed: a dict (written to a temp file) or the path of a seed file.  state_file: kept across restart(); when None a
    temp state file is used so restart() still keeps the world.  tls: (cert_path, key_path) to serve HTTPS.
    harsh, async_lag, async_jitter, image_list_lag, imaging_tail, random_seed: the timing knobs (README.md, "Timing
    knobs"); None = the seed's.  clock_epoch: where the emulator's scaled time starts (default: the first start).
    """

    def __init__(self, seed: dict | str, *, time_scale: float = 1.0, rate_limit: float = 0, state_file: str | None = None,
                 log_file: str | None = None, tls: tuple[str, str] | None = None, extra_args: tuple | list = (),
                 harsh: bool = False, async_lag: float | None = None, async_jitter: float | None = None,
                 image_list_lag: float | None = None, imaging_tail: float | None = None, random_seed: int | None = None,
                 clock_epoch: float | None = None) -> None:
        self.timing = {"async_lag": async_lag, "async_jitter": async_jitter, "image_list_lag": image_list_lag,
                       "imaging_tail": imaging_tail, "random_seed": random_seed}
        self.harsh = harsh
        self.clock_epoch = clock_epoch
        self._started_once = False
        # a test run's id (leftovers.py) in the name: the run finds a folder it left behind, and only its own
        self._tmpdir = tempfile.mkdtemp(prefix="zenlayer-emulator-%s" % (os.environ.get("ZENLAYER_TEST_RUN", "") + "-").lstrip("-"))
        if isinstance(seed, dict):
            self.seed = seed
            self.seed_file = os.path.join(self._tmpdir, "seed.json")
            with open(self.seed_file, "w", encoding="utf-8") as handle:
                json.dump(seed, handle)
        else:
            self.seed_file = os.path.abspath(seed)
            with open(self.seed_file, encoding="utf-8") as handle:
                self.seed = json.load(handle)
        self.time_scale = time_scale
        self.rate_limit = rate_limit
        self.state_file = state_file or os.path.join(self._tmpdir, "state.json")
        self.log_file = log_file
        self.tls = tls
        self.extra_args = [str(arg) for arg in extra_args]
        self.credentials = _credentials_of(self.seed)
        self.stderr_file = os.path.join(self._tmpdir, "stderr.log")
        self.port: int | None = None
        self.url: str | None = None
        self.process: subprocess.Popen | ForkedProcess | None = None
        self._ssl_context = None
        if tls:
            self._ssl_context = ssl.create_default_context()
            self._ssl_context.check_hostname = False
            self._ssl_context.verify_mode = ssl.CERT_NONE

    # -- lifecycle -----------------------------------------------------------------------------------------------

    @property
    def scheme(self) -> str:
        """http, or https with tls."""
        return "https" if self.tls else "http"

    @property
    def domain(self) -> str:
        """127.0.0.1:PORT (what ZENLAYERCLOUD_DOMAIN must be)."""
        return "127.0.0.1:%s" % self.port

    def _command(self, port: int) -> list[str]:
        cmd = [sys.executable, SERVER_SCRIPT, "--port", str(port), "--seed", self.seed_file,
               "--state", self.state_file, "--time-scale", repr(float(self.time_scale)),
               "--rate-limit", repr(float(self.rate_limit)), "--clock-epoch", repr(float(self.clock_epoch))]
        if not self._started_once:  # a restart keeps the knobs of the state file, patched ones included
            cmd += ["--harsh"] if self.harsh else []
            for name, value in self.timing.items():
                if value is not None:
                    cmd += ["--" + name.replace("_", "-"), repr(value)]
        if self.log_file:
            cmd += ["--log", self.log_file]
        if self.tls:
            cmd += ["--tls-cert", self.tls[0], "--tls-key", self.tls[1]]
        return cmd + self.extra_args

    def start(self, port: int | None = None) -> Emulator:
        """Spawn server.py (port 0 = any free one) and wait up to START_TIMEOUT for 'listening on ...'."""
        if self.clock_epoch is None:
            self.clock_epoch = time.time()
        first = self._spawn(self._command(port or 0))
        if not first or not first.startswith("listening on "):
            self._kill()
            raise EmulatorError("emulator did not start (first line %r); stderr:\n%s" % (first, self._stderr_tail()))
        self.url = first[len("listening on "):]
        self.port = int(self.url.rsplit(":", 1)[1])
        self._started_once = True
        return self

    def _spawn(self, command: list[str]) -> str | None:
        """Start the emulator process; its first line on stdout (None if none within START_TIMEOUT)."""
        if _FORK_SERVER is not None:
            stdout_file = os.path.join(self._tmpdir, "stdout.log")
            with open(stdout_file, "wb"):
                pass
            self.process = _FORK_SERVER.spawn(command[2:], stdout_file, self.stderr_file)
            return self.process.first_line(START_TIMEOUT)
        with open(self.stderr_file, "ab") as stderr:
            self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr,  # pylint: disable=consider-using-with
                                            stdin=subprocess.DEVNULL)
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=_read_first_line, args=(self.process.stdout, lines), daemon=True).start()
        try:
            return lines.get(timeout=START_TIMEOUT)
        except queue.Empty:
            return None

    def _stderr_tail(self) -> str:
        try:
            with open(self.stderr_file, encoding="utf-8", errors="replace") as handle:
                return handle.read()[-4000:]
        except OSError:
            return ""

    def _kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)

    def stop(self) -> None:
        """SIGTERM, wait up to 5 s, then SIGKILL."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._kill()
        if self.process.stdout:
            self.process.stdout.close()
        self.process = None

    def restart(self, *, graceful: bool = False) -> Emulator:
        """Kill (SIGKILL unless graceful) and start again on the same port with the same state file."""
        port = self.port
        if graceful:
            self.stop()
        else:
            self._kill()
            self.stop()
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                return self.start(port)
            except EmulatorError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def close(self) -> None:
        """Stop and remove the temp directory."""
        self.stop()
        shutil.rmtree(self._tmpdir, ignore_errors=True)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def env(self) -> dict[str, str]:
        """Environment for the collection / SDK / Terraform to talk to this emulator; with a time scale of at most 1,
        ZENLAYERCLOUD_EMULATOR_CLOCK too, so the modules run on the emulator's time (see now())."""
        env = {"ZENLAYERCLOUD_ACCESS_KEY_ID": self.credentials.access_key_id or "",
               "ZENLAYERCLOUD_ACCESS_KEY_PASSWORD": self.credentials.access_key_password or "",
               "ZENLAYERCLOUD_DOMAIN": self.domain, "ZENLAYERCLOUD_SCHEME": self.scheme}
        if self.clock_setting():
            env[EMULATOR_CLOCK_ENV] = self.clock_setting()
        return env

    def clock_setting(self) -> str | None:
        """"<epoch>:<time_scale>", the value of ZENLAYERCLOUD_EMULATOR_CLOCK (None when time_scale is not in (0, 1])."""
        if self.clock_epoch is None or not 0 < self.time_scale <= 1:
            return None
        return "%r:%r" % (float(self.clock_epoch), float(self.time_scale))

    def now(self, wall: float | None = None) -> float:
        """The emulator's time (unix seconds), what a module's clock.time() reads: compare record expiries with it.
        With `wall` (a real time.time(), such as a request log entry's ts): the emulator's time at that moment."""
        wall = time.time() if wall is None else wall
        if not self.clock_setting():
            return wall
        return self.clock_epoch + (wall - self.clock_epoch) / self.time_scale

    # -- admin endpoints -----------------------------------------------------------------------------------------

    def admin(self, method: str, path: str, document: Any = None) -> Any:
        """Call /_emulator/<path>; return the parsed JSON answer."""
        data = None if document is None else json.dumps(document).encode("utf-8")
        request = urllib.request.Request("%s/_emulator/%s" % (self.url, path.lstrip("/")), data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=ADMIN_TIMEOUT, context=self._ssl_context) as answer:
                return json.loads(answer.read().decode("utf-8"))
        except urllib.error.HTTPError as error:
            raise EmulatorError("%s /_emulator/%s -> %s: %s" % (method, path, error.code, error.read()[:500])) from error

    def requests(self, action: str | None = None, service: str | None = None) -> list[dict]:
        """Logged API requests (optionally of one action and/or service: 'vm' or 'zrm'), oldest first."""
        query = urllib.parse.urlencode({k: v for k, v in (("action", action), ("service", service)) if v})
        return self.admin("GET", "requests" + ("?" + query if query else ""))["requests"]

    def clear_requests(self) -> None:
        """Empty the request log."""
        self.admin("DELETE", "requests")

    def state(self) -> dict:
        """Internal world view: instances, images (with zoneId, instanceId), quota, timings."""
        return self.admin("GET", "state")

    def instance(self, instance_id: str) -> dict | None:
        """One instance of state(), or None."""
        return next((i for i in self.state()["instances"] if i["instanceId"] == instance_id), None)

    def images(self, zone_id: str | None = None, name: str | None = None) -> list[dict]:
        """Images of state(), optionally only of a zone and/or with this exact name."""
        return [i for i in self.state()["images"]
                if (zone_id is None or i["zoneId"] == zone_id) and (name is None or i["imageName"] == name)]

    def events(self) -> list[dict]:
        """Status-change events [{ts, kind, id, from, to}]."""
        return self.admin("GET", "events")["events"]

    def add_faults(self, *rules: dict) -> list[dict]:
        """Append fault rules; returns the listing."""
        return self.admin("POST", "faults", {"faults": list(rules)})["faults"]

    def faults(self) -> list[dict]:
        """Fault rules with their remaining counts."""
        return self.admin("GET", "faults")["faults"]

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self.admin("DELETE", "faults")

    def patch(self, **spec: Any) -> None:
        """POST /_emulator/patch: instances={id: {...}}, images={...}, delete_instances=[...], timings={...}, image_quota=...,
        async_lag=seconds, async_jitter=, image_list_lag=, imaging_tail=, harsh=True, random_seed=N,
        tag_denied_keys=[...], zrm_denied_keys=[...], denied_actions={key id: [actions]}"""
        self.admin("POST", "patch", spec)

    def set_async_lag(self, seconds: float) -> None:
        """Writes take effect `seconds` (x time scale) after they are accepted; 0 = at once."""
        self.patch(async_lag=seconds)

    def accepted(self) -> list[dict]:
        """Accepted writes whose effect is not visible yet [{effectId, action, plan, accepted_at, at}]."""
        return self.state()["accepted"]

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until every accepted write took effect and every transition finished."""
        def settled() -> bool:
            state = self.state()
            return not state["accepted"] and not any(r.get("pending") for r in state["instances"] + state["images"])
        self.wait_for(settled, timeout=timeout)

    def record_writes(self, requests: list[dict] | None = None) -> list[tuple[dict, str, dict | None]]:
        """record_writes() of this emulator's request log, or of `requests` taken from it."""
        return record_writes(self.requests("ModifyResourceTags") if requests is None else requests)

    def finish_images(self, image_ids: list[str], at: float) -> None:
        """The images (CREATING) turn AVAILABLE at `at`, a real (wall-clock) time: a test holds an image CREATING for
        long on the emulator's clock, then ends it once the run under test has seen it so."""
        self.patch(images={image_id: {"pending": {"to": "AVAILABLE", "at": at}} for image_id in image_ids})

    def tags(self, instance_id: str) -> dict[str, str]:
        """The tags of an instance as stored (visible ones), as {key: value}."""
        return {tag["key"]: tag["value"] for tag in (self.instance(instance_id) or {}).get("tags") or []}

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
        """Poll predicate() until it returns something truthy; raise TimeoutError after timeout seconds."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() > deadline:
                raise TimeoutError("condition not met within %s s" % timeout)
            time.sleep(interval)

    # -- raw API calls -------------------------------------------------------------------------------------------

    def call(self, action: str, body: Any = None, *, auth: str = "hmac", version: str | None = None,  # pylint: disable=too-many-arguments
             key_id: str | None = None, password: str | None = None, token: str | None = None,
             host: str | None = None, timestamp: int | None = None, headers: dict | None = None,
             raw_body: bytes | None = None, timeout: float = 10.0, service: str = "vm") -> ApiAnswer:
        """One API request signed like the official SDK (auth 'hmac', 'bearer' or 'none'); every part can be overridden.

        service 'vm' posts to /api/v2/vm, 'zrm' to /api/v2/zrm; version defaults to the service's (2023-03-13 for vm,
        2025-10-14 for zrm)."""
        data = raw_body if raw_body is not None else json.dumps({} if body is None else body).encode("utf-8")
        host = host or self.domain
        version = version or SERVICE_VERSIONS.get(service, SERVICE_VERSIONS["vm"])
        sent = {"x-zc-version": version, "x-zc-service": service, "x-zc-action": action,
                "Content-Type": "application/json", "Host": host}
        if auth == "hmac":
            sent.update(signing.sign_headers(key_id or self.credentials.access_key_id,
                                             password or self.credentials.access_key_password,
                                             int(time.time()) if timestamp is None else timestamp, data, host))
        elif auth == "bearer":
            sent["Authorization"] = "Bearer " + (token or self.credentials.token or "")
        sent.update(headers or {})
        return self._send(data, sent, timeout, "/api/v2/" + service)

    def _send(self, data: bytes, headers: dict, timeout: float, path: str = "/api/v2/vm") -> ApiAnswer:
        if self.tls:
            conn: http.client.HTTPConnection = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                                                           context=self._ssl_context)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.putrequest("POST", path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers.items():
                conn.putheader(name, value)
            conn.putheader("Content-Length", str(len(data)))
            conn.endheaders(data)
            answer = conn.getresponse()
            raw = answer.read()
            try:
                parsed = json.loads(raw.decode("utf-8"))
            except ValueError:
                parsed = None
            return ApiAnswer(answer.status, parsed, dict(answer.getheaders()))
        finally:
            conn.close()
