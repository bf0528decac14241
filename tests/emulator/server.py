"""Local emulator of the Zenlayer Cloud VM API (POST /api/v2/vm) for offline tests of zenlayer.cloud playbooks.

Run:  python3 tests/emulator/server.py --port 0 --seed tests/emulator/seeds/default.json
The first line on stdout is "listening on http://127.0.0.1:PORT".  See README.md next to this file.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import signal
import ssl
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import faults  # noqa: E402  pylint: disable=wrong-import-position
import signing  # noqa: E402  pylint: disable=wrong-import-position
from world import HARSH, TIMING_KNOBS, VM_ACTIONS, ZRM_ACTIONS, ApiError, PatchError, World  # noqa: E402  pylint: disable=wrong-import-position

API_PREFIX = "/api/v2/"
ADMIN_PREFIX = "/_emulator/"
MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Service:
    """One API service: its x-zc-service name (also the last part of its path), versions and actions."""

    name: str
    versions: tuple[str, ...]
    actions: tuple[str, ...]


SERVICES = {"vm": Service("vm", ("2023-03-13", "2026-04-01"), VM_ACTIONS),
            "zrm": Service("zrm", ("2025-10-14",), ZRM_ACTIONS)}


class NoAnswer(Exception):
    """Close the connection without writing a response (drop / lose_response / timeout faults), after holding it
    open for `hold` seconds."""

    def __init__(self, hold: float = 0.0) -> None:
        super().__init__("no answer")
        self.hold = hold


@dataclass
class ApiCall:
    """One API request as it goes through the pipeline; becomes the log entry."""

    ts: float
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    service: str | None = None
    action: str | None = None
    http_status: int | None = None
    code: str | None = None
    auth: str = "none"
    access_key_id: str | None = None
    body: Any = None
    fault: str | None = None
    performed: bool = False
    started: float = field(default_factory=time.monotonic)
    response_headers: dict = field(default_factory=dict)

    def log_entry(self) -> dict:
        """The JSON log line / admin log entry (never holds a secret)."""
        return {"ts": self.ts, "service": self.service, "action": self.action, "http_status": self.http_status, "code": self.code,
                "request_id": self.request_id, "auth": self.auth, "access_key_id": self.access_key_id,
                "body": self.body, "fault": self.fault, "performed": self.performed,
                "duration_ms": round((time.monotonic() - self.started) * 1000.0, 3)}


class Emulator:
    """Everything the request handler needs: the world, faults, limiter, request log and auth settings."""

    def __init__(self, world: World, *, rate_limit: float = 0.0, max_skew: float = 300.0,
                 log_file: str | None = None, host_aliases: tuple[str, ...] = ()) -> None:
        self.world = world
        self.faults = faults.FaultBook()
        self.limiter = faults.RateLimiter(rate_limit)
        self.max_skew = max_skew
        self.log_file = log_file
        self.host_aliases = tuple(a.lower() for a in host_aliases)
        self.port = 0
        self._log: list[dict] = []
        self._log_lock = threading.Lock()

    # -- request log ---------------------------------------------------------------------------------------------

    def record(self, call: ApiCall) -> None:
        """Keep the entry in memory and append it to --log."""
        entry = call.log_entry()
        with self._log_lock:
            self._log.append(entry)
            if self.log_file:
                with open(self.log_file, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n")

    def requests(self, action: str | None = None, service: str | None = None) -> list[dict]:
        """Logged API requests, optionally of one action and/or one service."""
        with self._log_lock:
            return [dict(e) for e in self._log
                    if (action is None or e["action"] == action) and (service is None or e["service"] == service)]

    def clear_requests(self) -> None:
        """Forget the in-memory request log (the --log file is kept)."""
        with self._log_lock:
            self._log.clear()

    # -- authentication ------------------------------------------------------------------------------------------

    def host_allowed(self, host: str) -> bool:
        """127.0.0.1:PORT, localhost:PORT, and every --host-alias with or without the port."""
        host = host.strip().lower()
        allowed = {"127.0.0.1:%d" % self.port, "localhost:%d" % self.port}
        for alias in self.host_aliases:
            allowed.update({alias, "%s:%d" % (alias, self.port)})
        return host in allowed

    def authenticate(self, call: ApiCall, headers: Any, body: bytes) -> None:
        """Check Host and Authorization (HMAC or Bearer); raise ApiError with the emulator's own 401 codes."""
        host = headers.get("Host")
        if not host or not self.host_allowed(host):
            raise ApiError(401, "AUTH_HOST_MISMATCH",
                           "The Host header %r does not name this server (expected 127.0.0.1:%d, localhost:%d or a "
                           "--host-alias); a signature for another host is not valid here." % (host, self.port, self.port))
        authorization = headers.get("Authorization")
        if not authorization or not authorization.strip():
            raise ApiError(401, "AUTH_MISSING", "The Authorization header is missing.")
        if authorization.strip().lower().startswith("bearer "):
            self._check_bearer(call, authorization.strip()[7:].strip())
        else:
            self._check_hmac(call, headers, host, authorization, body)

    def _check_bearer(self, call: ApiCall, token: str) -> None:
        call.auth = "bearer"
        with self.world.lock:
            known = any(signing.signature_matches(token, candidate) for candidate in self.world.tokens)
        if not token or not known:
            raise ApiError(401, "AUTH_INVALID_TOKEN", "The bearer token is not valid.")

    def _check_hmac(self, call: ApiCall, headers: Any, host: str, authorization: str, body: bytes) -> None:
        parsed = signing.parse_authorization(authorization)
        if parsed is None:
            raise ApiError(401, "AUTH_MALFORMED",
                           "The Authorization header is neither 'Bearer <token>' nor "
                           "'ZC2-HMAC-SHA256 Credential=<id>, SignedHeaders=content-type;host, Signature=<hex>'.")
        call.auth = "hmac"
        call.access_key_id = parsed.key_id
        self._check_hmac_headers(headers, parsed)
        with self.world.lock:
            password = self.world.access_keys.get(parsed.key_id)
        if password is None:
            raise ApiError(401, "AUTH_INVALID_ACCESS_KEY", "The access key id '%s' is unknown." % parsed.key_id)
        expected = signing.compute_signature(password, headers["x-zc-timestamp"].strip(), body,
                                             headers.get("Content-Type", ""), host)
        if not signing.signature_matches(expected, parsed.signature):
            raise ApiError(401, "AUTH_SIGNATURE_MISMATCH",
                           "The signature does not match the request (checked over the exact body bytes, the "
                           "Content-Type and Host headers as received, and x-zc-timestamp).")

    def _check_hmac_headers(self, headers: Any, parsed: signing.ParsedAuthorization) -> None:
        if parsed.signed_headers != signing.SIGNED_HEADERS:
            raise ApiError(401, "AUTH_MALFORMED", "SignedHeaders must be 'content-type;host', got '%s'." % parsed.signed_headers)
        method = headers.get("x-zc-signature-method")
        if method != signing.SIGNATURE_METHOD:
            raise ApiError(401, "AUTH_MALFORMED", "x-zc-signature-method must be ZC2-HMAC-SHA256, got %r." % method)
        stamp = (headers.get("x-zc-timestamp") or "").strip()
        if not stamp.isdigit():
            raise ApiError(401, "AUTH_MALFORMED", "x-zc-timestamp must be a unix time in seconds, got %r." % stamp)
        skew = time.time() - int(stamp)
        if abs(skew) > self.max_skew:
            raise ApiError(401, "AUTH_TIMESTAMP_EXPIRED",
                           "x-zc-timestamp is %d s away from the server clock (allowed: %g s)." % (skew, self.max_skew))

    # -- API pipeline --------------------------------------------------------------------------------------------

    @staticmethod
    def check_headers(service: Service, headers: Any) -> str:
        """x-zc-service (must name the service of the path), x-zc-version and x-zc-action; returns the action."""
        name = headers.get("x-zc-service")
        if name != service.name:
            raise ApiError(400, "INVALID_SERVICE", "x-zc-service must be '%s' at /api/v2/%s, got %r." % (
                service.name, service.name, name))
        version = headers.get("x-zc-version")
        if version not in service.versions:
            raise ApiError(400, "INVALID_VERSION", "x-zc-version of %s must be one of %s, got %r." % (
                service.name, ", ".join(service.versions), version))
        action = headers.get("x-zc-action")
        if action not in service.actions:
            raise ApiError(400, "INVALID_ACTION", "x-zc-action %r is not a %s action this emulator knows." % (
                action, service.name))
        return action

    @staticmethod
    def parse_body(raw: bytes) -> Any:
        """The JSON body, or None when it is not JSON."""
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None

    def handle_api(self, call: ApiCall, service: Service, headers: Any, raw: bytes) -> tuple[int, dict]:
        """Run the whole pipeline; return (status, JSON document) or raise NoAnswer."""
        call.action = headers.get("x-zc-action")
        call.body = self.parse_body(raw)
        try:
            if not self.limiter.allow():
                raise ApiError(429, "REQUEST_LIMIT_EXCEEDED", "Too many requests (emulator --rate-limit).",
                               {"Retry-After": str(self.limiter.retry_after())})
            self.authenticate(call, headers, raw)
            self.check_headers(service, headers)
            if not isinstance(call.body, dict):
                raise ApiError(400, "INVALID_REQUEST_BODY", "The request body must be a JSON object in UTF-8.")
            return self._with_fault(call)
        except ApiError as error:
            return self.error_answer(call, error)

    @staticmethod
    def error_answer(call: ApiCall, error: ApiError) -> tuple[int, dict]:
        """The error envelope."""
        call.http_status, call.code = error.status, error.code
        call.response_headers = dict(error.headers)
        return error.status, {"requestId": call.request_id, "code": error.code, "message": error.message}

    def _perform(self, call: ApiCall) -> tuple[int, dict]:
        payload = self.world.perform(call.action, call.body, call.access_key_id)
        call.performed = True
        call.http_status = 200
        response = {"requestId": call.request_id}
        response.update(payload)
        return 200, {"requestId": call.request_id, "response": response}

    def _with_fault(self, call: ApiCall) -> tuple[int, dict]:
        rule = self.faults.take(call.action, call.body.get("pageNum"))
        if rule is None:
            return self._perform(call)
        call.fault = rule.kind
        if rule.kind == "slow":
            time.sleep(rule.delay)
            return self._perform(call)
        if rule.kind == "then_patch":
            return self._perform_then_patch(call, rule)
        if rule.performs:
            return self._perform_then_fail(call, rule)
        if rule.kind == "throttle":
            raise ApiError(429, "REQUEST_LIMIT_EXCEEDED", "Request limit exceeded (injected fault).",
                           {"Retry-After": str(rule.retry_after)})
        if rule.kind == "error":
            raise ApiError(rule.status, rule.code, rule.message)
        raise NoAnswer(rule.delay if rule.kind == "timeout" else 0.0)

    def _perform_then_patch(self, call: ApiCall, rule: faults.FaultRule) -> tuple[int, dict]:
        """Answer as usual, then change the world (the account changes between two pages of a listing, ...)."""
        answer = self._perform(call)
        try:
            self.world.patch(copy.deepcopy(rule.patch))
        except PatchError as error:
            raise ApiError(500, "EMULATOR_FAULT_RULE_BROKEN", "The then_patch rule's patch failed: %s" % error) from None
        return answer

    def _perform_then_fail(self, call: ApiCall, rule: faults.FaultRule) -> tuple[int, dict]:
        """Perform (accept) the action, then answer as the rule says, whatever the action's own answer was."""
        try:
            self._perform(call)
        except ApiError as error:
            self.error_answer(call, error)
        if rule.kind in ("lose_response", "performed_drop"):
            raise NoAnswer()
        if rule.kind == "performed_timeout":
            raise NoAnswer(rule.delay)
        done = "performed" if call.performed else "not performed"
        if rule.kind == "performed_error":
            return self.error_answer(call, ApiError(rule.status, rule.code, rule.message))
        return self.error_answer(call, ApiError(502, "INTERNAL_SERVER_ERROR",
                                                "Internal server error (injected fault; the action was %s)." % done))

    # -- admin ---------------------------------------------------------------------------------------------------

    def handle_admin(self, method: str, path: str, query: dict, raw: bytes) -> tuple[int, Any]:
        """The /_emulator/ endpoints (no auth)."""
        route = path[len(ADMIN_PREFIX):].strip("/")
        handler = getattr(self, "_admin_%s_%s" % (method.lower(), route), None)
        if handler is None:
            return 404, {"error": "no admin endpoint %s %s" % (method, path)}
        try:
            return handler(query, raw)
        except (ValueError, TypeError, KeyError, PatchError, faults.FaultRuleError) as error:
            return 400, {"error": str(error)}

    def _admin_get_health(self, _query: dict, _raw: bytes) -> tuple[int, Any]:
        return 200, {"ok": True, "port": self.port}

    def _admin_get_requests(self, query: dict, _raw: bytes) -> tuple[int, Any]:
        return 200, {"requests": self.requests((query.get("action") or [None])[0], (query.get("service") or [None])[0])}

    def _admin_delete_requests(self, _query: dict, _raw: bytes) -> tuple[int, Any]:
        self.clear_requests()
        return 200, {"ok": True}

    def _admin_get_state(self, _query: dict, _raw: bytes) -> tuple[int, Any]:
        return 200, self.world.snapshot()

    def _admin_get_events(self, _query: dict, _raw: bytes) -> tuple[int, Any]:
        return 200, {"events": self.world.event_list()}

    def _admin_get_faults(self, _query: dict, _raw: bytes) -> tuple[int, Any]:
        return 200, {"faults": self.faults.listing()}

    def _admin_post_faults(self, _query: dict, raw: bytes) -> tuple[int, Any]:
        doc = json.loads(raw.decode("utf-8") or "{}")
        rules = doc.get("faults") if isinstance(doc, dict) else doc
        if not isinstance(rules, list):
            raise ValueError("POST /_emulator/faults wants {\"faults\": [rule, ...]}")
        self.faults.add(rules)
        return 200, {"faults": self.faults.listing()}

    def _admin_delete_faults(self, _query: dict, _raw: bytes) -> tuple[int, Any]:
        self.faults.clear()
        return 200, {"ok": True}

    def _admin_post_patch(self, _query: dict, raw: bytes) -> tuple[int, Any]:
        doc = json.loads(raw.decode("utf-8") or "{}")
        if not isinstance(doc, dict):
            raise ValueError("POST /_emulator/patch wants a JSON object")
        self.world.patch(doc)
        return 200, {"ok": True}


class Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 handler: the API at POST /api/v2/vm, the test endpoints under /_emulator/."""

    protocol_version = "HTTP/1.1"
    server_version = "ZenlayerVmEmulator/1.0"
    emulator: Emulator  # set on the subclass built by make_server

    def log_message(self, format: str, *args: Any) -> None:  # pylint: disable=redefined-builtin
        """Requests are logged as JSON by the emulator, not on stderr."""

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header tells the emulator's (scaled) time, the time a module's clock reads."""
        return super().date_time_string(self.emulator.world.emulator_time() if timestamp is None else timestamp)

    def _read_body(self) -> bytes | None:
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        if not length.strip().isdigit() or int(length) > MAX_BODY_BYTES:
            return None
        return self.rfile.read(int(length))

    def _send_json(self, status: int, document: Any, headers: dict | None = None) -> None:
        data = json.dumps(document, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self, method: str) -> None:
        raw = self._read_body()
        if raw is None:
            self.close_connection = True
            self._send_json(413, {"requestId": str(uuid.uuid4()), "code": "INVALID_REQUEST_BODY",
                                  "message": "Content-Length is missing, malformed or above %d bytes." % MAX_BODY_BYTES})
            return
        parts = urlsplit(self.path)
        if parts.path.startswith(ADMIN_PREFIX):
            status, document = self.emulator.handle_admin(method, parts.path, parse_qs(parts.query), raw)
            self._send_json(status, document)
            return
        self._api(method, parts.path, raw)

    def _api(self, method: str, path: str, raw: bytes) -> None:
        call = ApiCall(ts=time.time())
        service = SERVICES.get(path.rstrip("/")[len(API_PREFIX):]) if path.startswith(API_PREFIX) else None
        call.service = service.name if service else None
        try:
            if service is None:
                status, document = self.emulator.error_answer(call, ApiError(404, "INVALID_PATH", "No API at %s." % path))
            elif method != "POST":
                status, document = self.emulator.error_answer(call, ApiError(405, "METHOD_NOT_ALLOWED", "Use POST."))
            else:
                status, document = self.emulator.handle_api(call, service, self.headers, raw)
        except NoAnswer as no_answer:
            call.http_status = None
            self.emulator.record(call)
            self.close_connection = True
            # held open past the client's timeout: the log already shows the request while the client still waits
            time.sleep(no_answer.hold)
            return
        self.emulator.record(call)
        self._send_json(status, document, call.response_headers)

    def do_GET(self) -> None:  # pylint: disable=invalid-name
        """GET."""
        self._dispatch("GET")

    def do_POST(self) -> None:  # pylint: disable=invalid-name
        """POST."""
        self._dispatch("POST")

    def do_DELETE(self) -> None:  # pylint: disable=invalid-name
        """DELETE."""
        self._dispatch("DELETE")


class EmulatorHTTPServer(ThreadingHTTPServer):
    """Threaded server, daemon threads, address reuse (a restart binds the same port again)."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line (the option names are fixed: other tools rely on them)."""
    parser = argparse.ArgumentParser(description="Local emulator of the Zenlayer Cloud VM API.")
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = pick a free one)")
    parser.add_argument("--seed", help="seed world (JSON); ignored when --state exists")
    parser.add_argument("--log", help="append one JSON line per API request to this file")
    parser.add_argument("--state", help="keep the world in this JSON file (saved after every change)")
    parser.add_argument("--time-scale", type=float, default=1.0, help="multiplies every timing (default 1.0)")
    parser.add_argument("--rate-limit", type=float, default=0.0, help="API requests per second (0 = off)")
    parser.add_argument("--max-skew", type=float, default=300.0, help="allowed x-zc-timestamp skew in seconds")
    parser.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM)")
    parser.add_argument("--tls-key", help="private key of --tls-cert (PEM)")
    parser.add_argument("--host-alias", action="append", default=[], help="another accepted Host name (repeatable)")
    parser.add_argument("--async-lag", type=float, default=None,
                        help="seconds (x --time-scale) between accepting a write and its visible effect "
                             "(default: the seed's or state's async_lag, else 0)")
    add_timing_arguments(parser)
    parser.add_argument("--outlive-parent", action="store_true",
                        help="keep serving when the process that started it exits (default: stop with it)")
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    for name in TIMING_KNOBS:
        if getattr(args, name) is not None and not 0 <= getattr(args, name) < float("inf"):
            parser.error("--%s must be a number of seconds >= 0" % name.replace("_", "-"))
    if args.clock_epoch is not None and not 0 < args.clock_epoch < float("inf"):
        parser.error("--clock-epoch must be unix seconds (> 0)")
    if not args.seed and not (args.state and os.path.exists(args.state)):
        parser.error("--seed is required unless --state names an existing state file")
    return args


def add_timing_arguments(parser: argparse.ArgumentParser) -> None:
    """--async-jitter, --image-list-lag, --imaging-tail, --random-seed, --harsh, --clock-epoch."""
    parser.add_argument("--async-jitter", type=float, default=None,
                        help="each write's lag gets a random extra of 0 to this many seconds (x --time-scale), so "
                             "effects can apply out of order (default: the seed's or state's async_jitter, else 0)")
    parser.add_argument("--image-list-lag", type=float, default=None,
                        help="a new image is listed by DescribeImages this many seconds (x --time-scale) after its "
                             "instance shows IMAGING (default: the seed's or state's image_list_lag, else 0)")
    parser.add_argument("--imaging-tail", type=float, default=None,
                        help="an instance stays IMAGING this many seconds (x --time-scale) after its image is done "
                             "(default: the seed's or state's imaging_tail, else 0)")
    parser.add_argument("--random-seed", type=int, default=None,
                        help="seed of the jitter's draws (default: the seed's or state's random_seed, else 1)")
    parser.add_argument("--harsh", action="store_true",
                        help="the harshest timing: %s (each x --time-scale), unless given on their own"
                             % ", ".join("--%s %g" % (k.replace("_", "-"), v) for k, v in HARSH.items()))
    parser.add_argument("--clock-epoch", type=float, default=None,
                        help="unix time from which the emulator's time runs 1/--time-scale as fast as the wall clock "
                             "(default: the state's, else the start); see ZENLAYERCLOUD_EMULATOR_CLOCK")


def make_server(args: argparse.Namespace) -> tuple[EmulatorHTTPServer, Emulator, str]:
    """Build (server, emulator, scheme) bound to 127.0.0.1."""
    settings = {name: getattr(args, name) for name in TIMING_KNOBS + ("random_seed", "harsh", "clock_epoch")}
    world = World.load(args.seed, args.state, args.time_scale, settings=settings)
    emulator = Emulator(world, rate_limit=args.rate_limit, max_skew=args.max_skew, log_file=args.log,
                        host_aliases=tuple(args.host_alias))
    handler = type("BoundHandler", (Handler,), {"emulator": emulator})
    server = EmulatorHTTPServer(("127.0.0.1", args.port), handler)
    emulator.port = server.server_address[1]
    scheme = "http"
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        scheme = "https"
    return server, emulator, scheme


def stop_with_parent(server: EmulatorHTTPServer) -> None:
    """Shut down when the process that started this one exits: a killed test run leaves no emulator behind."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        server.shutdown()

    threading.Thread(target=watch, daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT."""
    args = parse_args(argv)
    server, emulator, scheme = make_server(args)

    def stop(_signum: int, _frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if not args.outlive_parent:
        stop_with_parent(server)
    print("listening on %s://127.0.0.1:%d" % (scheme, emulator.port), flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        with emulator.world.lock:
            emulator.world.save()
    return 0


def fork_server(requests: Any = None, answers: Any = None) -> int:
    """--fork-server: start emulators by fork, on the requests of tests/emulator/harness.py (ForkServer), one JSON line
    each, answered with one: {"spawn": ARGV, "stdout": PATH, "stderr": PATH} -> {"pid": N}, an emulator run as
    main(ARGV) with its output in those files; {"reap": N} -> {"returncode": RC} once N has exited.

    A new interpreter spends 0.1 CPU-s importing what an emulator needs (http.server most), the unit tests start about
    1,500 emulators, and this process has imported it all once: a fork starts one for a few milliseconds. Ends at the
    end of its input, which its parent's exit closes; each emulator it started stops with it (stop_with_parent)."""
    requests, answers = requests or sys.stdin, answers or sys.stdout
    for line in requests:
        request = json.loads(line)
        if "spawn" in request:
            pid = os.fork()
            if pid == 0:
                _run_forked(request)
            answer: dict[str, Any] = {"pid": pid}
        else:
            try:
                answer = {"returncode": os.waitstatus_to_exitcode(os.waitpid(int(request["reap"]), 0)[1])}
            except ChildProcessError:  # not this fork server's
                answer = {"returncode": None}
        answer["id"] = request.get("id")
        answers.write(json.dumps(answer) + "\n")
        answers.flush()
    return 0


def _run_forked(request: dict[str, Any]) -> None:
    """The forked child: the emulator of main(request["spawn"]), its stdin /dev/null and its stdout and stderr in the
    files named; never returns into the fork server's loop."""
    code = 1
    try:
        for fd, path, flags in ((0, os.devnull, os.O_RDONLY), (1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_APPEND),
                                (2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)):
            opened = os.open(path, flags, 0o600)
            os.dup2(opened, fd)
            os.close(opened)
        code = main(request["spawn"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # pylint: disable=broad-exception-caught
        import traceback  # pylint: disable=import-outside-toplevel
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)  # pylint: disable=protected-access


if __name__ == "__main__":
    sys.exit(fork_server() if sys.argv[1:] == ["--fork-server"] else main())
