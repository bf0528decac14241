# -*- coding: utf-8 -*-
# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  power_record_owner:
    description:
      - The job (owner) whose power records on these instances this task works under, as written by
        M(zenlayer.cloud.zenlayer_instance_power_record). The role C(zenlayer.cloud.image_from_instance) sets it.
      - While the task waits, it renews the lease of each record of this owner when less than a third of O(lease) is
        left, so that another job keeps waiting for a job that is alive. It stops, failing, when another job took a
        record over.
      - When the task is cancelled (SIGINT, SIGTERM - Ctrl-C, or a job cancel that ansible-core passes on to the
        running task), it gives those records up before it exits - what they say to put back stays - so that the
        next run puts the power back at once instead of waiting for the lease to lapse.
      - Records of other owners, and instances without a record, are left alone. Nothing is renewed in check mode.
    type: str
  lease:
    description:
      - Seconds a renewal extends the lease of a power record by (at least 60).
    type: int
    default: 300
notes:
  - A lease is judged on the clock of the machine that reads it, with a margin of 60 seconds for the distance between
    two controllers' clocks (see M(zenlayer.cloud.zenlayer_instance_power_record)).
"""
