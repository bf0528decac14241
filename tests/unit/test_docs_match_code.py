# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What `ansible-doc` tells users matches what the code does: the poll schedule, the restart action, the name rule,
and the collection's version (one source: galaxy.yml)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.zenlayer.cloud.plugins.module_utils import _api
from ansible_collections.zenlayer.cloud.plugins.module_utils._api import COLLECTION_VERSION, REQUEST_CLIENT
from ansible_collections.zenlayer.cloud.plugins.module_utils._image import DESCRIPTION_MAX, NAME_MAX
from ansible_collections.zenlayer.cloud.plugins.module_utils._image_line import PREFIX_MAX, STAMP_WIDTH
from ansible_collections.zenlayer.cloud.plugins.module_utils._wait import IMAGE_WAIT
from ansible_collections.zenlayer.cloud.plugins.modules.zenlayer_instance_power import POWER_ACTIONS

REPO = Path(__file__).resolve().parents[2]
# .../ansible_collections/zenlayer/cloud/plugins/module_utils/_api.py: the folder that holds ansible_collections
COLLECTIONS_ROOT = str(Path(_api.__file__).parents[5])


@pytest.fixture(scope="module", name="docs")
def fixture_docs() -> dict:
    """The documentation of every module, as ansible-doc renders it for users."""
    ansible_doc = Path(sys.executable).parent / "ansible-doc"
    modules = ["zenlayer.cloud.%s" % name for name in ("zenlayer_image", "zenlayer_image_info", "zenlayer_image_line",
                                                       "zenlayer_instance_power", "zenlayer_instance_info")]
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_ROOT, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false")
    out = subprocess.run([str(ansible_doc), "--json", *modules], env=env, check=True, capture_output=True, text=True).stdout
    return {name.split(".")[-1]: entry["doc"] for name, entry in json.loads(out).items()}


def _text(value) -> str:
    return " ".join(value) if isinstance(value, list) else str(value)


def test_the_wait_option_states_the_schedule_the_code_polls_with(docs):
    wait = _text(docs["zenlayer_image"]["options"]["wait"]["description"])
    assert "after %g seconds" % IMAGE_WAIT.first in wait
    assert "every %g seconds" % IMAGE_WAIT.cap in wait


def test_the_power_docs_name_the_api_action_restarted_uses(docs):
    reboot_action = POWER_ACTIONS["reboot"][0]
    assert reboot_action in _text(docs["zenlayer_instance_power"]["description"])
    assert reboot_action in _text(docs["zenlayer_instance_power"]["options"]["state"]["description"])
    assert "no restart action" not in _text(docs["zenlayer_instance_power"]["description"])


def test_the_name_and_description_limits_are_the_ones_checked(docs):
    options = docs["zenlayer_image"]["options"]
    assert "1 to %d characters" % NAME_MAX in _text(options["name"]["description"])
    assert "at most %d characters" % DESCRIPTION_MAX in _text(options["description"]["description"])


def test_the_version_has_one_source():
    galaxy = (REPO / "galaxy.yml").read_text(encoding="utf-8")
    version = next(line.split(":", 1)[1].strip().strip("'\"") for line in galaxy.splitlines() if line.startswith("version:"))
    assert COLLECTION_VERSION == version, "plugins/module_utils/_api.py COLLECTION_VERSION must follow galaxy.yml"
    assert REQUEST_CLIENT.endswith(" " + version)


def test_the_line_prefix_limit_is_the_one_checked(docs):
    prefix = _text(docs["zenlayer_image_line"]["options"]["prefix"]["description"])
    assert "1 to %d characters" % PREFIX_MAX in prefix and "adds %d digits" % STAMP_WIDTH in prefix
    assert PREFIX_MAX + STAMP_WIDTH == NAME_MAX
