# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugins/module_utils/_progress.py: where a slice ends, on an injected clock."""

from __future__ import annotations

import pytest

from ansible_collections.zenlayer.cloud.plugins.module_utils._progress import Slice, Waiting
from ansible_collections.zenlayer.cloud.plugins.module_utils._wait import Polls
from ansible_collections.zenlayer.cloud.tests.unit.plugins.module_utils.test_wait import FakeClock


def _polled_once(next_pause: float) -> Waiting:
    """An announced wait that has polled in this slice, its next pause `next_pause`."""
    waiting = Waiting("image", Polls(made=3), lambda: ("web (img-1)", "CREATING"), announced=True)
    waiting.polls_before = 2
    waiting.polls.next_pause = next_pause
    return waiting


@pytest.mark.parametrize("away, ends_after", [(0.0, 30.0), (20.0, 10.0)])
def test_a_slice_of_45_s_ends_before_a_pause_of_15_s_that_would_carry_the_next_line_past_45_s(away, ends_after):
    """The time away before a slice (Ansible starting the module again) is part of the 45 s between two lines: a slice
    that began 20 s after the last one ended has 25 s left, so it ends before a pause that would end after that (in a
    CI run the slice ran its 45 s after a restart of 16 s, and the lines came 61 s apart)."""
    clock = FakeClock()
    current = Slice(clock, 45.0, away)
    waiting = _polled_once(15.0)
    clock.now = ends_after - 0.5
    assert not current.over(waiting), "a poll that ends in time is made in this slice"
    clock.now = ends_after + 0.5
    assert current.over(waiting)
