# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every module's EXAMPLES is valid YAML and names modules by their fully qualified collection names.

ansible-doc shows EXAMPLES as they are and users copy them: a task there must parse, and call
zenlayer.cloud.* or ansible.builtin.* (never a short name that depends on `collections:`).
"""

from __future__ import annotations

import importlib
import os

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULES_DIR = os.path.join(REPO, "plugins", "modules")
ALLOWED_PREFIXES = ("zenlayer.cloud.", "ansible.builtin.")

# Task keywords (what is not the module key of a task); see ansible's Task, Block and Base attributes.
TASK_KEYWORDS = frozenset("""
    action any_errors_fatal args async become become_exe become_flags become_method become_user changed_when check_mode
    collections connection debugger delay delegate_facts delegate_to diff environment failed_when ignore_errors
    ignore_unreachable local_action loop loop_control module_defaults name no_log notify poll port register remote_user
    retries run_once tags throttle timeout until vars when with_dict with_fileglob with_first_found with_indexed_items
    with_items with_list with_nested with_random_choice with_sequence with_subelements with_together
    block rescue always
""".split())


def module_names() -> list[str]:
    return sorted(name[:-3] for name in os.listdir(MODULES_DIR) if name.endswith(".py") and not name.startswith("_"))


def load_examples(module_name: str):
    module = importlib.import_module("ansible_collections.zenlayer.cloud.plugins.modules.%s" % module_name)
    return yaml.safe_load(module.EXAMPLES)


def iter_tasks(items):
    """Every task of a list of tasks or plays, blocks and plays opened up."""
    for item in items or []:
        assert isinstance(item, dict), "an EXAMPLES entry is not a mapping: %r" % (item,)
        if "hosts" in item or "import_playbook" in item:
            for section in ("pre_tasks", "tasks", "post_tasks", "handlers"):
                yield from iter_tasks(item.get(section))
        elif "block" in item:
            for section in ("block", "rescue", "always"):
                yield from iter_tasks(item.get(section))
        else:
            yield item


def module_key(task: dict) -> str:
    keys = [key for key in task if key not in TASK_KEYWORDS and not key.startswith("with_")]
    assert len(keys) == 1, "task %r: expected one module key, found %s" % (task.get("name"), keys)
    return keys[0]


def test_there_are_modules() -> None:
    assert {"zenlayer_image", "zenlayer_image_info", "zenlayer_instance_power", "zenlayer_instance_info"} <= set(module_names())


@pytest.mark.parametrize("module_name", module_names())
def test_examples_are_yaml_tasks_with_fqcns(module_name: str) -> None:
    examples = load_examples(module_name)
    assert isinstance(examples, list) and examples, "%s: EXAMPLES must be a non-empty YAML list of tasks" % module_name
    tasks = list(iter_tasks(examples))
    assert tasks, "%s: EXAMPLES holds no task" % module_name
    for task in tasks:
        assert task.get("name"), "%s: every example task has a name: %r" % (module_name, task)
        key = module_key(task)
        assert key.startswith(ALLOWED_PREFIXES), "%s: task %r uses %r, not a FQCN zenlayer.cloud.* / ansible.builtin.*" % (
            module_name, task["name"], key)
    used = {module_key(task) for task in tasks}
    assert "zenlayer.cloud.%s" % module_name in used, "%s: no example calls the module itself" % module_name


@pytest.mark.parametrize("module_name", module_names())
def test_examples_hold_no_literal_secret(module_name: str) -> None:
    """Examples take secrets from the environment, vault or lookups, never as literal strings."""
    for task in iter_tasks(load_examples(module_name)):
        args = task.get(module_key(task)) or {}
        if not isinstance(args, dict):
            continue
        for option in ("access_key_password", "access_token"):
            value = args.get(option)
            assert value is None or "{{" in str(value), "%s: task %r gives %s literally" % (module_name, task["name"], option)
