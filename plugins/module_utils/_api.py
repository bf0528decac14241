# -*- coding: utf-8 -*-
# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""ZenlayerClient: the one HTTP client of the collection (signing, envelope, errors, retries, pagination)."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import socket
import ssl
import time
import traceback
from typing import Any, Callable, Iterator

try:
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.exceptions import NewConnectionError
except ImportError:
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR: str | None = traceback.format_exc()
    NEVER_SENT_TYPES: tuple[type, ...] = (ConnectionRefusedError, socket.gaierror)
else:
    HAS_REQUESTS = True
    REQUESTS_IMPORT_ERROR = None
    # NameResolutionError subclasses NewConnectionError: no connection, so no request was ever written.
    NEVER_SENT_TYPES = (NewConnectionError, ConnectionRefusedError, socket.gaierror)

# Kept equal to galaxy.yml's version (tests/unit/test_version.py checks it): module_utils cannot read galaxy.yml at run time.
COLLECTION_VERSION = "0.1.0"
API_VERSION = "2023-03-13"
SERVICE = "vm"
SIGNATURE_METHOD = "ZC2-HMAC-SHA256"
CONTENT_TYPE = "application/json"
REQUEST_CLIENT = "AnsibleCollection zenlayer.cloud " + COLLECTION_VERSION
SIGNED_HEADERS = "content-type;host"

THROTTLED_CODE = "REQUEST_LIMIT_EXCEEDED"
RETRYABLE_CODES = frozenset({THROTTLED_CODE, "SERVICE_TEMPORARY_UNAVAILABLE", "INTERNAL_SERVER_ERROR", "REQUEST_TIMED_OUT"})
BACKOFF_CAP_SECONDS = 20.0
REFUSED_CONNECTION_RETRIES = 2
REFUSED_BACKOFF_CAP_SECONDS = 1.0
CONNECT_TIMEOUT_CAP_SECONDS = 10.0
REDACTED = "********"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_request(body: bytes, content_type: str, host: str) -> str:
    """The ZC2 canonical request: the URI is always '/', the query always empty."""
    return "POST\n/\n\ncontent-type:%s\nhost:%s\n\n%s\n%s" % (content_type, host, SIGNED_HEADERS, sha256_hex(body))


def zc2_signature(password: str, timestamp: str, body: bytes, content_type: str, host: str) -> str:
    hashed_canonical = sha256_hex(canonical_request(body, content_type, host).encode("utf-8"))
    string_to_sign = "%s\n%s\n%s" % (SIGNATURE_METHOD, timestamp, hashed_canonical)
    return hmac.new(password.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def zc2_authorization(access_key_id: str, signature: str) -> str:
    return "%s Credential=%s, SignedHeaders=%s, Signature=%s" % (SIGNATURE_METHOD, access_key_id, SIGNED_HEADERS, signature)


def encode_body(params: dict[str, Any] | None) -> bytes:
    """The exact bytes sent and signed; absent (None) fields are left out, as the API expects."""
    cleaned = {key: value for key, value in (params or {}).items() if value is not None}
    return json.dumps(cleaned, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class ZenlayerAPIError(Exception):
    """Every failure of a call: an API error, a refused or broken transport, or an unreadable answer.

    `performed` is False when the failure proves the action was not done (refused before it was sent, throttled,
    rejected by the API), and None when it may have been done (the answer was lost, or a server error came back):
    a write is then "outcome unknown", and is only sent again after a look proves it was not done."""

    def __init__(self, message: str, code: str | None = None, request_id: str | None = None,
                 http_status: int | None = None, action: str | None = None, *,
                 performed: bool | None, retryable: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.request_id = request_id
        self.http_status = http_status
        self.action = action
        self.performed = performed
        self.retryable = retryable
        self.retry_after = retry_after
        self.doing: str | None = None  # what the module was doing, named by AnsibleZenlayer.step()

    @property
    def outcome_unknown(self) -> bool:
        return self.performed is None

    def __str__(self) -> str:
        details = [self.code or "NO_CODE"]
        if self.request_id:
            details.append("request id %s" % self.request_id)
        if self.http_status:
            details.append("HTTP %s" % self.http_status)
        return "%s (%s)" % (self.message, ", ".join(details))

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "request_id": self.request_id,
                "http_status": self.http_status, "action": self.action}


def answer_outcome(status: int, code: str | None) -> tuple[bool | None, bool]:
    """(performed, retryable) of an error answer: the one place that decides what an answer proves.

    Throttling and the API's own refusals (4xx without a transient code) prove nothing was done. A server error, or a
    transient code at any HTTP status (408 REQUEST_TIMED_OUT, a 400 carrying INTERNAL_SERVER_ERROR), may follow an
    action that was done: the outcome is unknown."""
    if code == THROTTLED_CODE or status == 429:
        return False, True
    if status >= 500 or code in RETRYABLE_CODES:
        return None, True
    return False, False


def _exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """exc and every exception it wraps: __cause__, __context__, and urllib3's MaxRetryError.reason / args."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        wrapped.extend(arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException))
        pending.extend(item for item in wrapped if isinstance(item, BaseException))


def _found_in_chain(exc: BaseException, types: tuple[type, ...]) -> BaseException | None:
    return next((item for item in _exception_chain(exc) if isinstance(item, types)), None)


def _never_sent(exc: BaseException) -> bool:
    """A connection that was never made carried no request: retrying it cannot repeat an action."""
    return _found_in_chain(exc, NEVER_SENT_TYPES) is not None


def _tls_error(action: str, exc: BaseException, endpoint: str) -> ZenlayerAPIError:
    verification = _found_in_chain(exc, (ssl.SSLCertVerificationError,))
    if verification is not None:
        return ZenlayerAPIError(
            "TLS certificate verification failed for %s: %s. Install the certificate's CA, or for a trusted test "
            "endpoint only set validate_certs=false (ZENLAYERCLOUD_VALIDATE_CERTS=false)"
            % (endpoint, getattr(verification, "verify_message", None) or verification),
            code="TLS_ERROR", action=action, performed=False)
    ssl_error = _found_in_chain(exc, (ssl.SSLError,))
    reason = getattr(ssl_error, "reason", None) or _root_cause(exc)
    hint = ("the endpoint does not speak HTTPS; if it really is plain HTTP (a test endpoint), set scheme=http "
            "(ZENLAYERCLOUD_SCHEME=http)" if reason == "WRONG_VERSION_NUMBER" else "check domain and scheme")
    return ZenlayerAPIError("the TLS handshake with %s failed (%s): %s" % (endpoint, reason, hint),
                            code="TLS_ERROR", action=action, performed=False)


def _transport_error(action: str, exc: Exception, endpoint: str) -> ZenlayerAPIError:
    if isinstance(exc, requests.exceptions.SSLError):
        return _tls_error(action, exc, endpoint)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return ZenlayerAPIError("could not connect to %s in time; check domain, scheme and network" % endpoint,
                                code="CONNECT_TIMEOUT", action=action, performed=False, retryable=True)
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return ZenlayerAPIError(
            "no answer from %s within client_timeout; raise client_timeout (ZENLAYERCLOUD_CLIENT_TIMEOUT) if the "
            "API is slow" % endpoint, code="READ_TIMEOUT", action=action, performed=None, retryable=True)
    if _never_sent(exc):
        return ZenlayerAPIError("could not connect to %s: %s; check domain, scheme and network" % (endpoint, _root_cause(exc)),
                                code="CONNECTION_ERROR", action=action, performed=False, retryable=True)
    return ZenlayerAPIError("the connection to %s broke before an answer came: %s" % (endpoint, _root_cause(exc)),
                            code="CONNECTION_ERROR", action=action, performed=None, retryable=True)


def _root_cause(exc: BaseException) -> str:
    cause = list(_exception_chain(exc))[-1]
    return "%s: %s" % (type(cause).__name__, cause)


class ZenlayerClient:
    """Signed calls to one Zenlayer service endpoint, with bounded retries."""

    def __init__(self, *, domain: str, scheme: str = "https", access_key_id: str | None = None,
                 access_key_password: str | None = None, access_token: str | None = None,
                 validate_certs: bool = True, timeout: float = 60.0, retries: int = 5,
                 user_agent: str | None = None, api_version: str = API_VERSION, service: str = SERVICE,
                 session: Any = None, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time, pacer: Any = None, connections: int = 4) -> None:
        self.domain = domain
        self.endpoint = "%s://%s/api/v2/%s" % (scheme.lower(), domain, service)
        self._key_id = access_key_id
        self._password = access_key_password
        self._token = access_token
        self.validate_certs = validate_certs
        self.timeout = (min(CONNECT_TIMEOUT_CAP_SECONDS, timeout), timeout)
        self.retries = max(0, retries)
        self.api_version = api_version
        self.service = service
        self.user_agent = user_agent or "zenlayer.cloud/%s" % COLLECTION_VERSION
        self.session = session or self._new_session(connections)
        self._sleep = sleep
        self._clock = clock
        self.calls_sent = 0
        self.retries_done = 0
        # an object with before_send(), answered() and throttled(retry_after) that spaces requests (_pace.Pacer)
        self.pacer = pacer

    @staticmethod
    def _new_session(connections: int) -> Any:
        """A session keeping up to `connections` connections open (one per thread that sends at once)."""
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=connections, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    def call(self, action: str, params: dict[str, Any] | None = None, *, safe_to_retry: bool | None = None) -> dict[str, Any]:
        """Send one action and return its payload (the envelope's `response`).

        Describe* calls are retried on any transient failure. Any other call is retried only on failures that
        prove it was not done (throttling, refused connections) unless the caller says a repeat is harmless;
        otherwise the error is raised with outcome_unknown set, so the caller can look before trying again.
        """
        if safe_to_retry is None:
            safe_to_retry = action.startswith("Describe")
        body = encode_body(params)
        attempt = 0
        while True:
            try:
                return self._send(action, body)
            except ZenlayerAPIError as err:
                if attempt >= self._retry_limit(err) or not self._may_retry(err, safe_to_retry):
                    if attempt:
                        err.message = "%s (tried %d times)" % (err.message, attempt + 1)
                        err.args = (err.message,)
                    raise
                if self.pacer is None or err.code != THROTTLED_CODE:  # else the pacer holds the next request
                    self._sleep(self._backoff_seconds(attempt, err))
                attempt += 1
                self.retries_done += 1

    def _retry_limit(self, err: ZenlayerAPIError) -> int:
        """A refused connection rarely heals within seconds: try it a few times, quickly, then say so."""
        if err.code == "CONNECTION_ERROR" and err.performed is False:
            return min(self.retries, REFUSED_CONNECTION_RETRIES)
        return self.retries

    @staticmethod
    def _may_retry(err: ZenlayerAPIError, safe_to_retry: bool) -> bool:
        return err.retryable and (safe_to_retry or err.performed is False)

    @staticmethod
    def _backoff_seconds(attempt: int, err: ZenlayerAPIError) -> float:
        cap = REFUSED_BACKOFF_CAP_SECONDS if err.code == "CONNECTION_ERROR" and err.performed is False else BACKOFF_CAP_SECONDS
        ceiling = min(cap, 2.0 ** attempt)
        delay = random.uniform(ceiling / 2.0, ceiling)
        return max(delay, min(BACKOFF_CAP_SECONDS, err.retry_after)) if err.retry_after else delay

    def paginate(self, action: str, params: dict[str, Any] | None = None, *, item_key: str = "dataSet",
                 page_size: int = 100) -> Iterator[dict[str, Any]]:
        """Every item of a paged Describe*, page after page until totalCount is read or a page comes back short."""
        page_number = 1
        items_read = 0
        while True:
            payload = self.call(action, dict(params or {}, pageNum=page_number, pageSize=page_size))
            items = payload.get(item_key) or []
            yield from items
            items_read += len(items)
            total = payload.get("totalCount")
            if len(items) < page_size or (isinstance(total, int) and items_read >= total):
                return
            page_number += 1

    def list_all(self, action: str, params: dict[str, Any] | None = None, **kwargs: Any) -> list[dict[str, Any]]:
        """Every item of a paged Describe*, as a list."""
        return list(self.paginate(action, params, **kwargs))

    def _headers(self, action: str, body: bytes) -> dict[str, str]:
        headers = {
            "Content-Type": CONTENT_TYPE,
            "Host": self.domain,
            "User-Agent": self.user_agent,
            "x-zc-version": self.api_version,
            "x-zc-service": self.service,
            "x-zc-action": action,
            "x-zc-request-client": REQUEST_CLIENT,
        }
        if self._token:
            headers["Authorization"] = "Bearer " + self._token
            return headers
        timestamp = str(int(self._clock()))
        signature = zc2_signature(self._password or "", timestamp, body, CONTENT_TYPE, self.domain)
        headers["x-zc-signature-method"] = SIGNATURE_METHOD
        headers["x-zc-timestamp"] = timestamp
        headers["Authorization"] = zc2_authorization(self._key_id or "", signature)
        return headers

    def _send(self, action: str, body: bytes) -> dict[str, Any]:
        if self.pacer is None:
            return self._post(action, body)
        sent_at = self.pacer.before_send()
        try:
            payload = self._post(action, body)
        except ZenlayerAPIError as err:
            if err.code == THROTTLED_CODE or err.http_status == 429:
                self.pacer.throttled(err.retry_after, sent_at)
            raise
        self.pacer.answered()
        return payload

    def _post(self, action: str, body: bytes) -> dict[str, Any]:
        self.calls_sent += 1
        try:
            response = self.session.post(self.endpoint, data=body, headers=self._headers(action, body),
                                         timeout=self.timeout, verify=self.validate_certs, allow_redirects=False)
        except requests.exceptions.RequestException as exc:
            raise self._redacted(_transport_error(action, exc, self.endpoint)) from None
        return self._payload(action, response)

    def _payload(self, action: str, response: Any) -> dict[str, Any]:
        status = response.status_code
        if status == 403 and response.headers.get("cf-mitigated", "").lower() == "challenge":
            raise ZenlayerAPIError("the request was stopped by a network security challenge (HTTP 403), not by the API; "
                                   "retry later or contact Zenlayer support if it persists",
                                   code="SECURITY_CHALLENGE", http_status=status, action=action, performed=False)
        if status == 451:
            raise ZenlayerAPIError("the request was blocked by a security policy (HTTP 451); contact Zenlayer support",
                                   code="REQUEST_BLOCKED", http_status=status, action=action, performed=False)
        document = self._json_document(action, response)
        if status == 200 and isinstance(document.get("response"), dict):
            return document["response"]
        raise self._api_error(action, status, document, response)

    def _json_document(self, action: str, response: Any) -> dict[str, Any]:
        try:
            document = json.loads(response.content.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            document = None
        if isinstance(document, dict):
            return document
        snippet = response.content[:200].decode("utf-8", "replace").strip()
        performed, retryable = answer_outcome(response.status_code, None)
        raise self._redacted(ZenlayerAPIError(
            "the endpoint %s answered HTTP %s with a body that is not a Zenlayer API answer: %r; check domain and "
            "scheme" % (self.endpoint, response.status_code, snippet),
            code="INVALID_RESPONSE", http_status=response.status_code, action=action,
            performed=performed, retryable=retryable))

    def _api_error(self, action: str, status: int, document: dict[str, Any], response: Any) -> ZenlayerAPIError:
        code = document.get("code") or "HTTP_%s" % status
        message = document.get("message") or "HTTP %s without an error message" % status
        performed, retryable = answer_outcome(status, code)
        if status == 401:
            message = "%s; %s" % (message, self._credentials_hint())
        err = ZenlayerAPIError(message, code=code, request_id=document.get("requestId"), http_status=status, action=action,
                               performed=performed, retryable=retryable,
                               retry_after=_retry_after_seconds(response.headers.get("Retry-After")))
        return self._redacted(err)

    def _credentials_hint(self) -> str:
        """What to check when the API does not accept who we say we are (its codes for that are not published)."""
        if self._token:
            return "check access_token (ZENLAYERCLOUD_ACCESS_TOKEN): it may be wrong, revoked or expired"
        return ("check access_key_id and access_key_password (ZENLAYERCLOUD_ACCESS_KEY_ID, "
                "ZENLAYERCLOUD_ACCESS_KEY_PASSWORD), and that this machine's clock is right (requests are signed with it)")

    def _redacted(self, err: ZenlayerAPIError) -> ZenlayerAPIError:
        """An answer that echoes a secret back must not carry it into a message."""
        for secret in (self._password, self._token):
            if secret and secret in err.message:
                err.message = err.message.replace(secret, REDACTED)
                err.args = (err.message,)
        return err


def _retry_after_seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
