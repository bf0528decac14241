"""Signature ZC2-HMAC-SHA256: the API document's test vectors and refused requests."""
from __future__ import annotations

import time

import pytest

import server
import signing
from world import ApiError, World

VECTOR_1 = {
    "key_id": "AKIDEXAMPLE123456", "password": "SecretExample0123456789", "timestamp": "1700000000",
    "content_type": "application/json", "host": "console.zenlayer.com",
    "body": b'{"instanceId": "123456789", "imageName": "web-image", "imageDescription": "golden image"}',
    "signature": "52685d6f92d8b4308e12ea7e53d30e43771180be938f1bcd75a8e2c2fef809de",
}
VECTOR_2 = {
    "key_id": "AKIDREFERENCE", "password": "Gu5t9xGARNpq86cd98joQYCN3", "timestamp": "1673361177",
    "content_type": "application/json; charset=utf-8", "host": "console.zenlayer.com",
    "body": b'{"pageSize":10,"pageNum":1,"zoneId":"HKG-A"}',
    "signature": "efb356c32e55c781e10dc676da59462c22596d82e91c57803666243379555b2f",
}


def test_hashed_payload_of_vector_1() -> None:
    assert signing.sha256_hex(VECTOR_1["body"]) == "4cf04ce08eb1186a21959d91b8bdef584b16ee467a8d90f5ccd76bf18243ed4c"


def _verifier(vector: dict) -> server.Emulator:
    world = World({"access_keys": {vector["key_id"]: vector["password"]}})
    # the vectors are old: allow any skew; the vectors' host is accepted as an alias
    return server.Emulator(world, max_skew=10 ** 10, host_aliases=("console.zenlayer.com",))


def _headers(vector: dict, signature: str) -> dict:
    return {"Host": vector["host"], "Content-Type": vector["content_type"], "x-zc-timestamp": vector["timestamp"],
            "x-zc-signature-method": "ZC2-HMAC-SHA256",
            "Authorization": signing.authorization_header(vector["key_id"], signature)}


@pytest.mark.parametrize("vector", [VECTOR_1, VECTOR_2], ids=["sdk-vector", "reference-vector"])
def test_vectors_are_accepted_by_the_emulator_verifier(vector: dict) -> None:
    assert signing.compute_signature(vector["password"], vector["timestamp"], vector["body"],
                                     vector["content_type"], vector["host"]) == vector["signature"]
    call = server.ApiCall(ts=time.time())
    _verifier(vector).authenticate(call, _headers(vector, vector["signature"]), vector["body"])
    assert call.auth == "hmac" and call.access_key_id == vector["key_id"]


@pytest.mark.parametrize("vector", [VECTOR_1, VECTOR_2], ids=["sdk-vector", "reference-vector"])
def test_vectors_with_a_changed_body_are_refused(vector: dict) -> None:
    with pytest.raises(ApiError) as caught:
        _verifier(vector).authenticate(server.ApiCall(ts=0), _headers(vector, vector["signature"]), vector["body"] + b" ")
    assert caught.value.code == "AUTH_SIGNATURE_MISMATCH"


def test_wrong_secret_is_refused(emu) -> None:
    answer = emu.call("DescribeZones", {}, password="not-the-secret")
    assert answer.status == 401 and answer.body["code"] == "AUTH_SIGNATURE_MISMATCH"
    assert "not-the-secret" not in str(emu.requests())


def test_stale_timestamp_is_refused(emu) -> None:
    answer = emu.call("DescribeZones", {}, timestamp=int(time.time()) - 3600)
    assert answer.status == 401 and answer.body["code"] == "AUTH_TIMESTAMP_EXPIRED"
    answer = emu.call("DescribeZones", {}, timestamp=int(time.time()) + 3600)
    assert answer.body["code"] == "AUTH_TIMESTAMP_EXPIRED"
    assert emu.call("DescribeZones", {}, timestamp=int(time.time()) - 200).status == 200


def test_other_host_is_refused(emu) -> None:
    answer = emu.call("DescribeZones", {}, host="console.zenlayer.com")
    assert answer.status == 401 and answer.body["code"] == "AUTH_HOST_MISMATCH"
    assert emu.call("DescribeZones", {}, host="localhost:%d" % emu.port).status == 200
    assert emu.call("DescribeZones", {}, host="127.0.0.1:%d" % (emu.port + 1)).body["code"] == "AUTH_HOST_MISMATCH"


def test_host_alias_with_and_without_port(make_emu) -> None:
    emu = make_emu(extra_args=["--host-alias", "vm.emulator.test"])
    assert emu.call("DescribeZones", {}, host="vm.emulator.test").status == 200
    assert emu.call("DescribeZones", {}, host="vm.emulator.test:%d" % emu.port).status == 200


@pytest.mark.parametrize("kwargs, code", [
    ({"key_id": "AKIDUNKNOWN"}, "AUTH_INVALID_ACCESS_KEY"),
    ({"auth": "none"}, "AUTH_MISSING"),
    ({"headers": {"Authorization": "Basic Zm9vOmJhcg=="}}, "AUTH_MALFORMED"),
    ({"headers": {"x-zc-timestamp": "yesterday"}}, "AUTH_MALFORMED"),
    ({"headers": {"x-zc-signature-method": "HMAC-SHA1"}}, "AUTH_MALFORMED"),
    ({"auth": "bearer", "token": "not-a-token"}, "AUTH_INVALID_TOKEN"),
])
def test_bad_credentials_are_refused(emu, kwargs: dict, code: str) -> None:
    answer = emu.call("DescribeZones", {}, **kwargs)
    assert answer.status == 401
    assert answer.body["code"] == code and answer.body["message"] and answer.body["requestId"]


def test_bearer_token_is_accepted_and_logged_without_secret(emu) -> None:
    answer = emu.call("DescribeZones", {}, auth="bearer")
    assert answer.status == 200
    entry = emu.requests("DescribeZones")[-1]
    assert entry["auth"] == "bearer" and entry["code"] is None and entry["performed"] is True
    assert emu.credentials.token not in str(emu.requests())


def test_content_type_as_sent_is_signed(emu) -> None:
    answer = emu.call("DescribeZones", {}, headers={"Content-Type": "application/json; charset=utf-8"})
    # the signature was made over "application/json" but the header says otherwise
    assert answer.body["code"] == "AUTH_SIGNATURE_MISMATCH"
