# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A power record given up (lapsed): it keeps the power to put back and releases the claim, so the next run takes
it over at once."""

from __future__ import annotations

from ansible_collections.zenlayer.cloud.plugins.module_utils._record import decode_record, lapse, shape_record, write_params

HELD = {"power": "running", "since": 1796540000, "expires": 1796543030, "owner": "job-42"}


def test_a_lapsed_record_keeps_the_power_and_owner_and_expires_at_0():
    lapsed = lapse(HELD)
    assert lapsed == dict(HELD, expires=0) and HELD["expires"] == 1796543030  # the held record is not changed
    value = write_params("ins-1", lapsed)["replaceTags"][0]["value"]
    assert value == "running.1796540000.0.job-42"
    assert decode_record(value) == lapsed
    assert shape_record(decode_record(value), now=1796540001)["stale"] is True
