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
import time
import traceback
from typing import Any, Callable, Iterator

try:
    import requests
    from requests.adapters import HTTPAdapter
except ImportError:
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    HAS_REQUESTS = True
    REQUESTS_IMPORT_ERROR = None

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
    """Every failure of a call: an API error, a refused or broken transport, or an unreadable answer."""

    def __init__(self, message: str, code: str | None = None, request_id: str | None = None,
                 http_status: int | None = None, action: str | None = None,
                 retryable: bool = False, outcome_unknown: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.request_id = request_id
        self.http_status = http_status
        self.action = action
        self.retryable = retryable
        self.outcome_unknown = outcome_unknown
        self.retry_after = retry_after

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


class ZenlayerOutcomeUnknown(ZenlayerAPIError):
    """The request was sent but its answer was lost: the action may or may not have been done."""


def _transport_error(action: str, exc: Exception, endpoint: str) -> ZenlayerAPIError:
    if isinstance(exc, requests.exceptions.SSLError):
        return ZenlayerAPIError(
            "TLS certificate verification failed for %s: %s. Install the certificate's CA, or for a trusted test "
            "endpoint only set validate_certs=false (ZENLAYERCLOUD_VALIDATE_CERTS=false)" % (endpoint, exc),
            code="TLS_ERROR", action=action)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return ZenlayerAPIError("could not connect to %s in time; check domain, scheme and network" % endpoint,
                                code="CONNECT_TIMEOUT", action=action, retryable=True)
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return ZenlayerOutcomeUnknown(
            "no answer from %s within client_timeout; raise client_timeout (ZENLAYERCLOUD_CLIENT_TIMEOUT) if the "
            "API is slow" % endpoint, code="READ_TIMEOUT", action=action, retryable=True, outcome_unknown=True)
    if _never_sent(exc):
        return ZenlayerAPIError("could not connect to %s: %s; check domain, scheme and network" % (endpoint, _root_cause(exc)),
                                code="CONNECTION_ERROR", action=action, retryable=True)
    return ZenlayerOutcomeUnknown("the connection to %s broke before an answer came: %s" % (endpoint, _root_cause(exc)),
                                  code="CONNECTION_ERROR", action=action, retryable=True, outcome_unknown=True)


def _root_cause(exc: BaseException) -> str:
    while exc.__context__ is not None and exc.__cause__ is None and exc.__context__ is not exc:
        exc = exc.__context__
    cause = exc
    while cause.__cause__ is not None:
        cause = cause.__cause__
    return "%s: %s" % (type(cause).__name__, cause)


def _never_sent(exc: Exception) -> bool:
    """A refused or unresolvable connection carried no request: retrying it cannot repeat an action."""
    text = repr(exc)
    return any(marker in text for marker in ("NewConnectionError", "NameResolutionError", "Connection refused",
                                             "Failed to resolve", "No route to host"))


class ZenlayerClient:
    """Signed calls to one Zenlayer service endpoint, with bounded retries."""

    def __init__(self, *, domain: str, scheme: str = "https", access_key_id: str | None = None,
                 access_key_password: str | None = None, access_token: str | None = None,
                 validate_certs: bool = True, timeout: float = 60.0, retries: int = 5,
                 user_agent: str | None = None, api_version: str = API_VERSION, service: str = SERVICE,
                 session: Any = None, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time) -> None:
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
        self.session = session or self._new_session()
        self._sleep = sleep
        self._clock = clock
        self.calls_sent = 0
        self.retries_done = 0

    @staticmethod
    def _new_session() -> Any:
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=4, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    def call(self, action: str, params: dict[str, Any] | None = None, *, safe_to_retry: bool | None = None) -> dict[str, Any]:
        """Send one action and return its payload (the envelope's `response`).

        Describe* calls are retried on any transient failure. Any other call is retried only on failures that
        prove it was not done (throttling, refused connections) unless the caller says a repeat is harmless;
        otherwise a lost answer raises ZenlayerOutcomeUnknown so the caller can look before trying again.
        """
        if safe_to_retry is None:
            safe_to_retry = action.startswith("Describe")
        body = encode_body(params)
        attempt = 0
        while True:
            try:
                return self._send(action, body)
            except ZenlayerAPIError as err:
                if attempt >= self.retries or not self._may_retry(err, safe_to_retry):
                    raise
                self._sleep(self._backoff_seconds(attempt, err))
                attempt += 1
                self.retries_done += 1

    @staticmethod
    def _may_retry(err: ZenlayerAPIError, safe_to_retry: bool) -> bool:
        return err.retryable and (safe_to_retry or not err.outcome_unknown)

    @staticmethod
    def _backoff_seconds(attempt: int, err: ZenlayerAPIError) -> float:
        ceiling = min(BACKOFF_CAP_SECONDS, 2.0 ** attempt)
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
                                   code="SECURITY_CHALLENGE", http_status=status, action=action)
        if status == 451:
            raise ZenlayerAPIError("the request was blocked by a security policy (HTTP 451); contact Zenlayer support",
                                   code="REQUEST_BLOCKED", http_status=status, action=action)
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
        error_class = ZenlayerOutcomeUnknown if response.status_code >= 500 else ZenlayerAPIError
        raise self._redacted(error_class(
            "the endpoint %s answered HTTP %s with a body that is not a Zenlayer API answer: %r; check domain and "
            "scheme" % (self.endpoint, response.status_code, snippet),
            code="INVALID_RESPONSE", http_status=response.status_code, action=action,
            retryable=response.status_code >= 500, outcome_unknown=response.status_code >= 500))

    def _api_error(self, action: str, status: int, document: dict[str, Any], response: Any) -> ZenlayerAPIError:
        code = document.get("code") or "HTTP_%s" % status
        message = document.get("message") or "HTTP %s without an error message" % status
        outcome_unknown = status >= 500 and code != THROTTLED_CODE
        error_class = ZenlayerOutcomeUnknown if outcome_unknown else ZenlayerAPIError
        err = error_class(message, code=code, request_id=document.get("requestId"), http_status=status, action=action,
                          retryable=status >= 500 or code in RETRYABLE_CODES, outcome_unknown=outcome_unknown,
                          retry_after=_retry_after_seconds(response.headers.get("Retry-After")))
        return self._redacted(err)

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
