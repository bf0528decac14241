# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Transport (issue 5): validate_certs defaults to true. Against the emulator serving HTTPS with a self-signed
certificate, every module fails by default with a message about certificate verification (and no request is
processed), and works with validate_certs=false (option or ZENLAYERCLOUD_VALIDATE_CERTS)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ansible_run import Scenario, run_adhoc, run_playbook, secret_seed

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed to make a certificate")


@pytest.fixture(name="tls_emulator")
def fixture_tls_emulator(tmp_path_factory, harness):
    directory = tmp_path_factory.mktemp("tls")
    cert, key = str(directory / "cert.pem"), str(directory / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    with harness.Emulator(secret_seed(), time_scale=0.05, tls=(cert, key)) as emu:
        yield emu


def _task(name: str, module: str, args: dict, **options) -> dict:
    return {"name": name, module: dict(args, **options), "register": name.replace(" ", "_"), "ignore_errors": True}


MODULES = [
    ("zenlayer.cloud.zenlayer_image_info", {"zone_id": "HKG-A"}),
    ("zenlayer.cloud.zenlayer_instance_info", {}),
    ("zenlayer.cloud.zenlayer_image", {"instance_id": "ins-hkg-db-0001", "name": "tls-img"}),
    ("zenlayer.cloud.zenlayer_instance_power", {"instance_ids": ["ins-hkg-db-0001"], "state": "stopped"}),
]


def test_self_signed_certificate_refused_by_default(tls_emulator, tmp_path: Path, collections_root: str) -> None:
    emu = tls_emulator
    emu.clear_requests()
    tasks = [_task("default %d" % i, module, args) for i, (module, args) in enumerate(MODULES)]
    tasks += [_task("explicit %d" % i, module, args, validate_certs=True) for i, (module, args) in enumerate(MODULES)]
    run = run_playbook(emu, collections_root, [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}],
                       tmp_dir=tmp_path, verbosity=4)
    for index, (module, _args) in enumerate(MODULES):
        for prefix in ("default", "explicit"):
            with Scenario("transport", "self-signed HTTPS, validate_certs %s" % ("default" if prefix == "default" else "true"),
                          module.split(".")[-1], expect="fails: certificate verification, what to do") as sc:
                result = run.task("%s %d" % (prefix, index))["result"]
                sc.outcome = "FAILED: %s" % result.get("msg")
                sc.scan(result)
                assert run.failed("%s %d" % (prefix, index)), result
                assert "certificate verification failed" in result["msg"] and "validate_certs" in result["msg"], result
    with Scenario("transport", "self-signed HTTPS refused: nothing processed", "all",
                  expect="no request reached the API handler") as sc:
        sc.scan(run.output, run.results, emu.requests())
        sc.outcome = "%d requests processed" % len(emu.requests())
        assert emu.requests() == []


def test_validate_certs_false_works(tls_emulator, tmp_path: Path, collections_root: str) -> None:
    emu = tls_emulator
    tasks = [_task("off %d" % i, module, args, validate_certs=False) for i, (module, args) in enumerate(MODULES)]
    run = run_playbook(emu, collections_root, [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}],
                       tmp_dir=tmp_path / "play", verbosity=4)
    adhoc = run_adhoc(emu, collections_root, "zenlayer.cloud.zenlayer_image_info", {"zone_id": "HKG-A"},
                      tmp_dir=tmp_path / "adhoc", verbosity=4, extra_env={"ZENLAYERCLOUD_VALIDATE_CERTS": "false"})
    for index, (module, _args) in enumerate(MODULES):
        with Scenario("transport", "self-signed HTTPS, validate_certs false", module.split(".")[-1],
                      expect="works") as sc:
            result = run.task("off %d" % index)["result"]
            sc.outcome = ("FAILED: %s" % result.get("msg")) if run.failed("off %d" % index) else "ok"
            sc.scan(result)
            assert not run.failed("off %d" % index), result
    with Scenario("transport", "self-signed HTTPS, ZENLAYERCLOUD_VALIDATE_CERTS=false (ad-hoc)", "zenlayer_image_info",
                  expect="works") as sc:
        sc.outcome = "rc=%s" % adhoc.rc
        sc.scan(adhoc.output, adhoc.results, run.output)
        assert adhoc.rc == 0, adhoc.report()
        assert '"images"' in adhoc.output
