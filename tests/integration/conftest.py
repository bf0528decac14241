# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pytest set-up for the integration tests that ansible-test targets cannot express (faults, bad input, secrets, TLS,
concurrency, the AWX runner); see tests/integration/README.md.

The marker ``boundary`` and the check that nothing is left behind work as in tests/unit/conftest.py."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EMULATOR_DIR = os.path.join(REPO, "tests", "emulator")
TARGETS_DIR = os.path.join(REPO, "tests", "integration", "targets")


def _collections_root(repo: str = REPO) -> str:
    """A directory holding ansible_collections/zenlayer/cloud (this checkout; a temp symlink when needed)."""
    parts = os.path.normpath(repo).split(os.sep)
    if parts[-3:] == ["ansible_collections", "zenlayer", "cloud"]:
        return os.sep.join(parts[:-3]) or os.sep
    root = tempfile.mkdtemp(prefix="zenlayer-cloud-integration-")
    atexit.register(shutil.rmtree, root, True)
    os.makedirs(os.path.join(root, "ansible_collections", "zenlayer"))
    os.symlink(repo, os.path.join(root, "ansible_collections", "zenlayer", "cloud"))
    return root


def _leftovers():
    if EMULATOR_DIR not in sys.path:
        sys.path.insert(0, EMULATOR_DIR)
    import leftovers  # pylint: disable=import-outside-toplevel,import-error
    return leftovers


def pytest_configure(config):
    config.addinivalue_line("markers", "boundary: a test of the boundary with Ansible (argument specs, docs, inventory "
                                       "output, module_defaults, check mode, ad-hoc use, AWX): run on every tested "
                                       "ansible-core; an unmarked test runs on one (see tests/README.md)")
    _leftovers().mark_run()  # before pytest-xdist starts its workers: everything this run starts carries the mark


def pytest_collection_modifyitems(config, items):
    """ZENLAYER_TESTS=boundary (the sessions of the other ansible-core versions): only the tests marked boundary."""
    if os.environ.get("ZENLAYER_TESTS", "all") == "boundary":
        config.hook.pytest_deselected(items=[item for item in items if not item.get_closest_marker("boundary")])
        items[:] = [item for item in items if item.get_closest_marker("boundary")]


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session, exitstatus):  # pylint: disable=unused-argument
    """The run fails (a test case "no leftovers") when it left an emulator, a process or a temp folder behind."""
    _leftovers().fail_session_on_leftovers(session)


@pytest.fixture(scope="session")
def collections_root() -> str:
    """The value for ANSIBLE_COLLECTIONS_PATH."""
    return _collections_root()


@pytest.fixture(scope="session")
def harness():
    """tests/emulator/harness.py, imported by path."""
    if EMULATOR_DIR not in sys.path:
        sys.path.insert(0, EMULATOR_DIR)
    import harness as module  # pylint: disable=import-outside-toplevel,import-error
    return module
