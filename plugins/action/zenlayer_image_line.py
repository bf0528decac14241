# -*- coding: utf-8 -*-
# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Action plugin of zenlayer_image_line: runs the module in slices and prints a progress line while it waits (see
plugins/plugin_utils/_sliced.py)."""

from __future__ import annotations

from ansible_collections.zenlayer.cloud.plugins.plugin_utils._sliced import SlicedModuleAction


class ActionModule(SlicedModuleAction):
    module = "zenlayer.cloud.zenlayer_image_line"
