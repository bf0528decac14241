# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pytest set-up for the unit tests (plain pytest, or ansible-test units).

* Makes ``import ansible_collections.zenlayer.cloud...`` work from any checkout path: when the checkout already sits at
  ``.../ansible_collections/zenlayer/cloud`` that root goes on sys.path, else a temp dir holding the symlink
  ``ansible_collections/zenlayer/cloud -> checkout`` does.
* Fixtures ``emulator`` / ``emulator_env`` / ``emulator_factory``: a running tests/emulator server (function scope).
  Choose the seed and options with ``@pytest.mark.emulator(seed="default", time_scale=0.05, rate_limit=0, ...)``;
  ``seed`` is a seed name (tests/emulator/seeds/NAME.json), a path, or a dict.
* Every test runs the modules on a clock scaled like the emulator's time (``time_scale``): a module that waits
  15 s waits 15 x 0.05 = 0.75 s of real time, and sees the emulator's instances and images move as in 15 s. Its
  time() is scaled too, from one epoch shared by every emulator of the session (``CLOCK_EPOCH``): compare record
  expiries with ``emulator.now()``, never with time.time().
* The marker ``boundary``: a test of the boundary with Ansible, run on every tested ansible-core; an unmarked test runs
  on one (ZENLAYER_TESTS=boundary keeps only the marked ones; see tests/README.md).
* Nothing may be left behind: a run that leaves an emulator, a process it started or an emulator's temp folder fails
  (tests/emulator/leftovers.py).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import tempfile
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EMULATOR_DIR = os.path.join(REPO, "tests", "emulator")
DEFAULT_TIME_SCALE = 0.05
# where the scaled clock of the modules and of every emulator of this session starts
CLOCK_EPOCH = time.time()
BOUNDARY_MARKER_HELP = ("boundary: a test of the boundary with Ansible (argument specs, docs, inventory output, "
                        "module_defaults, check mode, ad-hoc use, AWX): run on every tested ansible-core; an unmarked "
                        "test runs on one (see tests/README.md)")


def collections_root(repo: str = REPO) -> str:
    """A directory holding ansible_collections/zenlayer/cloud (this checkout), put on sys.path."""
    parts = os.path.normpath(repo).split(os.sep)
    if parts[-3:] == ["ansible_collections", "zenlayer", "cloud"]:
        root = os.sep.join(parts[:-3]) or os.sep
    else:
        root = tempfile.mkdtemp(prefix="zenlayer-cloud-pytest-")
        atexit.register(shutil.rmtree, root, True)
        os.makedirs(os.path.join(root, "ansible_collections", "zenlayer"))
        os.symlink(repo, os.path.join(root, "ansible_collections", "zenlayer", "cloud"))
    if root not in sys.path:
        sys.path.insert(0, root)
    return root


COLLECTIONS_ROOT = collections_root()


def _harness():
    """tests/emulator/harness.py, imported lazily (by path) so this conftest works without it."""
    if EMULATOR_DIR not in sys.path:
        sys.path.insert(0, EMULATOR_DIR)
    try:
        import harness  # pylint: disable=import-outside-toplevel,import-error
    except ImportError as error:  # pragma: no cover - only before the emulator exists
        pytest.skip("tests/emulator/harness.py is not importable: %s" % error)
    return harness


def _session_env() -> None:
    """ansible-test units passes pytest only a few environment variables: the nox sessions write the ones the tests
    read (ZENLAYER_TESTS, CI) to tests/.session-env.json of the staged collection, and they are restored here."""
    path = os.path.join(REPO, "tests", ".session-env.json")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as handle:
            for name, value in json.load(handle).items():
                os.environ.setdefault(name, str(value))


def _leftovers():
    if EMULATOR_DIR not in sys.path:
        sys.path.insert(0, EMULATOR_DIR)
    import leftovers  # pylint: disable=import-outside-toplevel,import-error
    return leftovers


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "emulator(seed='default', time_scale=0.05, rate_limit=0, harsh=False, **kwargs): options of the "
        "emulator fixture (any keyword of tests/emulator/harness.py's Emulator)")
    config.addinivalue_line("markers", BOUNDARY_MARKER_HELP)
    config.addinivalue_line("markers", "long: a test that takes about a minute of real time; such tests start first, so "
                            "that pytest-xdist's workers end together")
    if hasattr(config.option, "maxschedchunk"):
        config.option.maxschedchunk = 1  # two tests to each worker to begin with, then one at a time
    _session_env()
    _leftovers().mark_run()  # before pytest-xdist starts its workers: everything this run starts carries the mark
    if os.path.isfile(os.path.join(EMULATOR_DIR, "harness.py")):
        # the unit tests start about 1,500 emulators: forked, each saves the 0.1 CPU-s of a new interpreter's imports
        _harness().use_fork_server()


def pytest_collection_modifyitems(config, items):
    """ZENLAYER_TESTS=boundary (the sessions of the other ansible-core versions): only the tests marked boundary. The
    tests marked long first."""
    if os.environ.get("ZENLAYER_TESTS", "all") == "boundary":
        kept = [item for item in items if item.get_closest_marker("boundary")]
        config.hook.pytest_deselected(items=[item for item in items if not item.get_closest_marker("boundary")])
        items[:] = kept
    items[:] = _long_ones_first(items)


def _long_ones_first(items: list) -> list:
    """The tests marked long, one in every two places from the start: pytest-xdist hands each worker two tests to
    begin with (pytest_configure: maxschedchunk), so each of the first workers starts with a long one; else a worker
    that draws one at the end runs on alone for a minute (20-40 s of make check)."""
    long_ones = [item for item in items if item.get_closest_marker("long")]
    others = [item for item in items if not item.get_closest_marker("long")]
    ordered = []
    for index, item in enumerate(long_ones):
        ordered += [item] + others[index:index + 1]
    return ordered + others[len(long_ones):]


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session, exitstatus):  # pylint: disable=unused-argument
    """The run fails (a test case "no leftovers") when it left an emulator, a process or a temp folder behind."""
    if "harness" in sys.modules:
        sys.modules["harness"].use_fork_server(False)  # not a leftover: ends with this process
    _leftovers().fail_session_on_leftovers(session)


def _start(harness, seed="default", **kwargs):
    if isinstance(seed, str) and not os.path.exists(seed):
        seed = harness.load_seed(seed)
    kwargs.setdefault("time_scale", DEFAULT_TIME_SCALE)
    kwargs.setdefault("clock_epoch", CLOCK_EPOCH)
    return harness.Emulator(seed, **kwargs).start()


@pytest.fixture
def emulator_factory():
    """Start emulators with any options: ``emu = emulator_factory(seed="demo", rate_limit=5)``; all stop at teardown."""
    harness = _harness()
    started = []

    def factory(seed="default", **kwargs):
        emu = _start(harness, seed, **kwargs)
        started.append(emu)
        return emu

    yield factory
    for emu in reversed(started):
        emu.close()


@pytest.fixture
def emulator(request, emulator_factory):  # pylint: disable=redefined-outer-name
    """A running emulator (harness.Emulator): seed and options from the ``emulator`` marker or indirect param."""
    options = {}
    marker = request.node.get_closest_marker("emulator")
    if marker is not None:
        options.update(marker.kwargs)
        if marker.args:
            options["seed"] = marker.args[0]
    param = getattr(request, "param", None)
    if isinstance(param, dict):
        options.update(param)
    elif isinstance(param, str):
        options["seed"] = param
    return emulator_factory(**options)


@pytest.fixture
def emulator_env(emulator, monkeypatch):  # pylint: disable=redefined-outer-name
    """The emulator, with ZENLAYERCLOUD_* set in os.environ for the test (other ZENLAYERCLOUD_* removed)."""
    for name in list(os.environ):
        if name.startswith("ZENLAYERCLOUD_"):
            monkeypatch.delenv(name)
    for name, value in emulator.env().items():
        monkeypatch.setenv(name, value)
    return emulator


@pytest.fixture(autouse=True)
def scaled_module_clock(request, monkeypatch):
    """The modules' waits, retries and time() run on the emulator's scaled clock (the session's CLOCK_EPOCH, the
    marker's time_scale): no test sleeps for real, and emulator.now() is what the modules' time() reads."""
    from ansible_collections.zenlayer.cloud.plugins.module_utils import _wait  # pylint: disable=import-outside-toplevel

    marker = request.node.get_closest_marker("emulator")
    scale = (marker.kwargs.get("time_scale") if marker else None) or DEFAULT_TIME_SCALE
    monkeypatch.setattr(_wait, "SYSTEM_CLOCK", _wait.ScaledClock(CLOCK_EPOCH, scale))
