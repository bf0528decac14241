#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: zenlayer_image_line
short_description: Timestamped custom images of a Zenlayer Cloud VM instance - keep the newest, skip when fresh
version_added: 0.2.0
author: zenlayer.cloud maintainers (@zenlayer-cloud)
description:
  - Makes a custom image of an instance named O(prefix) plus the current UTC time to the minute (C(YYYYMMDDhhmm)),
    for example V(web-202611300538) - an B(image line). Names sort by time, which the API cannot tell otherwise
    (an image record has no creation time).
  - With O(keep), once the new image is V(AVAILABLE), deletes the line's images older than the newest O(keep)
    V(AVAILABLE) ones, never the image this run made. With O(max_age), does nothing when the line's newest
    V(AVAILABLE) image is younger (a re-run of tonight's job changes nothing). With O(make_room), deletes the line's
    oldest images first when the zone's image quota would refuse the new one, and makes the image once the quota
    shows the room.
  - B(What belongs to a line) - a custom image of the instance's zone whose whole name is O(prefix) followed by
    exactly 12 digits that make a real UTC minute. V(web-golden), V(web-2026) or V(web-old-202611300538) are not
    members of the line V(web-), and this module never deletes them. Nor does it delete a public image, or an image
    still V(CREATING).
  - A line lives in its instance's zone. The same O(prefix) used for instances of two zones makes two lines, each
    kept on its own. Give each instance its own O(prefix).
  - Makes the image the way M(zenlayer.cloud.zenlayer_image) does (the same checks before CreateImage, the same
    handling of a lost answer, the same wait), and always waits for the new image.
options:
  prefix:
    description:
      - The start of every name of the line, 1 to 12 characters of letters, digits, Chinese characters, V(-) and
        V(_), ending with V(-) or V(_). The name adds 12 digits, and a name is at most 24 characters.
    type: str
    required: true
  instance_id:
    description:
      - The instance whose system disk the images are made from. It must be V(STOPPED) to make an image (see
        O(assume_stopped), and the role C(zenlayer.cloud.image_from_instance), which stops it and starts it again).
      - Its zone is the line's zone.
    type: str
    required: true
  description:
    description: The description of a new image, at most 255 characters.
    type: str
  keep:
    description:
      - Once the new image is V(AVAILABLE), delete the line's images older than its newest O(keep) V(AVAILABLE)
        images (the new one counts). Images still V(CREATING) are never deleted.
      - The order is the names' stamps. The image this run made (or adopted) is never deleted - when O(now) is older
        than the line's newest stamps it can be older than the newest O(keep); then it is kept besides them, and a
        warning says so.
      - When not given, nothing is deleted for age.
    type: int
  max_age:
    description:
      - When the line's newest V(AVAILABLE) image is younger than this, do nothing - no image is made, nothing is
        deleted - and return that image in RV(image), with RV(fresh=true).
      - A duration in weeks, days, hours and minutes, like V(20h), V(1d), V(6d12h), V(90m).
      - For a nightly job, a little less than a day (V(20h)) - a re-run the same night is a no-op, tomorrow's run
        makes tomorrow's image.
    type: str
  make_room:
    description:
      - When the zone's custom image quota is full, delete the line's oldest images, as many as the new image needs,
        before it is made - only after every check M(zenlayer.cloud.zenlayer_image) makes (zone, instance status,
        system disk) passed.
      - Deletes take effect late. CreateImage is sent only once DescribeImageQuota shows the room (or, when the API
        gives no quota, once the deleted images are no longer listed), waiting up to O(wait_timeout). When the room
        never shows, the module fails without sending CreateImage and names the images it deleted.
      - Never deletes the line's newest V(AVAILABLE) image, nor an image still V(CREATING); when that is not enough
        the module fails before it deletes anything, and lists the zone's images.
      - With V(false), a full quota fails the task before anything changes, as M(zenlayer.cloud.zenlayer_image) does.
    type: bool
    default: false
  wait_timeout:
    description:
      - How many seconds to wait for the new image to become V(AVAILABLE), above 0. O(keep) deletes only after that.
      - When it runs out, the module fails with the image id and status; nothing is deleted for O(keep).
      - Also how long O(make_room) waits for the quota to show the room it made, before CreateImage.
    type: int
    default: 1800
  now:
    description:
      - The time to name the new image after and to measure O(max_age) from, as ISO 8601 with a UTC offset, for
        example V(2026-11-30T05:38:00Z). Converted to UTC.
      - When not given, the clock of the host the module runs on (the controller, in a play on C(localhost)), in
        UTC. The examples show how to pass the controller's clock wherever the task runs, or one value to several
        tasks that must agree on the name.
    type: str
  assume_stopped:
    description:
      - Only used in check mode, as in M(zenlayer.cloud.zenlayer_image) - predict the run that follows a shutdown,
        without a warning about an instance that is not stopped yet. A real run always needs it V(STOPPED).
    type: bool
    default: false
extends_documentation_fragment:
  - zenlayer.cloud.zenlayer
  - zenlayer.cloud.power_record
  - zenlayer.cloud.progress
attributes:
  check_mode:
    support: full
    description:
      - Check mode runs the same code as a real run with the write calls left out, and returns what a real run
        would - the image it would make (C(image_id) V(null)), the images it would delete (RV(deleted_image_ids)),
        and the line after.
      - As in M(zenlayer.cloud.zenlayer_image), an instance that is not shut down yet is only a warning in check mode.
  diff_mode:
    support: full
    description:
      - Shows the names of the line's images before and after - the one made and the ones deleted.
requirements:
  - python >= 3.9
  - requests
notes:
  - The timestamp is to the minute. A second run in the same minute finds the image of that name and adopts it
    instead of making another.
  - When the line's newest image is still V(CREATING) (an earlier run ran out of O(wait_timeout)), a re-run waits
    for that image instead of making another, then applies O(keep).
  - Order and age come from the names only. An image renamed by hand into the line's form counts as a member.
  - A failed run returns, like a successful one, RV(deleted_image_ids), RV(images) and RV(diff), and its message
    names the images it deleted before the failure.
  - An access key that may not call DescribeDisks (HTTP 403) skips the check of the system disk with one warning;
    CreateImage's own answer then decides.
seealso:
  - module: zenlayer.cloud.zenlayer_image
  - module: zenlayer.cloud.zenlayer_image_info
  - module: zenlayer.cloud.zenlayer_instance_power
"""

EXAMPLES = r"""
- name: Tonight's image of a stopped instance; keep a week of them
  zenlayer.cloud.zenlayer_image_line:
    instance_id: "{{ instance_id }}"
    prefix: web-
    keep: 7
    max_age: 20h
  register: nightly

- name: Say what happened
  ansible.builtin.debug:
    msg: >-
      {{ 'Still current: ' if nightly.fresh else 'Made: ' }}{{ nightly.image.image_name }};
      deleted {{ nightly.deleted_image_ids | length }} older image(s)

- name: On a full quota, make room by deleting the line's oldest images first
  zenlayer.cloud.zenlayer_image_line:
    instance_id: "{{ instance_id }}"
    prefix: db-
    keep: 3
    make_room: true

- name: One time for a check-mode look and the run after it, from the controller's clock
  ansible.builtin.set_fact:
    nightly_now: "{{ now(utc=true, fmt='%Y-%m-%dT%H:%M:%SZ') }}"

- name: The same name as a check-mode task given the same now
  zenlayer.cloud.zenlayer_image_line:
    instance_id: "{{ instance_id }}"
    prefix: web-
    now: "{{ nightly_now }}"

# Ad-hoc, with --check --diff first to see what would be made and deleted:
#   ansible localhost -m zenlayer.cloud.zenlayer_image_line -a 'instance_id=ins-1 prefix=web- keep=3' --check --diff

# Nightly in AWX / Ansible Automation Platform: a job template running this play (inventory: localhost, the
# "Zenlayer Cloud" credential), with a schedule on the job template - Schedules > Add, repeat "Day", start 02:00 UTC.
# The role stops the instance, runs this module and starts the instance again; with max_age a re-run the same
# night (a relaunch) does not touch the instance.
- name: Nightly golden image
  hosts: localhost
  gather_facts: false
  roles:
    - role: zenlayer.cloud.image_from_instance
      image_from_instance_instance_id: "{{ instance_id }}"
      image_from_instance_line_prefix: web-
      image_from_instance_line_keep: 3
      image_from_instance_line_max_age: 20h
"""

RETURN = r"""
image:
  description:
    - The image made by this run, as it was left (V(AVAILABLE)); in check mode the image a real run would make, with
      C(image_id) V(null).
    - With RV(fresh=true), the line's newest V(AVAILABLE) image, which made this run unnecessary.
    - The keys of RV(zenlayer.cloud.zenlayer_image#module:image).
  returned: always
  type: dict
  sample: {"image_id": "img-0123456789abcdef", "image_name": "web-202611300538", "image_status": "AVAILABLE",
           "image_description": null, "image_size": 40, "image_type": "CUSTOM_IMAGE", "category": "Ubuntu",
           "os_type": "linux", "image_version": "1", "zone_id": "HKG-A", "instance_id": "ins-0123456789"}
images:
  description:
    - The line's images in the instance's zone after the run (as a real run leaves them, in check mode), newest first
      by their stamps, with the keys of RV(image).
    - On a failure, the line as the run left it (the images it deleted taken out, the image being made put in).
  returned: always, also on a failure once the line was listed
  type: list
  elements: dict
deleted_image_ids:
  description:
    - The ids of the line's images this run deleted (in check mode, would delete), for O(make_room) and O(keep);
      V([]) when none.
    - Also on a failure - for example when CreateImage is refused after O(make_room) deleted, or the room never
      showed.
  returned: always, also on a failure
  type: list
  elements: str
  sample: ["img-0123456789abcdef"]
fresh:
  description: V(true) when O(max_age) found the line's newest V(AVAILABLE) image young enough, and nothing was done.
  returned: always
  type: bool
  sample: false
diff:
  description: The names of the line's images before and after the run (newest first), also on a failure.
  returned: always, also on a failure once the line was listed
  type: dict
  sample: {"before": {"images": ["web-202611290200", "web-202611280200"]},
           "after": {"images": ["web-202611300200", "web-202611290200"]}}
instance:
  description:
    - The instance O(instance_id) as this task read it (before any change), in the shape
      M(zenlayer.cloud.zenlayer_instance_info) returns, also when the task fails after reading it.
    - Its C(power_record) is the power state a job recorded to put back (see
      M(zenlayer.cloud.zenlayer_instance_power_record)), or V(null).
    - Its C(power_to_restore) is the power an imaging job puts it back to after stopping it (V(stopped) when it
      is C(STOPPED), C(STOPPING) or C(IMAGING), else V(running)).
  returned: when the instance was found
  type: dict
  sample: {"instance_id": "ins-0123456789", "instance_status": "RUNNING", "zone_id": "HKG-A", "power_record": null,
           "power_to_restore": "running"}
"""

from datetime import datetime
from typing import Any

from ansible_collections.zenlayer.cloud.plugins.module_utils import _image_line as line_rules
from ansible_collections.zenlayer.cloud.plugins.module_utils._base import ZenlayerError
from ansible_collections.zenlayer.cloud.plugins.module_utils._image import (
    CREATING,
    CUSTOM_IMAGE,
    describe_image_list,
    describe_images,
    description_problem,
    image_quota,
    shape_image,
)
from ansible_collections.zenlayer.cloud.plugins.module_utils._image_module import ImageModule
from ansible_collections.zenlayer.cloud.plugins.module_utils._wait import WaitTimeout, poll_until

ARGUMENT_SPEC = {
    "prefix": {"type": "str", "required": True},
    "instance_id": {"type": "str", "required": True},
    "description": {"type": "str"},
    "keep": {"type": "int"},
    "max_age": {"type": "str"},
    "make_room": {"type": "bool", "default": False},
    "wait_timeout": {"type": "int", "default": 1800},
    "now": {"type": "str"},
    "assume_stopped": {"type": "bool", "default": False},
}


def names(images: list[dict[str, Any]]) -> list[str]:
    return [image.get("imageName") for image in images]


class ZenlayerImageLine(ImageModule):
    argument_spec = ARGUMENT_SPEC

    def __init__(self, module: Any) -> None:
        super().__init__(module)
        self.prefix: str = self.params["prefix"]
        self.before: list[dict[str, Any]] | None = None  # the line as listed, once it is
        self.line: list[dict[str, Any]] = []  # the line as this run leaves it so far, newest first
        self.deleted: list[dict[str, Any]] = []

    def resume_state(self) -> dict[str, Any]:
        return dict(super().resume_state(), before=self.before, line=self.line, deleted=self.deleted)

    def restore(self, state: dict[str, Any], away: float) -> None:
        super().restore(state, away)
        self.before, self.line, self.deleted = state["before"], state["line"], state["deleted"]

    def validate(self) -> None:
        problem = line_rules.prefix_problem(self.prefix) or description_problem(self.params["description"])
        if problem:
            raise ZenlayerError(problem)
        if self.params["keep"] is not None and self.params["keep"] < 1:
            raise ZenlayerError("keep must be 1 or more (the new image counts), not %s" % self.params["keep"])
        if self.params["wait_timeout"] <= 0:
            raise ZenlayerError("wait_timeout must be a number of seconds above 0, not %s" % self.params["wait_timeout"])
        self.max_age()
        self.now()

    def max_age(self) -> Any:
        text = self.params["max_age"]
        try:
            return None if text is None else line_rules.parse_max_age(text)
        except ValueError:
            raise ZenlayerError("max_age must be a duration like 20h, 1d, 6d12h or 90m (weeks w, days d, hours h, "
                                "minutes m), above 0, not %r" % text) from None

    def now(self) -> datetime:
        text = self.params["now"]
        if text is None:
            return self.clock.utcnow()
        try:
            return line_rules.parse_now(text)
        except ValueError:
            raise ZenlayerError("now must be an ISO 8601 time with its UTC offset, like 2026-11-30T05:38:00Z, not %r"
                                % text) from None

    # -- the run -----------------------------------------------------------------------------------------------------

    def execute(self) -> dict[str, Any]:
        if self.resuming:
            made = self._resumed_image()  # the last slice's image (replaced in the line by its id), or its look goes on
        else:
            now = self.now()
            self.name = line_rules.line_name(self.prefix, now)
            self._find_zone()
            self.before = self.line = self._read_line()
            current = self._current(now)
            if current is not None:
                return self._result(current, fresh=True)
            made = self._adopt_or_create()
        self.line = line_rules.placed(self.line, made)  # a failed wait still reports it in the line
        image = self._settle(made)
        self.line = line_rules.placed([member for member in self.line if member is not made], image)
        self._keep_newest(image)
        return self._result(image, fresh=False)

    def _read_line(self) -> list[dict[str, Any]]:
        with self.step("Listing the images of line %s in zone %s" % (self.prefix, self.zone_id)):
            images = describe_images(self.client, self.zone_id, imageType=CUSTOM_IMAGE)
        return line_rules.members(images, self.prefix)

    def _current(self, now: datetime) -> dict[str, Any] | None:
        """The line's newest AVAILABLE image when it is younger than max_age, else None."""
        max_age, newest = self.max_age(), line_rules.newest_available(self.line)
        if max_age is None or newest is None:
            return None
        made_at = line_rules.name_stamp(self.prefix, newest["imageName"])
        return newest if now - made_at < max_age else None  # type: ignore[operator]

    def _adopt_or_create(self) -> dict[str, Any]:
        """This minute's image already named so (a re-run within the minute), or the line's newest image still being
        made (an earlier run's, after its wait_timeout: waited for, not made twice), else a new one."""
        same = [member for member in self.line if member["imageName"] == self.name]
        if same:
            return same[0]
        if self.line and self.line[0].get("imageStatus") == CREATING:
            return self.line[0]
        return self._create()

    # -- results: the same report whether the run ends well or fails -------------------------------------------------

    def partial_result(self) -> dict[str, Any]:
        """What every result carries, a failed one too: what was deleted, and the line before and after."""
        result = {**super().partial_result(), "deleted_image_ids": [member["imageId"] for member in self.deleted]}
        if self.before is not None:
            result["images"] = [shape_image(member, self.zone_id) for member in self.line]
            result["diff"] = {"before": {"images": names(self.before)}, "after": {"images": names(self.line)}}
        return result

    def _result(self, image: dict[str, Any], fresh: bool) -> dict[str, Any]:
        return {**self.partial_result(), "image": self._shape(image), "fresh": fresh}

    def _fail(self, msg: str, **details: Any) -> None:
        if self.deleted:  # a loss nobody would see otherwise
            msg = "%s. Before this failure the run %s of line %s: %s" % (
                msg.rstrip("."), "would have deleted these images" if self.check_mode else "deleted these images",
                self.prefix, describe_image_list(self.deleted))
        super()._fail(msg, **details)

    # -- deleting ----------------------------------------------------------------------------------------------------

    def _delete_members(self, images: list[dict[str, Any]]) -> None:
        for image in images:
            self._delete(image["imageId"])
            self.deleted.append(image)
            self.line = [member for member in self.line if member is not image]

    def _keep_newest(self, image: dict[str, Any]) -> None:
        """Delete what keep leaves out, never the image this run made or adopted (it may be older than the newest
        `keep`, when `now` is older than the line's newest stamp: then it is kept besides them, with a warning)."""
        if self.params["keep"] is None:
            return
        old = line_rules.beyond_keep(self.line, self.prefix, self.params["keep"])
        if any(member is image for member in old):
            self.module.warn("image %s of this run is older than the line's newest %d AVAILABLE image(s) (now is "
                             "before their stamps): keep does not delete it, so the line keeps it besides them"
                             % (image.get("imageName"), self.params["keep"]))
        self._delete_members([member for member in old if member is not image])

    def _on_full_quota(self, quota: dict[str, Any]) -> None:
        """Every other check passed (ImageModule._check_can_create): delete the line's oldest to make room, or refuse."""
        needed = quota["count"] - quota["maxCount"] + 1
        candidates = line_rules.room_candidates(self.line)
        if not self.params["make_room"]:
            advice = ("make_room=true would delete the line's oldest: %s. " % describe_image_list(candidates[:needed])
                      if len(candidates) >= needed else "")
            self._refuse_full_quota(quota, advice)
        if len(candidates) < needed:
            self._refuse_full_quota(quota, "make_room may delete %d image(s) of line %s, %d are needed (the newest "
                                           "AVAILABLE image of the line stays, CREATING ones are never deleted). "
                                    % (len(candidates), self.prefix, needed))
        self._delete_members(candidates[:needed])
        self._wait_for_room()

    def _wait_for_room(self) -> None:
        """Deletes take effect late: CreateImage is sent only once the quota shows the room (or, when the API gives
        no quota, once the deleted images are no longer listed), within wait_timeout."""
        if self.check_mode:
            return
        deleted_ids = [member["imageId"] for member in self.deleted]

        def look() -> tuple[dict[str, Any] | None, list[str] | None]:
            quota = image_quota(self.client, self.zone_id)
            if line_rules.quota_known(quota):
                return quota, None
            return quota, [image["imageId"] for image in describe_images(self.client, self.zone_id, imageIds=deleted_ids)]

        try:
            with self.step("Waiting for the image quota of zone %s to show the room made" % self.zone_id):
                poll_until(look, lambda seen: line_rules.room_shown(*seen), self.params["wait_timeout"],
                           schedule=line_rules.ROOM_WAIT, clock=self.clock)
        except WaitTimeout as timeout:
            quota = timeout.last[0] if timeout.last else None
            shown = ("%s of %s custom images" % (quota["count"], quota["maxCount"]) if line_rules.quota_known(quota)
                     else "the deleted images still listed")
            raise ZenlayerError("make_room deleted images, but after %.0f s (wait_timeout=%s) zone %s still shows no room "
                                "(%s), so CreateImage was not sent; another image may have taken the room, or the "
                                "deletes are still under way: re-run the task later"
                                % (timeout.waited, self.params["wait_timeout"], self.zone_id, shown)) from None


def main() -> None:
    ZenlayerImageLine.main()


if __name__ == "__main__":
    main()
