# -*- coding: utf-8 -*-
# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  progress_slice:
    description:
      - Set by this module's action plugin only; a task must not set it (the task fails when it does).
      - The seconds one run of the module lasts at most while it waits, counted from the end of the run before, so
        that the time Ansible takes to start the module again is part of them. The action plugin runs the module in
        such slices and prints a progress line between two; the module returns where it stands at the end of a slice,
        and the action plugin runs it again with O(resume).
      - Not set, the module runs in one piece (check mode always does).
    type: float
    version_added: 0.2.0
  resume:
    description:
      - Set by this module's action plugin only; a task must not set it (the task fails when it does).
      - Where the last slice of the module stopped, as that slice returned it. The module goes straight back into the
        wait it was in, without repeating a look already made, and reports what the first slice saw (the diff's
        before, C(changed)).
    type: dict
    version_added: 0.2.0
notes:
  - "While the module waits, a progress line is printed at default verbosity when the wait starts and then at least
    every 60 seconds, for example C(zenlayer_image: web-golden (img-0123456789abcdef) CREATING - 4m 30s of 30m, 9 polls)
    - what is awaited, its status, the time waited of the timeout and the polls made. The lines show in the output of
    C(ansible-playbook) and C(ansible), and in an AWX job's output (ansible-runner events). Nothing is printed in check
    mode or for an C(async) task, and nothing of it enters the result, which is the same as a run in one piece."
  - A cancel (SIGINT, SIGTERM) between two slices ends the task as one during a slice does; the power records of the
    role's job are given up by their watchdog once the job is gone.
attributes:
  action:
    support: full
    description:
      - An action plugin of the same name runs the module in slices while it waits and prints the progress lines.
"""
