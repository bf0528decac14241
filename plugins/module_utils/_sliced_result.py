# -*- coding: utf-8 -*-
# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The action plugin's side of progress (plugins/plugin_utils/_sliced.py): merging the answers of a task's slices into
the result of a run in one piece. Here rather than in plugin_utils so that the modules' unit tests, which may not
import ansible.plugins, run modules in slices exactly as the action plugin does; no module imports it, so it is not
shipped with them (see _progress.py for the module's side)."""

from __future__ import annotations

from typing import Any

# Module options that only the action plugin sets (documented in the doc fragment zenlayer.cloud.progress), and the
# one a module with a watchdog of its own between slices takes too (zenlayer_image_fleet: the job's process id).
SLICE_OPTIONS = ("progress_slice", "resume")
CONTROLLER_OPTION = "controller_pid"


class SlicedResult:
    """The answers of a task's slices, merged into what a run in one piece returns."""

    def __init__(self) -> None:
        self.changed = False
        self.notes: dict[str, list[Any]] = {"warnings": [], "deprecations": []}
        self.slices = 0

    def add(self, answer: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """Take one slice's answer (changed in place: resume and progress taken out). Returns (resume, progress) when
        the module must be called again with that resume, else (None, None): the answer is the last one."""
        self.slices += 1
        resume, progress = answer.pop("resume", None), answer.pop("progress", None)
        self.changed = self.changed or bool(answer.get("changed"))
        for key, kept in self.notes.items():
            for note in answer.get(key) or []:
                if note not in kept:
                    kept.append(note)
        if answer.get("failed") or not isinstance(resume, dict):
            return None, None
        return resume, progress if isinstance(progress, dict) else {}

    def result(self, last: dict[str, Any]) -> dict[str, Any]:
        """The task's result: the last answer, with `changed` of every slice and every slice's warnings."""
        result = dict(last, changed=self.changed or bool(last.get("changed")))
        for key, kept in self.notes.items():
            if kept:
                result[key] = list(kept)
        return without_slice_options(result)


def without_slice_options(result: dict[str, Any]) -> dict[str, Any]:
    """The result without the action plugin's own options in `invocation` (shown with -v): the task did not set them."""
    invocation = result.get("invocation")
    if isinstance(invocation, dict) and isinstance(invocation.get("module_args"), dict):
        module_args = {key: value for key, value in invocation["module_args"].items()
                       if key not in SLICE_OPTIONS + (CONTROLLER_OPTION,)}
        result = dict(result, invocation=dict(invocation, module_args=module_args))
    return result
