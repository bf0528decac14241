"""Fixtures for the emulator tests: put tests/emulator on sys.path and start emulators."""
from __future__ import annotations

import os
import sys
from typing import Iterator

import pytest

EMULATOR_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "emulator"))
for _path in (EMULATOR_DIR, os.path.dirname(os.path.abspath(__file__))):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from harness import Emulator, load_seed  # noqa: E402  pylint: disable=wrong-import-position

FAST = 0.05  # timings x 0.05: stop/start 0.1 s, image 0.15 s


@pytest.fixture
def emu() -> Iterator[Emulator]:
    """A fresh emulator on the default seed with fast timings."""
    with Emulator(load_seed("default"), time_scale=FAST) as emulator:
        yield emulator


@pytest.fixture
def make_emu() -> Iterator:
    """Factory for emulators with custom seed/options; all are closed after the test."""
    started: list[Emulator] = []

    def factory(seed: dict | str | None = None, **kwargs) -> Emulator:
        kwargs.setdefault("time_scale", FAST)
        emulator = Emulator(seed if seed is not None else load_seed("default"), **kwargs).start()
        started.append(emulator)
        return emulator

    yield factory
    for emulator in started:
        emulator.close()
