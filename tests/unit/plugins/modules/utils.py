# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a module's main() in-process with given arguments and read its JSON result (all ansible-core versions)."""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any, Callable, Iterator

import pytest

MADE_IDS = re.compile(r"img-[0-9a-f]{16}")  # ids the emulator gives the images it makes (random)
USER_KEYS = ("changed", "failed", "msg", "image", "images", "instances", "diff", "fresh", "deleted_image_ids", "instance",
             "warnings")
WRITE_ACTIONS = frozenset({"CreateImage", "DeleteImages", "ModifyImagesAttributes", "StopInstances", "StartInstances",
                           "RebootInstances"})


@contextlib.contextmanager
def module_args(args: dict[str, Any]) -> Iterator[None]:
    try:
        from ansible.module_utils.testing import patch_module_args  # pylint: disable=import-outside-toplevel
    except ImportError:  # ansible-core < 2.19
        from ansible.module_utils import basic  # pylint: disable=import-outside-toplevel

        previous = basic._ANSIBLE_ARGS  # pylint: disable=protected-access
        basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode("utf-8")  # pylint: disable=protected-access
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = previous  # pylint: disable=protected-access
        return
    with patch_module_args(args):
        yield


def run_module(main: Callable[[], None], capsys: Any, args: dict[str, Any], *, check_mode: bool = False,
               diff: bool = False) -> dict:
    """The module's JSON result; `failed` is true when it called fail_json."""
    args = dict(args)
    if check_mode:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    capsys.readouterr()
    _forget_earlier_warnings()
    with module_args(args), _as_a_module():
        with pytest.raises(SystemExit):
            main()
    out = capsys.readouterr().out
    return json.loads(out[out.index("{"):])


@contextlib.contextmanager
def _as_a_module() -> Iterator[None]:
    """Run as a module does, also after a test in this process imported controller code (an inventory plugin): from
    ansible-core 2.19 that makes module warnings go to the controller's display instead of the module's result."""
    try:
        from ansible.module_utils import _internal  # pylint: disable=import-outside-toplevel
    except ImportError:  # ansible-core < 2.19
        yield
        return
    was_controller = getattr(_internal, "is_controller", False)
    _internal.is_controller = False
    try:
        yield
    finally:
        _internal.is_controller = was_controller


def _forget_earlier_warnings() -> None:
    """Ansible keeps a module's warnings in a process-wide store: a run in this process must not see the last one's."""
    from ansible.module_utils.common import warnings  # pylint: disable=import-outside-toplevel

    for store in (warnings._global_warnings, warnings._global_deprecations):  # pylint: disable=protected-access
        store.clear()


def writes(emulator: Any) -> list[dict]:
    """The write calls that reached the emulator."""
    return [entry for entry in emulator.requests() if entry["action"] in WRITE_ACTIONS]


@contextlib.contextmanager
def on_request(action: str | tuple[str, ...], change: Callable[[], None], *, nth: int = 1, when: str = "before",
               required: bool = True) -> Iterator[None]:
    """Run `change` (what a parallel job or the cloud does meanwhile: ``emulator.patch(...)``) at a moment the module's
    own requests choose, not a timer: just before its `nth` request of `action` (or of any of several actions) leaves
    for the API (when="before"), or just after that request's answer came back, before the module reads it
    (when="after"). Once; with required=False the module may also end before that request.

    The hook sits at the HTTP boundary (requests' transport adapter): the request still goes to the emulator."""
    from requests.adapters import HTTPAdapter  # pylint: disable=import-outside-toplevel

    original = HTTPAdapter.send
    actions = (action,) if isinstance(action, str) else action
    seen: list[str] = []

    def send(adapter: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        due = request.headers.get("x-zc-action") in actions and len(seen) < nth
        if due:
            seen.append(request.headers.get("x-zc-action"))
            due = len(seen) == nth
        if due and when == "before":
            change()
        answer = original(adapter, request, *args, **kwargs)
        if due and when == "after":
            change()
        return answer

    with pytest.MonkeyPatch.context() as patcher:
        patcher.setattr(HTTPAdapter, "send", send)
        yield
    assert len(seen) == nth or not required, "the module sent %d %s request(s), the change was due at number %d" % (
        len(seen), action, nth)


def run_sliced(main: Callable[[], None], capsys: Any, args: dict[str, Any], slice_seconds: float, *,
               diff: bool = False, between: Callable[[int], None] | None = None) -> tuple[dict, list[dict]]:
    """Run a module the way its action plugin does (plugins/plugin_utils/_sliced.py, with _sliced_result.SlicedResult):
    in slices of `slice_seconds`, called again with the `resume` of the last slice until its result is final. Returns
    (the merged result, the progress of each slice that ended in a wait). `between(n)` runs after the n-th slice (a test's doings there)."""
    from ansible_collections.zenlayer.cloud.plugins.module_utils._sliced_result import SlicedResult  # pylint: disable=import-outside-toplevel

    sliced, progress, resume = SlicedResult(), [], None
    while True:
        slice_args = dict(args, progress_slice=slice_seconds)
        if resume is not None:
            slice_args["resume"] = json.loads(json.dumps(resume))  # what crosses the process boundary: JSON
        answer = run_module(main, capsys, slice_args, diff=diff)
        resume, shown = sliced.add(answer)
        if resume is None:
            return sliced.result(answer), progress
        progress.append(shown)
        if between is not None:
            between(len(progress))


def normalized(result: dict, keys: tuple[str, ...] = USER_KEYS) -> Any:
    """What a user reads from a result; the ids of images the emulator made told apart only by their order of
    appearance, without the instances' creation times (the emulator's start) and the ids of requests."""
    text = json.dumps({key: result.get(key) for key in keys}, sort_keys=True)
    text = re.sub(r'"create_time": "[^"]*"', '"create_time": "-"', text)
    text = re.sub(r'request id [^,)"]+', "request id -", re.sub(r'"request_id": "[^"]*"', '"request_id": "-"', text))
    # the seconds a timed-out wait reports are the clock's, which a loaded machine moves by one either way
    text = re.sub(r"(timed out after|after waiting) \d+ s", r"\1 N s", text)
    seen: dict[str, str] = {}
    return json.loads(MADE_IDS.sub(lambda match: seen.setdefault(match.group(0), "img-made-%d" % len(seen)), text))


FLEET_KEYS = ("changed", "failed", "msg", "outcomes", "failed_keys", "recorded", "throttled", "warnings")


def fleet_result(result: dict, keys: tuple[str, ...] = FLEET_KEYS) -> Any:
    """What a user reads from the fleet's result. An instance whose power the run leaves alone (stopped, and to stay
    so) is last seen by the status poll that runs every 15 s while its image is made: IMAGING, or STOPPED when that
    poll came after the image's end but before the image poll saw it AVAILABLE - a race of any two runs, not a
    difference of slices."""
    shown = normalized(result, keys)
    for outcome in (shown.get("outcomes") or {}).values():
        if (outcome["instance_status_before"], outcome["power_after"], outcome["instance_status"]) in (
                ("STOPPED", "stopped", "IMAGING"), ("STOPPED", "stopped", "STOPPED")):
            outcome["instance_status"] = "STOPPED or IMAGING"
    return shown
