# -*- coding: utf-8 -*-
# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The watchdog of a fleet run in slices (see _lease.py's watchdog): between two slices of zenlayer_image_fleet no
module runs, so nothing gives the run's power records up when the job is cancelled there.

At the end of a slice the module writes the records it holds to a file of its owner and starts one watchdog for the
run (unless one watches already). Once the job's ansible-playbook is gone and no slice of the run works (its holder
file), the watchdog gives the records of that file up - lapsed, their power to put back kept - so that the next run
puts the power back at once. The run's end (any end but a slice's) ends the watchdog; a cancel during a slice is the
module's own to handle."""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any, Callable, Iterator

from ansible_collections.zenlayer.cloud.plugins.module_utils._lease import end_watch, holding, lease_file, start_watchdog
from ansible_collections.zenlayer.cloud.plugins.module_utils._progress import SliceEnded
from ansible_collections.zenlayer.cloud.plugins.module_utils._record import is_live, lapse, read_record, write_params

# The name of a fleet run's watch among the leases of its owner (instance ids start with "ins-").
WATCHED = "fleet"


def _records_file(owner: str) -> str:
    return lease_file(owner, WATCHED) + ".records"


def keep_watch(owner: str, records: dict[str, dict[str, Any]], controller_pid: int, give_up: Callable[[], None]) -> None:
    """At the end of a slice: the records held, for the watchdog; the watchdog started unless it runs already."""
    path = _records_file(owner)
    with open(path + ".new", "w", encoding="utf-8") as handle:
        json.dump(records, handle)
    os.replace(path + ".new", path)
    start_watchdog(owner, WATCHED, controller_pid, give_up)


def held_records(owner: str) -> dict[str, dict[str, Any]]:
    try:
        with open(_records_file(owner), encoding="utf-8") as handle:
            return dict(json.load(handle))
    except (OSError, ValueError):
        return {}


def end_fleet_watch(owner: str) -> None:
    """The watchdog ends, and the records file with its lease file (_lease.end_watch: also when the watchdog itself
    ends after giving the records up)."""
    end_watch(owner, WATCHED)


@contextlib.contextmanager
def watched_slice(owner: str, watched: bool) -> Iterator[None]:
    """A slice of the run (when `watched`): the watchdog knows it works while it runs; any end but a slice's (the
    run's result, its failure, a cancel the module handles itself) ends the watchdog."""
    if not watched:
        yield
        return
    with holding(owner, [WATCHED]):
        try:
            yield
        except SliceEnded:
            raise
        except BaseException:
            end_fleet_watch(owner)
            raise
    end_fleet_watch(owner)


def give_up_held(owner: str, client: Any, now: Callable[[], float]) -> None:
    """Run by the watchdog once the job is gone: give up each record held at the last slice's end that is still this
    owner's and live. Raises when one could not be (the watchdog tries again a few times)."""
    failed = []
    for instance_id in sorted(held_records(owner)):
        try:
            record = read_record(client, instance_id)
            if record is not None and record["owner"] == owner and is_live(record, now()):
                client.call("ModifyResourceTags", write_params(instance_id, lapse(record)), safe_to_retry=True)
        except Exception:  # pylint: disable=broad-except
            failed.append(instance_id)
    if failed:
        raise RuntimeError("could not give up the records of %s" % ", ".join(failed))
