# -*- coding: utf-8 -*-
# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Action plugin of zenlayer_instance_power_record: tells the module which ansible-playbook runs the job, so that its
watchdog (watchdog=true) can give the record up when that process ends without removing it."""

from __future__ import annotations

import os

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

MODULE = "zenlayer.cloud.zenlayer_instance_power_record"
LOCAL_TRANSPORTS = ("local", "ansible.builtin.local")


class ActionModule(ActionBase):
    """Runs the module; with watchdog=true on a local connection, adds controller_pid (the job's ansible-playbook:
    the parent of this worker process). Elsewhere the module runs on another machine, which cannot watch it."""

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        args.pop("controller_pid", None)
        if boolean(args.get("watchdog", False), strict=False) and self._connection.transport in LOCAL_TRANSPORTS:
            args["controller_pid"] = os.getppid()
        result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
        return result
