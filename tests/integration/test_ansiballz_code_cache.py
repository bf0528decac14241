# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bytecode cache of the integration sessions (ansiballz_code_cache.py): a module imported from a zip runs the
code of its own source, under its own zip's name, whether the cache had it or not. Run on every ansible-core's Python
(the cache reaches into zipimport, whose insides differ from one Python to the next)."""

from __future__ import annotations

import os
import traceback
import zipfile
import zipimport
from pathlib import Path
from typing import Iterator

import pytest

import ansiballz_code_cache

pytestmark = pytest.mark.boundary

PROBE = '''
def answer():
    return %d


def fail():
    def inner():
        raise RuntimeError("from the probe")
    inner()
'''


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[Path]:
    """This module's cache, in a folder of the test's (over the session's own, when its venv installed that)."""
    directory = tmp_path / "cache"
    ansiballz_code_cache.install(str(directory))
    try:
        yield directory
    finally:
        ansiballz_code_cache.uninstall()


def payload(tmp_path: Path, name: str, value: int) -> str:
    path = tmp_path / name / "payload.zip"
    path.parent.mkdir(parents=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("zc_probe.py", PROBE % value)
    return str(path)


def run_probe(zip_path: str) -> tuple[int, list[str]]:
    """(answer(), the file names of fail()'s traceback) of the probe imported from `zip_path`."""
    namespace: dict = {}
    exec(zipimport.zipimporter(zip_path).get_code("zc_probe"), namespace)  # pylint: disable=exec-used
    with pytest.raises(RuntimeError) as raised:
        namespace["fail"]()
    return namespace["answer"](), [frame.filename for frame in traceback.extract_tb(raised.value.__traceback__)[1:]]


def test_a_source_is_compiled_once_then_loaded_under_the_name_of_each_zip(cache: Path, tmp_path: Path) -> None:
    first = payload(tmp_path, "first", 1)
    assert run_probe(first) == (1, [os.path.join(first, "zc_probe.py")] * 2)
    kept = list(cache.iterdir())
    assert len(kept) == 1, kept

    second = payload(tmp_path, "second", 1)
    before = kept[0].stat().st_mtime_ns
    answer, files = run_probe(second)
    assert answer == 1
    assert files == [os.path.join(second, "zc_probe.py")] * 2, "the traceback names the first run's zip: %s" % files
    assert list(cache.iterdir()) == kept and kept[0].stat().st_mtime_ns == before, "the second import compiled again"


def test_a_changed_source_is_compiled_anew(cache: Path, tmp_path: Path) -> None:
    assert run_probe(payload(tmp_path, "old", 1))[0] == 1
    assert run_probe(payload(tmp_path, "new", 2))[0] == 2
    assert len(list(cache.iterdir())) == 2


def test_a_cache_file_cut_short_is_compiled_again_and_rewritten(cache: Path, tmp_path: Path) -> None:
    run_probe(payload(tmp_path, "first", 3))
    kept = next(cache.iterdir())
    kept.write_bytes(kept.read_bytes()[:20])  # as a run killed mid-write would leave it
    assert run_probe(payload(tmp_path, "second", 3))[0] == 3
    assert len(kept.read_bytes()) > 20
    assert not [path for path in cache.iterdir() if path.name.endswith(".tmp")]
