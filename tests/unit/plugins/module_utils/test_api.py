# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ZenlayerClient at the HTTP boundary: a requests transport adapter mounted on the session it is given."""

from __future__ import annotations

import json
import socket
from typing import Any, Callable

import pytest
import requests
from requests.adapters import BaseAdapter
from urllib3.exceptions import NewConnectionError

from ansible_collections.zenlayer.cloud.plugins.module_utils._api import (
    ZenlayerAPIError,
    ZenlayerClient,
    encode_body,
    sha256_hex,
    zc2_signature,
)

Answer = Callable[[requests.PreparedRequest], Any]


class ScriptedAdapter(BaseAdapter):
    """Answers each request with the next item of a script: a (status, body, headers) tuple or an exception."""

    def __init__(self, *script: Any) -> None:
        super().__init__()
        self.script = list(script)
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):  # pylint: disable=too-many-arguments
        self.sent.append(request)
        step = self.script.pop(0)
        if callable(step):
            step = step(request)
        if isinstance(step, Exception):
            raise step
        status, body, headers = (step + ({},))[:3] if len(step) == 2 else step
        response = requests.Response()
        response.status_code = status
        response._content = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")  # pylint: disable=protected-access
        response.headers.update(headers)
        response.request = request
        response.url = request.url
        return response

    def close(self):
        pass

    def actions(self) -> list[str]:
        return [request.headers["x-zc-action"] for request in self.sent]

    def bodies(self) -> list[dict]:
        return [json.loads(request.body) for request in self.sent]


def ok(payload: dict | None = None) -> tuple:
    return 200, {"requestId": "r-1", "response": dict(payload or {}, requestId="r-1")}


def error(status: int, code: str, message: str = "nope", headers: dict | None = None) -> tuple:
    return status, {"requestId": "r-err", "code": code, "message": message}, headers or {}


def client_with(*script: Any, **kwargs: Any) -> tuple[ZenlayerClient, ScriptedAdapter, list[float]]:
    adapter = ScriptedAdapter(*script)
    session = requests.Session()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    sleeps: list[float] = []
    options = {"domain": "console.zenlayer.com", "access_key_id": "AKIDEXAMPLE123456",
               "access_key_password": "SecretExample0123456789", "retries": 3}
    options.update(kwargs)
    return ZenlayerClient(session=session, sleep=sleeps.append, clock=lambda: 1700000000, **options), adapter, sleeps


# -- signing --------------------------------------------------------------------------------------------------------


def test_first_signature_vector():
    body = b'{"instanceId": "123456789", "imageName": "web-image", "imageDescription": "golden image"}'
    assert sha256_hex(body) == "4cf04ce08eb1186a21959d91b8bdef584b16ee467a8d90f5ccd76bf18243ed4c"
    assert zc2_signature("SecretExample0123456789", "1700000000", body, "application/json", "console.zenlayer.com") == \
        "52685d6f92d8b4308e12ea7e53d30e43771180be938f1bcd75a8e2c2fef809de"


def test_second_signature_vector():
    body = b'{"pageSize":10,"pageNum":1,"zoneId":"HKG-A"}'
    assert zc2_signature("Gu5t9xGARNpq86cd98joQYCN3", "1673361177", body, "application/json; charset=utf-8",
                         "console.zenlayer.com") == "efb356c32e55c781e10dc676da59462c22596d82e91c57803666243379555b2f"


def test_signed_request_headers_and_body():
    client, adapter, _sleeps = client_with(ok({"imageId": "img-1"}))
    assert client.call("CreateImage", {"instanceId": "i", "imageName": "n", "imageDescription": None}) == \
        {"imageId": "img-1", "requestId": "r-1"}
    request = adapter.sent[0]
    assert request.url == "https://console.zenlayer.com/api/v2/vm"
    assert request.body == b'{"instanceId":"i","imageName":"n"}'
    assert request.headers["x-zc-action"] == "CreateImage" and request.headers["x-zc-service"] == "vm"
    assert request.headers["x-zc-timestamp"] == "1700000000"
    signature = zc2_signature("SecretExample0123456789", "1700000000", request.body, "application/json",
                              "console.zenlayer.com")
    assert request.headers["Authorization"] == ("ZC2-HMAC-SHA256 Credential=AKIDEXAMPLE123456, "
                                                "SignedHeaders=content-type;host, Signature=%s" % signature)


def test_bearer_mode_sends_no_signature():
    client, adapter, _sleeps = client_with(ok(), access_key_id=None, access_key_password=None, access_token="tok-123")
    client.call("DescribeZones", {})
    headers = adapter.sent[0].headers
    assert headers["Authorization"] == "Bearer tok-123"
    assert "x-zc-signature-method" not in headers and "x-zc-timestamp" not in headers


def test_empty_request_is_an_empty_object():
    assert encode_body(None) == b"{}"


# -- retries --------------------------------------------------------------------------------------------------------


def test_throttling_is_retried_with_the_injected_sleep():
    client, adapter, sleeps = client_with(error(429, "REQUEST_LIMIT_EXCEEDED"), error(429, "REQUEST_LIMIT_EXCEEDED"),
                                          ok({"x": 1}))
    assert client.call("CreateImage", {})["x"] == 1
    assert len(adapter.sent) == 3 and len(sleeps) == 2 and all(0 < s <= 20 for s in sleeps)


def test_retry_after_is_honoured():
    client, _adapter, sleeps = client_with(error(429, "REQUEST_LIMIT_EXCEEDED", headers={"Retry-After": "7"}), ok())
    client.call("DescribeZones", {})
    assert sleeps[0] >= 7


def test_describe_is_retried_on_5xx_and_gives_up_after_retries():
    client, adapter, sleeps = client_with(*[error(503, "SERVICE_TEMPORARY_UNAVAILABLE")] * 4)
    with pytest.raises(ZenlayerAPIError) as raised:
        client.call("DescribeImages", {"zoneId": "HKG-A"})
    assert raised.value.code == "SERVICE_TEMPORARY_UNAVAILABLE" and raised.value.http_status == 503
    assert len(adapter.sent) == 4 and len(sleeps) == 3


def test_write_whose_outcome_is_unknown_is_not_retried():
    client, adapter, sleeps = client_with(error(502, "INTERNAL_SERVER_ERROR"), ok())
    with pytest.raises(ZenlayerAPIError) as raised:
        client.call("CreateImage", {"instanceId": "i"}, safe_to_retry=False)
    assert raised.value.outcome_unknown is True
    assert len(adapter.sent) == 1 and sleeps == []


def test_broken_connection_of_a_write_is_outcome_unknown():
    client, adapter, _sleeps = client_with(requests.exceptions.ConnectionError("Connection aborted.", "RemoteDisconnected"))
    with pytest.raises(ZenlayerAPIError) as raised:
        client.call("CreateImage", {}, safe_to_retry=False)
    assert raised.value.outcome_unknown is True
    assert len(adapter.sent) == 1


def test_read_timeout_is_outcome_unknown_but_retried_for_a_describe():
    client, adapter, _sleeps = client_with(requests.exceptions.ReadTimeout("read timed out"), ok({"totalCount": 0}))
    assert client.call("DescribeImages", {"zoneId": "HKG-A"})["totalCount"] == 0
    client, adapter, _sleeps = client_with(requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(ZenlayerAPIError) as raised:
        client.call("DeleteImages", {"imageIds": ["a"]})
    assert raised.value.outcome_unknown is True
    assert raised.value.code == "READ_TIMEOUT" and "client_timeout" in str(raised.value)
    assert len(adapter.sent) == 1


def test_refused_connection_of_a_write_is_retried_then_explained():
    refused = requests.exceptions.ConnectionError(NewConnectionError(None, "Failed to establish a new connection: "
                                                                           "[Errno 111] Connection refused"))
    client, adapter, sleeps = client_with(refused, refused, refused, refused)
    with pytest.raises(ZenlayerAPIError) as raised:
        client.call("CreateImage", {}, safe_to_retry=False)
    assert not raised.value.outcome_unknown and raised.value.code == "CONNECTION_ERROR"
    assert "check domain, scheme and network" in str(raised.value) and "(tried 3 times)" in str(raised.value)
    # a refused connection is tried a few times, quickly: it fails within seconds, not after the full backoff
    assert len(adapter.sent) == 3 and sum(sleeps) <= 2.0


def test_refused_connection_is_classified_by_exception_type_not_by_its_text():
    refused = requests.exceptions.ConnectionError(NewConnectionError(None, "some wording urllib3 may choose"))
    client, adapter, _sleeps = client_with(refused, ok())
    assert client.call("CreateImage", {}, safe_to_retry=False)["requestId"] == "r-1"
    assert len(adapter.sent) == 2  # proven never sent, so the write was sent again
    broken = requests.exceptions.ConnectionError("Connection refused (only in the text)")
    client, adapter, _sleeps = client_with(broken, ok())
    with pytest.raises(ZenlayerAPIError) as raised:
        client.call("CreateImage", {}, safe_to_retry=False)
    assert raised.value.outcome_unknown is True and len(adapter.sent) == 1


@pytest.mark.parametrize("status, code", [(408, "REQUEST_TIMED_OUT"), (400, "INTERNAL_SERVER_ERROR"),
                                          (503, "SERVICE_TEMPORARY_UNAVAILABLE")])
def test_a_transient_code_at_any_status_leaves_a_write_unknown_and_unsent(status, code):
    client, adapter, _sleeps = client_with(error(status, code), ok())
    with pytest.raises(ZenlayerAPIError) as raised:
        client.call("StopInstances", {"instanceIds": ["i"]})
    assert raised.value.outcome_unknown is True and len(adapter.sent) == 1
    client, adapter, _sleeps = client_with(error(status, code), ok({"totalCount": 0}))
    assert client.call("DescribeInstances", {})["totalCount"] == 0 and len(adapter.sent) == 2


def test_throttled_write_is_proven_not_done_and_retried():
    client, adapter, _sleeps = client_with(error(429, "REQUEST_LIMIT_EXCEEDED"), ok({"imageId": "img-1"}))
    assert client.call("CreateImage", {})["imageId"] == "img-1"
    assert len(adapter.sent) == 2


def test_really_refused_connection():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    client = ZenlayerClient(domain="127.0.0.1:%d" % port, scheme="http", access_token="t", retries=1,
                            sleep=lambda _s: None)
    with pytest.raises(ZenlayerAPIError) as raised:
        client.call("CreateImage", {}, safe_to_retry=False)
    assert raised.value.code == "CONNECTION_ERROR" and not raised.value.outcome_unknown
    assert client.calls_sent == 2 and "(tried 2 times)" in str(raised.value)


# -- special answers ------------------------------------------------------------------------------------------------


def test_cloudflare_challenge_is_not_an_api_error():
    client, adapter, _sleeps = client_with((403, b"<html>challenge</html>", {"cf-mitigated": "challenge"}))
    with pytest.raises(ZenlayerAPIError) as raised:
        client.call("DescribeZones", {})
    assert raised.value.code == "SECURITY_CHALLENGE" and raised.value.http_status == 403
    assert len(adapter.sent) == 1


def test_451_is_blocked_by_policy():
    client = client_with((451, b"blocked"))[0]
    with pytest.raises(ZenlayerAPIError) as raised:
        client.call("DescribeZones", {})
    assert raised.value.code == "REQUEST_BLOCKED" and "policy" in raised.value.message


def test_non_json_body_is_a_clear_error():
    client = client_with((200, b"<html>hello</html>"))[0]
    with pytest.raises(ZenlayerAPIError) as raised:
        client.call("DescribeZones", {})
    assert raised.value.code == "INVALID_RESPONSE" and "check domain and scheme" in str(raised.value)
    assert "<html>hello</html>" in str(raised.value)


def test_api_error_carries_its_parts():
    client = client_with(error(404, "INVALID_IMAGE_NOT_FOUND", "no such image"))[0]
    with pytest.raises(ZenlayerAPIError) as raised:
        client.call("DeleteImages", {"imageIds": ["x"]})
    assert str(raised.value) == "no such image (INVALID_IMAGE_NOT_FOUND, request id r-err, HTTP 404)"
    assert raised.value.to_dict() == {"code": "INVALID_IMAGE_NOT_FOUND", "message": "no such image",
                                      "request_id": "r-err", "http_status": 404, "action": "DeleteImages"}


def test_a_secret_echoed_back_is_redacted():
    client = client_with(error(400, "BAD", "bad token tok-secret-1"), access_key_id=None,
                         access_key_password=None, access_token="tok-secret-1")[0]
    with pytest.raises(ZenlayerAPIError) as raised:
        client.call("DescribeZones", {})
    assert "tok-secret-1" not in str(raised.value)


# -- pagination -----------------------------------------------------------------------------------------------------


def test_pagination_reads_until_total_count():
    pages = [ok({"totalCount": 5, "dataSet": [{"i": 1}, {"i": 2}]}), ok({"totalCount": 5, "dataSet": [{"i": 3}, {"i": 4}]}),
             ok({"totalCount": 5, "dataSet": [{"i": 5}]})]
    client, adapter, _sleeps = client_with(*pages)
    assert [item["i"] for item in client.list_all("DescribeImages", {"zoneId": "HKG-A"}, page_size=2)] == [1, 2, 3, 4, 5]
    assert [(b["pageNum"], b["pageSize"]) for b in adapter.bodies()] == [(1, 2), (2, 2), (3, 2)]


def test_pagination_stops_on_a_short_page_without_total():
    client, adapter, _sleeps = client_with(ok({"dataSet": [{"i": 1}, {"i": 2}]}), ok({"dataSet": [{"i": 3}]}))
    assert len(client.list_all("DescribeInstances", {}, page_size=2)) == 3
    assert len(adapter.sent) == 2


def test_pagination_against_the_emulator(emulator):
    emulator.patch(images={"img-%03d" % n: {"imageName": "n%d" % n, "zoneId": "HKG-A"} for n in range(25)})
    client = ZenlayerClient(domain=emulator.domain, scheme="http", access_key_id=emulator.credentials.access_key_id,
                            access_key_password=emulator.credentials.access_key_password)
    images = client.list_all("DescribeImages", {"zoneId": "HKG-A", "imageType": "CUSTOM_IMAGE"}, page_size=10)
    assert len(images) == 25 and len({i["imageId"] for i in images}) == 25
    assert [r["body"]["pageNum"] for r in emulator.requests("DescribeImages")] == [1, 2, 3]


def test_refused_credentials_name_what_to_check():
    client, _adapter, _sleeps = client_with(error(401, "AUTH_SIGNATURE_MISMATCH", "signature mismatch"))
    with pytest.raises(ZenlayerAPIError) as raised:
        client.call("DescribeZones", {})
    assert "ZENLAYERCLOUD_ACCESS_KEY_PASSWORD" in str(raised.value) and "clock" in str(raised.value)
    client, _adapter, _sleeps = client_with(error(401, "AUTH_INVALID_TOKEN"), access_token="tok-x", access_key_id=None,
                                            access_key_password=None)
    with pytest.raises(ZenlayerAPIError) as raised:
        client.call("DescribeZones", {})
    assert "ZENLAYERCLOUD_ACCESS_TOKEN" in str(raised.value) and "tok-x" not in str(raised.value)


def test_https_to_a_plain_http_endpoint_says_so(emulator):
    client = ZenlayerClient(domain=emulator.domain, scheme="https", access_token="token-for-tls-test", retries=0)
    with pytest.raises(ZenlayerAPIError) as raised:
        client.call("DescribeZones", {})
    assert raised.value.code == "TLS_ERROR" and "does not speak HTTPS" in str(raised.value)
    assert "scheme=http" in str(raised.value) and "certificate" not in str(raised.value)
