# -*- coding: utf-8 -*-
# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The base of the action plugins that print progress while their module waits (see module_utils/_progress.py).

Ansible runs the action plugin of a module's name instead of the module. This one runs the module in slices of
`slice_seconds` (module options progress_slice and resume), prints a progress line at default verbosity between two
slices (the first when a wait starts, then at least every 60 s), and returns the result a run in one piece returns:
`changed` when any slice changed something, the last slice's result (the module carries what it must still report,
the diff's before among it, from slice to slice), the warnings of every slice. Check mode and async tasks run the
module in one piece, silently.

A cancel between two slices ends the worker as one during a slice does: ansible-core's worker kills itself on
SIGINT/SIGTERM, and the power records' watchdogs give the records up once the job's ansible-playbook is gone (a
module renews its leases only while it runs). When ansible-playbook is gone, no new slice starts.
"""

from __future__ import annotations

import os
from typing import Any

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible.utils.vars import merge_hash

from ansible_collections.zenlayer.cloud.plugins.module_utils._progress import DEFAULT_SLICE_SECONDS, progress_line
from ansible_collections.zenlayer.cloud.plugins.module_utils._sliced_result import (
    CONTROLLER_OPTION,
    SLICE_OPTIONS,
    SlicedResult,
    without_slice_options,
)

display = Display()
LOCAL_TRANSPORTS = ("local", "ansible.builtin.local")


class SlicedModuleAction(ActionBase):
    """Runs `module` in slices with a progress line between two; each action plugin sets `module` (its FQCN)."""

    module = ""
    slice_seconds = DEFAULT_SLICE_SECONDS
    # True: the module watches the job's ansible-playbook between two slices (CONTROLLER_OPTION, local connections)
    passes_controller = False
    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        own = [option for option in SLICE_OPTIONS + ((CONTROLLER_OPTION,) if self.passes_controller else ()) if option in args]
        if own:
            return dict(result, failed=True, changed=False,
                        msg="%s: set by the action plugin of %s only, never in a task" % (", ".join(own), self.module))
        wrap_async = bool(self._task.async_val) and not self._connection.has_native_async
        if self._task.check_mode or wrap_async:
            answer = without_slice_options(self._execute_module(module_name=self.module, module_args=args,
                                                                task_vars=task_vars, wrap_async=wrap_async))
        else:
            answer = self._run_in_slices(args, task_vars)
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return merge_hash(result, answer)

    def _run_in_slices(self, args: dict[str, Any], task_vars: dict[str, Any] | None) -> dict[str, Any]:
        sliced = SlicedResult()
        controller = os.getppid()  # the job's ansible-playbook (or ansible)
        name = self.module.rsplit(".", 1)[-1]
        resume: dict[str, Any] | None = None
        while True:
            slice_args = dict(args, progress_slice=self.slice_seconds)
            if self.passes_controller and self._connection.transport in LOCAL_TRANSPORTS:
                slice_args[CONTROLLER_OPTION] = controller
            if resume is not None:
                slice_args["resume"] = resume
            answer = self._execute_module(module_name=self.module, module_args=slice_args, task_vars=task_vars)
            resume, progress = sliced.add(answer)
            if resume is None:
                return sliced.result(answer)
            display.display(progress_line(name, progress or {}))
            if os.getppid() != controller:
                return sliced.result({"failed": True, "msg": "the job's %s process (pid %d) ended while %s waited: no "
                                      "slice of it is started after that" % ("ansible", controller, name)})
