# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Credential and endpoint validation of the AnsibleZenlayer base: messages that say what is wrong and what to set."""

from __future__ import annotations

import pytest

from ansible.module_utils.basic import AnsibleFallbackNotFound

from ansible_collections.zenlayer.cloud.plugins.module_utils._base import (
    build_client,
    connection_error,
    credential_error,
    non_empty_env,
)
from ansible_collections.zenlayer.cloud.plugins.module_utils._wait import SYSTEM_CLOCK

SECRET = "s3cret-value-xyz"
TOKEN = "tok-value-xyz"


def params(**overrides):
    base = {"access_key_id": None, "access_key_password": None, "access_token": None, "domain": "console.zenlayer.com",
            "scheme": "https", "validate_certs": True, "client_timeout": 60.0, "api_retries": 5}
    base.update(overrides)
    return base


@pytest.mark.parametrize("given, expected", [
    ({}, "no Zenlayer credentials: set access_key_id (or ZENLAYERCLOUD_ACCESS_KEY_ID)"),
    ({"access_key_id": "AK"}, "its secret is missing: set access_key_password (or ZENLAYERCLOUD_ACCESS_KEY_PASSWORD)"),
    ({"access_key_password": SECRET}, "the key id is missing: set access_key_id (or ZENLAYERCLOUD_ACCESS_KEY_ID)"),
    ({"access_token": TOKEN, "access_key_id": "AK"}, "both a bearer token and an access key were given"),
    ({"access_token": TOKEN, "access_key_password": SECRET}, "not both"),
    ({"access_token": "t\u00f6ken"}, "access_token holds characters an HTTP header cannot carry"),
    ({"access_key_id": "AK\n1", "access_key_password": SECRET}, "access_key_id holds characters an HTTP header cannot"),
])
def test_credential_messages(given, expected):
    message = credential_error(params(**given))
    assert expected in message
    assert SECRET not in message and TOKEN not in message


@pytest.mark.parametrize("given", [{"access_token": TOKEN}, {"access_key_id": "AK", "access_key_password": SECRET}])
def test_credentials_that_work(given):
    assert credential_error(params(**given)) is None


@pytest.mark.parametrize("given, expected", [
    ({"scheme": "ftp"}, "scheme must be https or http (any case), not 'ftp'"),
    ({"domain": "https://console.zenlayer.com"}, "no scheme, no path"),
    ({"domain": "console.zenlayer.com/api"}, "no scheme, no path"),
    ({"domain": ""}, "domain must be a host name"),
    ({"domain": "127.0.0.1:70000"}, "the port in domain must be 1 to 65535, not 70000"),
    ({"client_timeout": 0}, "client_timeout must be a number of seconds above 0"),
    ({"api_retries": 21}, "api_retries must be 0 to 20"),
    ({"api_retries": -1}, "api_retries must be 0 to 20"),
])
def test_endpoint_messages(given, expected):
    assert expected in connection_error(params(**given))


@pytest.mark.parametrize("given", [{"scheme": "HTTP"}, {"domain": "127.0.0.1:8080"}, {"domain": "localhost"},
                                   {"domain": "[::1]:8080"}, {"api_retries": 0}])
def test_endpoints_that_work(given):
    assert connection_error(params(**given)) is None


def test_client_built_from_params():
    client = build_client(params(scheme="HTTP", domain="127.0.0.1:8080", access_token=TOKEN, client_timeout=30.0),
                          SYSTEM_CLOCK)
    assert client.endpoint == "http://127.0.0.1:8080/api/v2/vm"
    assert client.timeout == (10.0, 30.0)
    assert "ansible-core/" in client.user_agent


@pytest.mark.boundary  # the environment fallback is ansible-core's
def test_empty_environment_variable_counts_as_unset(monkeypatch):
    monkeypatch.setenv("ZENLAYERCLOUD_SCHEME", "")
    with pytest.raises(AnsibleFallbackNotFound):
        non_empty_env("ZENLAYERCLOUD_SCHEME")
    monkeypatch.setenv("ZENLAYERCLOUD_SCHEME", "http")
    assert non_empty_env("ZENLAYERCLOUD_SCHEME") == "http"
