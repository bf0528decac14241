"""World state of the Zenlayer VM API emulator: zones, instances, images, quota, state machines and actions.

Every public method takes the world lock.  Status transitions are stored as wall-clock times ("pending") and applied
lazily whenever the world is read or changed, so the state file can be reloaded after a restart without losing them.
A write is split in two: _act_<Action> validates it against the visible world and returns its plan, _apply_<Action>
makes the plan happen, at once or (with an async lag) when its queued effect in `accepted` falls due.
"""
from __future__ import annotations

import copy
import json
import os
import random
import re
import secrets
import tempfile
import threading
import time
from typing import Any, Callable

STATE_FORMAT = "zenlayer-vm-emulator-state/1"
DEFAULT_TIMINGS = {"stop_seconds": 2.0, "start_seconds": 2.0, "image_seconds": 3.0}
DEFAULT_IMAGE_QUOTA = 5
MAX_IDS = 100
MAX_PAGE_SIZE = 1000
# fullmatch, never "$": "$" also matches before a trailing newline, and "name\n" must be refused
IMAGE_NAME_RE = re.compile(r"[A-Za-z0-9_\-\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]{1,24}")
RECYCLED_STATUSES = ("RECYCLE", "RECYCLING")
IMAGE_INFO_FIELDS = ("imageId", "imageName", "imageType", "imageSize", "imageDescription", "imageVersion",
                     "imageStatus", "category", "osType")
HEALTHY_DISK_STATUSES = ("IN_USE", "AVAILABLE")
DISK_TYPES = ("SYSTEM", "DATA")
TAG_TEXT_RE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
MAX_TAGS = 20
# the emulator's own name for what DescribeResourceByTags calls a VM instance (Zenlayer's value is not published)
INSTANCE_RESOURCE_TYPE = "instance"
# The timing knobs (seconds, x time scale; 0 = off) and their values in the harsh mode (--harsh, harsh=True,
# {"harsh": true}): writes take effect 2-3 s late and in any order, a new image is listed 3 s after its instance shows
# IMAGING, and the instance stays IMAGING 3 s after its image is done. See README.md, "Timing knobs".
HARSH = {"async_lag": 2.0, "async_jitter": 1.0, "image_list_lag": 3.0, "imaging_tail": 3.0}
TIMING_KNOBS = tuple(HARSH)
DEFAULT_RANDOM_SEED = 1


class ApiError(Exception):
    """An API error answered as {"requestId", "code", "message"} with a non-200 HTTP status."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__("%s %s: %s" % (status, code, message))
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


class PatchError(ValueError):
    """A bad /_emulator/patch request."""


def iso_time(wall: float) -> str:
    """UTC ISO-8601 timestamp as Zenlayer prints them."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall))


# ---------------------------------------------------------------------------------------------------------------------
# request parameter helpers

def _type_ok(value: Any, kind: str) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def param(body: dict, name: str, kind: str, required: bool = False) -> Any:
    """Read one request field; raise MISSING_PARAMETER / INVALID_PARAMETER_TYPE (emulator's own codes)."""
    value = body.get(name)
    if value is None:
        if required:
            raise ApiError(400, "MISSING_PARAMETER", "The required parameter '%s' is missing." % name)
        return None
    if not _type_ok(value, kind):
        expected = {"str": "a string", "int": "an integer", "bool": "a boolean"}.get(kind, "a list of strings")
        raise ApiError(400, "INVALID_PARAMETER_TYPE", "The parameter '%s' must be %s." % (name, expected))
    if kind == "str_list" and required and not value:
        raise ApiError(400, "MISSING_PARAMETER", "The required parameter '%s' is an empty list." % name)
    return value


def id_list(body: dict, name: str, required: bool = False) -> list[str] | None:
    """A list of ids, at most MAX_IDS, duplicates removed (order kept)."""
    ids = param(body, name, "str_list", required)
    if ids is None:
        return None
    if len(ids) > MAX_IDS:
        raise ApiError(400, "INVALID_PARAMETER_TOO_MANY_IDS",
                       "The parameter '%s' holds %d ids; at most %d are allowed." % (name, len(ids), MAX_IDS))
    return list(dict.fromkeys(ids))


def paginate(items: list, body: dict) -> tuple[int, list]:
    """Apply pageNum (default 1) and pageSize (default 20, max 1000); return (totalCount, page)."""
    page_num = param(body, "pageNum", "int")
    page_size = param(body, "pageSize", "int")
    page_num = 1 if page_num is None else page_num
    page_size = 20 if page_size is None else page_size
    if page_num < 1:
        raise ApiError(400, "INVALID_PARAMETER_PAGE_NUM", "pageNum must be at least 1, got %d." % page_num)
    if page_size < 1 or page_size > MAX_PAGE_SIZE:
        raise ApiError(400, "INVALID_PARAMETER_PAGE_SIZE",
                       "pageSize must be between 1 and %d, got %d." % (MAX_PAGE_SIZE, page_size))
    start = (page_num - 1) * page_size
    return len(items), items[start:start + page_size]


def check_image_name(name: str) -> None:
    """1-24 characters: letters, digits, Chinese characters, '-' and '_'."""
    if not IMAGE_NAME_RE.fullmatch(name):
        raise ApiError(400, "INVALID_PARAMETER_IMAGE_NAME",
                       "imageName must be 1-24 characters of letters, digits, Chinese characters, '-' or '_'.")


def check_image_description(description: str) -> None:
    """At most 255 characters."""
    if len(description) > 255:
        raise ApiError(400, "INVALID_PARAMETER_IMAGE_DESCRIPTION",
                       "imageDescription must be at most 255 characters, got %d." % len(description))


def check_tag_text(what: str, text: Any) -> str:
    """A tag key or value: 1-64 letters, digits, '-', '_' or '.' (zrm's documented length; the characters are our
    strict reading of what is undocumented)."""
    if not isinstance(text, str):
        raise ApiError(400, "INVALID_PARAMETER_TYPE", "A tag %s must be a string." % what)
    if not TAG_TEXT_RE.fullmatch(text):
        raise ApiError(400, "INVALID_PARAMETER_TAG_%s" % what.upper(),
                       "A tag %s must be 1-64 letters, digits, '-', '_' or '.', got %r." % (what, text))
    return text


def tag_list(body: dict, name: str) -> list[dict] | None:
    """A list of at most 20 {key, value} objects, keys unique; an absent value is stored as ''."""
    tags = body.get(name)
    if tags is None:
        return None
    if not isinstance(tags, list) or not all(isinstance(tag, dict) for tag in tags):
        raise ApiError(400, "INVALID_PARAMETER_TYPE", "The parameter '%s' must be a list of {key, value} objects." % name)
    if len(tags) > MAX_TAGS:
        raise ApiError(400, "INVALID_PARAMETER_TOO_MANY_TAGS",
                       "The parameter '%s' holds %d tags; at most %d are allowed." % (name, len(tags), MAX_TAGS))
    checked = []
    for tag in tags:
        key = check_tag_text("key", tag.get("key"))
        value = tag.get("value")
        if value is not None:
            check_tag_text("value", value)
        checked.append({"key": key, "value": "" if value is None else value})
    keys = [tag["key"] for tag in checked]
    if len(set(keys)) != len(keys):
        raise ApiError(400, "INVALID_PARAMETER_TAG_KEY", "The parameter '%s' names a tag key twice." % name)
    return checked


def tag_key_list(body: dict, name: str) -> list[str] | None:
    """A list of at most 20 tag keys."""
    keys = param(body, name, "str_list")
    if keys is None:
        return None
    if len(keys) > MAX_TAGS:
        raise ApiError(400, "INVALID_PARAMETER_TOO_MANY_TAGS",
                       "The parameter '%s' holds %d keys; at most %d are allowed." % (name, len(keys), MAX_TAGS))
    return [check_tag_text("key", key) for key in keys]


def tags_match(tags: list[dict], wanted: list[dict] | None, wanted_keys: list[str] | None) -> bool:
    """Every wanted {key, value} (an empty value: any value) and every wanted key is on the resource."""
    have = {tag["key"]: tag.get("value") for tag in tags}
    for tag in wanted or []:
        if tag["key"] not in have or (tag["value"] and have[tag["key"]] != tag["value"]):
            return False
    return all(key in have for key in wanted_keys or [])


# ---------------------------------------------------------------------------------------------------------------------
# DescribeInstances filters

MAX_TAG_FILTERS = 20
EXACT_INSTANCE_FILTERS = ("zoneId", "instanceStatus", "imageId", "resourceGroupId", "subnetId")
ADDRESS_FILTERS = ("publicIpAddresses", "privateIpAddresses")


def tag_filter(body: dict) -> list[tuple[str, Any]]:
    """tags[] of {key, value} (at most 20): [(key, value)]; a missing or null value matches any value of the key."""
    tags = body.get("tags")
    if tags is None:
        return []
    if not isinstance(tags, list) or not all(isinstance(tag, dict) and isinstance(tag.get("key"), str) for tag in tags):
        raise ApiError(400, "INVALID_PARAMETER_TYPE", "The parameter 'tags' must be a list of {key, value} objects.")
    if len(tags) > MAX_TAG_FILTERS:
        raise ApiError(400, "INVALID_PARAMETER_TOO_MANY_TAGS",
                       "The parameter 'tags' holds %d tags; at most %d are allowed." % (len(tags), MAX_TAG_FILTERS))
    return [(tag["key"], tag.get("value")) for tag in tags]


def tag_keys_filter(body: dict) -> list[str]:
    """tagKeys[] (at most 20)."""
    keys = param(body, "tagKeys", "str_list") or []
    if len(keys) > MAX_TAG_FILTERS:
        raise ApiError(400, "INVALID_PARAMETER_TOO_MANY_TAGS",
                       "The parameter 'tagKeys' holds %d keys; at most %d are allowed." % (len(keys), MAX_TAG_FILTERS))
    return keys


def _has_tags(inst: dict, pairs: list[tuple[str, Any]], keys: list[str]) -> bool:
    """Every tag pair and every tag key must be on the instance (all of them, the emulator's choice)."""
    carried = {tag.get("key"): tag.get("value") for tag in inst.get("tags") or []}
    if any(key not in carried for key in keys):
        return False
    return all(key in carried and (value is None or carried[key] == value) for key, value in pairs)


def instance_filter_of(body: dict) -> Callable[[dict], bool]:
    """The DescribeInstances filters of a request as one predicate over instance records (every filter must hold).

    Checks every parameter's type before matching anything, so a bad request fails whether or not instances exist.
    """
    instance_ids = id_list(body, "instanceIds")
    exact = {key: param(body, key, "str") for key in EXACT_INSTANCE_FILTERS}
    name = param(body, "instanceName", "str")
    addresses = {key: param(body, key, "str_list") for key in ADDRESS_FILTERS}
    pairs, keys = tag_filter(body), tag_keys_filter(body)

    def matches(inst: dict) -> bool:
        if instance_ids is not None and inst["instanceId"] not in instance_ids:
            return False
        if any(value is not None and inst.get(key) != value for key, value in exact.items()):
            return False
        if any(wanted is not None and not set(wanted) & set(inst.get(key) or []) for key, wanted in addresses.items()):
            return False
        return World._name_matches(name, inst["instanceName"]) and _has_tags(inst, pairs, keys)

    return matches


# ---------------------------------------------------------------------------------------------------------------------
# record normalisation

def normalize_instance(raw: dict, now: float) -> dict:
    """Fill defaults for an instance record (seed or patch)."""
    inst = {
        "instanceId": raw["instanceId"], "zoneId": raw["zoneId"],
        "instanceName": raw.get("instanceName", raw["instanceId"]),
        "instanceStatus": raw.get("instanceStatus", "RUNNING"),
        "imageId": None, "imageName": None, "osType": "linux", "category": "Ubuntu",
        "systemDiskSize": 20, "systemDiskCategory": "Standard NVMe SSD", "systemDiskStatus": "IN_USE",
        "imageOutcome": "AVAILABLE", "cpuCount": 2, "memory": 4, "instanceType": "z2a.cpu.1",
        "publicIpAddresses": [], "publicIpv6Addresses": [], "privateIpAddresses": [], "createTime": iso_time(now),
        "tags": [], "resourceGroupId": "rg-default", "resourceGroupName": "Default Resource Group",
        "lastForceShutdown": None, "lastForceShutdownSent": None, "pending": None,
    }
    inst.update(raw)
    return inst


def normalize_image(raw: dict, now: float) -> dict:
    """Fill defaults for an image record; an image without zoneId is public (visible in every zone)."""
    public = raw.get("imageType") == "PUBLIC_IMAGE" or not raw.get("zoneId")
    image = {
        "imageId": raw["imageId"], "imageName": raw.get("imageName", raw["imageId"]),
        "imageType": "PUBLIC_IMAGE" if public else "CUSTOM_IMAGE",
        "imageSize": "20", "imageDescription": None, "imageVersion": "1", "imageStatus": "AVAILABLE",
        "category": "Ubuntu", "osType": "linux", "zoneId": None, "instanceId": None,
        "createTime": iso_time(now), "pending": None, "listedAt": None,
    }
    image.update(raw)
    image["imageSize"] = str(image["imageSize"])
    if public:
        image["zoneId"] = None
    return image


def parse_quota(value: Any, default: int = DEFAULT_IMAGE_QUOTA) -> tuple[int, dict[str, int]]:
    """image_quota as int, or dict of per-zone overrides with an optional 'default' key."""
    if value is None:
        return default, {}
    if isinstance(value, int) and not isinstance(value, bool):
        return value, {}
    if isinstance(value, dict):
        overrides = {str(k): int(v) for k, v in value.items() if k != "default"}
        return int(value.get("default", default)), overrides
    raise PatchError("image_quota must be an integer or an object of per-zone integers")


# ---------------------------------------------------------------------------------------------------------------------
# the world

class World:
    """All emulated resources, guarded by one lock, optionally persisted to a JSON state file."""

    def __init__(self, data: dict, *, time_scale: float = 1.0, state_file: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.time_scale = float(time_scale)
        self.state_file = state_file
        now = clock()
        self.zones: dict[str, dict] = {z["zoneId"]: {"zoneId": z["zoneId"], "zoneName": z.get("zoneName", z["zoneId"]),
                                                     "supportImage": bool(z.get("supportImage", True))}
                                       for z in data.get("zones", [])}
        self.access_keys: dict[str, str] = dict(data.get("access_keys", {}))
        self.tokens: list[str] = list(data.get("tokens", []))
        self.instances: dict[str, dict] = {i["instanceId"]: normalize_instance(i, now) for i in data.get("instances", [])}
        self.images: dict[str, dict] = {i["imageId"]: normalize_image(i, now) for i in data.get("images", [])}
        quota = data.get("quota")
        if isinstance(quota, dict) and "default" in quota and "overrides" in quota:
            self.quota_default, self.quota_overrides = int(quota["default"]), dict(quota["overrides"])
        else:
            self.quota_default, self.quota_overrides = parse_quota(data.get("image_quota"))
        self.timings: dict[str, float] = dict(DEFAULT_TIMINGS)
        self.timings.update(data.get("timings", {}))
        self.events: list[dict] = list(data.get("events", []))
        self.async_lag = check_lag(data.get("async_lag", 0.0))
        self.async_jitter = check_lag(data.get("async_jitter", 0.0), "async_jitter")
        self.image_list_lag = check_lag(data.get("image_list_lag", 0.0), "image_list_lag")
        self.imaging_tail = check_lag(data.get("imaging_tail", 0.0), "imaging_tail")
        self.random_seed = check_random_seed(data.get("random_seed", DEFAULT_RANDOM_SEED))
        self.jitter_draws = int(data.get("jitter_draws", 0))
        self.clock_epoch = check_epoch(data.get("clock_epoch", now))
        self.accepted: list[dict] = list(data.get("accepted", []))
        self.effect_log: list[dict] = list(data.get("effect_log", []))
        self.tag_denied_keys: list[str] = check_key_list("tag_denied_keys", data.get("tag_denied_keys"))
        self.zrm_denied_keys: list[str] = check_key_list("zrm_denied_keys", data.get("zrm_denied_keys"))
        self.denied_actions: dict[str, list[str]] = check_denied_actions(data.get("denied_actions"))

    # -- construction and persistence ------------------------------------------------------------------------------

    @classmethod
    def load(cls, seed_file: str | None, state_file: str | None, time_scale: float = 1.0,
             async_lag: float | None = None, settings: dict | None = None) -> World:
        """Load the state file when it exists, else the seed file; async_lag and the settings given (the /patch
        settings: harsh, the timing knobs, random_seed; and clock_epoch) override both."""
        if state_file and os.path.exists(state_file):
            with open(state_file, encoding="utf-8") as handle:
                data = json.load(handle)
        elif seed_file:
            with open(seed_file, encoding="utf-8") as handle:
                data = json.load(handle)
        else:
            raise ValueError("a --seed file is required when there is no state file yet")
        world = cls(data, time_scale=time_scale, state_file=state_file)
        settings = {key: value for key, value in (settings or {}).items() if value is not None and value is not False}
        if async_lag is not None:
            settings["async_lag"] = async_lag
        if "clock_epoch" in settings:
            world.clock_epoch = check_epoch(settings.pop("clock_epoch"))
        world.apply_settings(settings)
        with world.lock:
            world.save()
        return world

    def to_dict(self) -> dict:
        """Everything needed to restart (secrets included: the state file is a local test artifact)."""
        return {
            "format": STATE_FORMAT, "saved_at": self.clock(),
            "zones": list(self.zones.values()), "access_keys": self.access_keys, "tokens": self.tokens,
            "instances": list(self.instances.values()), "images": list(self.images.values()),
            "quota": {"default": self.quota_default, "overrides": self.quota_overrides},
            "timings": self.timings, "events": self.events, "async_lag": self.async_lag, "accepted": self.accepted,
            "effect_log": self.effect_log, "tag_denied_keys": self.tag_denied_keys, "zrm_denied_keys": self.zrm_denied_keys,
            "denied_actions": self.denied_actions,
            "async_jitter": self.async_jitter, "image_list_lag": self.image_list_lag, "imaging_tail": self.imaging_tail,
            "random_seed": self.random_seed, "jitter_draws": self.jitter_draws, "clock_epoch": self.clock_epoch,
        }

    def save(self) -> None:
        """Write the state file atomically (temp file + rename); no-op without --state. Compact and not fsynced: it is
        written on every change, must outlive the emulator's process (a kill), not the machine, and at a thousand
        instances an indented, synced file made every write take about 100 ms."""
        if not self.state_file:
            return
        directory = os.path.dirname(os.path.abspath(self.state_file))
        fd, tmp_path = tempfile.mkstemp(prefix=".emulator-state-", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(self.to_dict(), handle, separators=(",", ":"))
            os.replace(tmp_path, self.state_file)
        except BaseException:
            if os.path.exists(tmp_path):
                os.unlink(tmp_path)
            raise

    # -- time and state machines -----------------------------------------------------------------------------------

    def _delay(self, timing: str) -> float:
        return float(self.timings.get(timing, DEFAULT_TIMINGS[timing])) * self.time_scale

    def clock_scaled(self) -> bool:
        """Whether modules can run on this world's scaled clock (ZENLAYERCLOUD_EMULATOR_CLOCK takes 0 < scale <= 1)."""
        return 0.0 < self.time_scale <= 1.0

    def emulator_time(self, wall: float | None = None) -> float:
        """The emulator's time at a wall-clock time (default: now), what a module's clock.time() reads with
        ZENLAYERCLOUD_EMULATOR_CLOCK set: clock_epoch + (wall - clock_epoch) / time_scale."""
        wall = self.clock() if wall is None else wall
        if not self.clock_scaled():
            return wall
        return self.clock_epoch + (wall - self.clock_epoch) / self.time_scale

    def clock_setting(self) -> str | None:
        """The value of ZENLAYERCLOUD_EMULATOR_CLOCK for this world ("<epoch>:<scale>"), None when not scaled."""
        return "%r:%r" % (self.clock_epoch, self.time_scale) if self.clock_scaled() else None

    def _record(self, kind: str, obj_id: str, old: str, new: str, wall: float) -> None:
        self.events.append({"ts": wall, "kind": kind, "id": obj_id, "from": old, "to": new})

    def _set_status(self, kind: str, obj: dict, new: str, wall: float) -> None:
        field = "instanceStatus" if kind == "instance" else "imageStatus"
        old = obj[field]
        obj[field] = new
        if old != new:
            self._record(kind, obj["instanceId" if kind == "instance" else "imageId"], old, new, wall)

    def _schedule(self, obj: dict, new: str, delay: float, now: float) -> None:
        obj["pending"] = {"to": new, "at": now + delay}

    def _next_due(self, now: float) -> tuple[float, int, str, dict] | None:
        """The earliest due transition or accepted effect; at one instant images settle first, then instances,
        then effects (in the order they were accepted)."""
        due = [(i["pending"]["at"], 1, "instance", i) for i in self.instances.values()
               if i.get("pending") and i["pending"]["at"] <= now]
        due += [(i["pending"]["at"], 0, "image", i) for i in self.images.values()
                if i.get("pending") and i["pending"]["at"] <= now]
        due += [(e["at"], 2, "effect", e) for e in self.accepted if e["at"] <= now]
        return min(due, key=lambda entry: (entry[0], entry[1])) if due else None

    def advance(self) -> bool:
        """Apply, one at a time in time order, every transition and accepted effect that is due (an effect may
        schedule a transition that is due as well); return whether anything changed (and save then)."""
        with self.lock:
            changed = False
            while True:
                due = self._next_due(self.clock())
                if due is None:
                    break
                wall, _rank, kind, obj = due
                changed = True
                if kind == "effect":
                    self._apply_effect(obj)
                    continue
                target = obj["pending"]["to"]
                obj["pending"] = None
                self._set_status(kind, obj, target, wall)
            if changed:
                self.save()
            return changed

    # -- asynchronous acceptance -----------------------------------------------------------------------------------

    def lag(self) -> float:
        """Seconds between accepting a write and its effect, without the jitter (async_lag x time scale)."""
        return self.async_lag * self.time_scale

    def _write_lag(self) -> float:
        """The lag of the write being accepted: async_lag plus a random extra in [0, async_jitter], x time scale.
        The n-th draw depends only on random_seed and n (kept in the state file), so a run can be replayed."""
        extra = 0.0
        if self.async_jitter > 0:
            draw = random.Random("%s:%d" % (self.random_seed, self.jitter_draws))  # nosec: not for security
            extra = draw.uniform(0.0, self.async_jitter)
            self.jitter_draws += 1
        return (self.async_lag + extra) * self.time_scale

    def _accept(self, action: str, plan: dict, now: float) -> None:
        """Apply a validated write now (lag 0) or queue its effect for now + its lag."""
        lag = self._write_lag()
        if lag <= 0:
            getattr(self, "_apply_" + action)(plan, now)
            return
        self.accepted.append({"effectId": "eff-" + secrets.token_hex(6), "action": action, "plan": plan,
                              "accepted_at": now, "at": now + lag})

    def _apply_effect(self, effect: dict) -> None:
        self.accepted.remove(effect)
        dropped = getattr(self, "_apply_" + effect["action"])(effect["plan"], effect["at"])
        self.effect_log.append({"effectId": effect["effectId"], "action": effect["action"],
                                "accepted_at": effect["accepted_at"], "at": effect["at"], "dropped": dropped})

    # -- dispatch --------------------------------------------------------------------------------------------------

    def perform(self, action: str, body: dict, caller: str | None = None) -> dict:
        """Run one API action under the lock; return the response payload or raise ApiError.

        A write is validated against what is visible now and then accepted: applied at once, or after the
        async lag.  caller is the access key id (None for a bearer token), for the tag permission checks."""
        handler = getattr(self, "_act_" + action, None)
        if handler is None or action not in ACTIONS:
            raise ApiError(400, "INVALID_ACTION", "The action '%s' is not supported by this emulator." % action)
        with self.lock:
            self.advance()
            self._check_permission(action, caller)
            now = self.clock()
            if action not in MUTATING_ACTIONS:
                return handler(body, now)
            plan, payload = handler(body, now)
            self._accept(action, plan, now)
            self.save()
            return payload

    def _check_permission(self, action: str, caller: str | None) -> None:
        if caller is None:
            return
        if action in self.denied_actions.get(caller, ()):
            raise ApiError(403, ACTION_DENIED_CODE, "The access key '%s' is not allowed to call %s." % (caller, action))
        if action not in ZRM_ACTIONS:
            return
        if caller in self.zrm_denied_keys or (action in MUTATING_ACTIONS and caller in self.tag_denied_keys):
            raise ApiError(403, "OPERATION_DENIED_TAG_PERMISSION",
                           "The access key '%s' is not allowed to call zrm %s." % (caller, action))

    # -- lookups ---------------------------------------------------------------------------------------------------

    def _instance(self, instance_id: str) -> dict:
        inst = self.instances.get(instance_id)
        if inst is None:
            raise ApiError(404, "INVALID_INSTANCE_NOT_FOUND", "The instance '%s' does not exist." % instance_id)
        return inst

    def _custom_image_for_change(self, image_id: str) -> dict:
        image = self.images.get(image_id)
        if image is None:
            raise ApiError(404, "INVALID_IMAGE_NOT_FOUND", "The image '%s' does not exist." % image_id)
        if image["imageType"] != "CUSTOM_IMAGE":
            raise ApiError(400, "INVALID_IMAGE_STATUS", "The image '%s' is a public image and cannot be changed." % image_id)
        if image["imageStatus"] == "CREATING":
            raise ApiError(400, "INVALID_IMAGE_STATUS", "The image '%s' is still being created (CREATING)." % image_id)
        return image

    def quota_max(self, zone_id: str) -> int:
        """maxCount of custom images in a zone."""
        return int(self.quota_overrides.get(zone_id, self.quota_default))

    def quota_count(self, zone_id: str) -> int:
        """Custom images of a zone, whatever their status (CREATING and UNAVAILABLE count)."""
        return sum(1 for i in self.images.values() if i["imageType"] == "CUSTOM_IMAGE" and i["zoneId"] == zone_id)

    # -- image actions ---------------------------------------------------------------------------------------------

    def _check_can_image(self, inst: dict) -> None:
        zone = self.zones.get(inst["zoneId"])
        if zone is None or not zone["supportImage"]:
            raise ApiError(400, "UNSUPPORTED_OPERATION_ZONE_NOT_SUPPORT",
                           "The zone '%s' does not support custom images." % inst["zoneId"])
        if inst["instanceStatus"] == "IMAGING":
            raise ApiError(400, "UNSUPPORTED_OPERATION_DISK_MAKING_IMAGE",
                           "The system disk of instance '%s' is already being imaged." % inst["instanceId"])
        if inst["instanceStatus"] != "STOPPED":
            raise ApiError(400, "UNSUPPORTED_OPERATION_INSTANCE_STATE_STARTING",
                           "The instance '%s' must be shut down (it is %s)." % (inst["instanceId"], inst["instanceStatus"]))
        if inst.get("systemDiskStatus", "IN_USE") not in HEALTHY_DISK_STATUSES:
            raise ApiError(400, "UNSUPPORTED_OPERATION_DISK_UNAVAILABLE",
                           "The system disk of instance '%s' is %s." % (inst["instanceId"], inst["systemDiskStatus"]))
        if self.quota_count(inst["zoneId"]) >= self.quota_max(inst["zoneId"]):
            raise ApiError(400, "LIMIT_EXCEEDED_IMAGE_QUOTA",
                           "The zone '%s' already holds %d of %d custom images."
                           % (inst["zoneId"], self.quota_count(inst["zoneId"]), self.quota_max(inst["zoneId"])))

    def _act_CreateImage(self, body: dict, _now: float) -> tuple[dict, dict]:  # pylint: disable=invalid-name
        instance_id = param(body, "instanceId", "str", required=True)
        name = param(body, "imageName", "str", required=True)
        description = param(body, "imageDescription", "str")
        check_image_name(name)
        if description is not None:
            check_image_description(description)
        inst = self._instance(instance_id)
        self._check_can_image(inst)
        image_id = "img-" + secrets.token_hex(8)
        plan = {"imageId": image_id, "instanceId": instance_id, "zoneId": inst["zoneId"], "imageName": name,
                "imageDescription": description}
        return plan, {"imageId": image_id}

    def _apply_CreateImage(self, plan: dict, now: float) -> list[str]:  # pylint: disable=invalid-name
        inst = self.instances.get(plan["instanceId"])
        image = normalize_image({
            "imageId": plan["imageId"], "imageName": plan["imageName"], "imageType": "CUSTOM_IMAGE",
            "imageSize": str(inst["systemDiskSize"] if inst else 20), "imageDescription": plan["imageDescription"],
            "imageVersion": "1", "imageStatus": "CREATING", "category": inst.get("category") if inst else None,
            "osType": inst.get("osType") if inst else None, "zoneId": inst["zoneId"] if inst else plan.get("zoneId"),
            "instanceId": plan["instanceId"]}, now)
        if self.image_list_lag > 0:
            image["listedAt"] = now + self.image_list_lag * self.time_scale
        self.images[image["imageId"]] = image
        self._record("image", image["imageId"], None, "CREATING", now)
        delay = self._delay("image_seconds")
        if inst is None or inst["instanceStatus"] not in ("STOPPED", "IMAGING"):
            # accepted earlier, but the instance moved on before the job ran: the image fails, the instance is untouched
            self._schedule(image, "UNAVAILABLE", delay, now)
            status = inst["instanceStatus"] if inst else "gone"
            return ["instance %s is %s: image %s fails" % (plan["instanceId"], status, image["imageId"])]
        outcome = "UNAVAILABLE" if str(inst.get("imageOutcome", "AVAILABLE")).upper() == "UNAVAILABLE" else "AVAILABLE"
        self._set_status("instance", inst, "IMAGING", now)
        self._schedule(image, outcome, delay, now)
        # the instance stays IMAGING imaging_tail after its image is done; a second accepted CreateImage keeps it
        # IMAGING until the last image is done
        ends = max(now + delay + self.imaging_tail * self.time_scale, (inst.get("pending") or {}).get("at", 0.0))
        self._schedule(inst, "STOPPED", ends - now, now)
        return []

    def _act_DescribeImages(self, body: dict, now: float) -> dict:  # pylint: disable=invalid-name
        zone_id = param(body, "zoneId", "str", required=True)
        if zone_id not in self.zones:
            raise ApiError(404, "INVALID_ZONE_NOT_FOUND", "The zone '%s' does not exist." % zone_id)
        image_ids = param(body, "imageIds", "str_list")
        name = param(body, "imageName", "str")
        exact = {key: param(body, key, "str") for key in ("category", "imageType", "osType", "imageStatus")}
        found = []
        for image in self.images.values():
            if image["zoneId"] not in (None, zone_id):
                continue
            if image.get("listedAt") is not None and image["listedAt"] > now:
                continue  # made, but not listed yet (image_list_lag)
            if image_ids is not None and image["imageId"] not in image_ids:
                continue
            if name is not None and name not in (image["imageName"] or ""):
                continue  # deliberately a substring match: clients must compare names exactly
            if any(value is not None and image.get(key) != value for key, value in exact.items()):
                continue
            found.append({key: image.get(key) for key in IMAGE_INFO_FIELDS})
        total, page = paginate(found, body)
        return {"totalCount": total, "dataSet": page}

    def _act_DeleteImages(self, body: dict, _now: float) -> tuple[dict, dict]:  # pylint: disable=invalid-name
        image_ids = id_list(body, "imageIds", required=True)
        for image_id in image_ids:
            self._custom_image_for_change(image_id)
        return {"imageIds": image_ids}, {}

    def _apply_DeleteImages(self, plan: dict, _now: float) -> list[str]:  # pylint: disable=invalid-name
        gone = [image_id for image_id in plan["imageIds"] if self.images.pop(image_id, None) is None]
        return ["image %s was already gone" % image_id for image_id in gone]

    def _act_ModifyImagesAttributes(self, body: dict, _now: float) -> tuple[dict, dict]:  # pylint: disable=invalid-name
        image_ids = id_list(body, "imageIds", required=True)
        name = param(body, "imageName", "str")
        description = param(body, "imageDescription", "str")
        if name is not None:
            check_image_name(name)
        if description is not None:
            check_image_description(description)
        for image_id in image_ids:
            self._custom_image_for_change(image_id)
        return {"imageIds": image_ids, "imageName": name, "imageDescription": description}, {}

    def _apply_ModifyImagesAttributes(self, plan: dict, _now: float) -> list[str]:  # pylint: disable=invalid-name
        dropped = []
        for image_id in plan["imageIds"]:
            image = self.images.get(image_id)
            if image is None:
                dropped.append("image %s is gone" % image_id)
                continue
            if plan["imageName"] is not None:
                image["imageName"] = plan["imageName"]
            if plan["imageDescription"] is not None:
                image["imageDescription"] = plan["imageDescription"]
        return dropped

    def _act_DescribeImageQuota(self, body: dict, _now: float) -> dict:  # pylint: disable=invalid-name
        zone_ids = param(body, "zoneIds", "str_list")
        if zone_ids is None:
            zone_ids = list(self.zones)
        for zone_id in zone_ids:
            if zone_id not in self.zones:
                raise ApiError(404, "INVALID_REGION_NOT_FOUND", "The zone '%s' does not exist." % zone_id)
        return {"images": [{"zoneId": z, "count": self.quota_count(z), "maxCount": self.quota_max(z)}
                           for z in dict.fromkeys(zone_ids)]}

    # -- instance actions ------------------------------------------------------------------------------------------

    def _check_power_change(self, inst: dict, required_status: str) -> None:
        status = inst["instanceStatus"]
        if status in RECYCLED_STATUSES:
            raise ApiError(403, "OPERATION_DENIED_INSTANCE_RECYCLED",
                           "The instance '%s' is in the recycle bin (%s)." % (inst["instanceId"], status))
        if status == "IMAGING":
            raise ApiError(400, "UNSUPPORTED_OPERATION_DISK_MAKING_IMAGE",
                           "The system disk of instance '%s' is being imaged." % inst["instanceId"])
        if status != required_status and required_status == "RUNNING":
            raise ApiError(403, "OPERATION_DENIED_INSTANCE_NOT_RUNNING",
                           "The instance '%s' is not running (it is %s)." % (inst["instanceId"], status))
        if status != required_status:
            raise ApiError(403, "OPERATION_DENIED_INSTANCE_NOT_STOPPED",
                           "The instance '%s' is not stopped (it is %s)." % (inst["instanceId"], status))

    def _power_plan(self, body: dict, required_status: str) -> dict:
        instance_ids = id_list(body, "instanceIds", required=True)
        instances = [self._instance(instance_id) for instance_id in instance_ids]
        for inst in instances:
            self._check_power_change(inst, required_status)
        return {"instanceIds": instance_ids}

    def _power_apply(self, plan: dict, required_status: str, moving: str, now: float) -> tuple[list[dict], list[str]]:
        """Move every instance still in required_status to `moving`; the others are reported, untouched."""
        moved, dropped = [], []
        for instance_id in plan["instanceIds"]:
            inst = self.instances.get(instance_id)
            if inst is None or inst["instanceStatus"] != required_status:
                status = inst["instanceStatus"] if inst else "gone"
                dropped.append("instance %s is %s, not %s" % (instance_id, status, required_status))
                continue
            self._set_status("instance", inst, moving, now)
            moved.append(inst)
        return moved, dropped

    def _act_StopInstances(self, body: dict, _now: float) -> tuple[dict, dict]:  # pylint: disable=invalid-name
        force = param(body, "forceShutdown", "bool")
        return dict(self._power_plan(body, "RUNNING"), forceShutdown=force), {}

    def _apply_StopInstances(self, plan: dict, now: float) -> list[str]:  # pylint: disable=invalid-name
        moved, dropped = self._power_apply(plan, "RUNNING", "STOPPING", now)
        for inst in moved:
            inst["lastForceShutdown"] = True if plan["forceShutdown"] is None else plan["forceShutdown"]
            inst["lastForceShutdownSent"] = plan["forceShutdown"] is not None
            self._schedule(inst, "STOPPED", self._delay("stop_seconds"), now)
        return dropped

    def _act_StartInstances(self, body: dict, _now: float) -> tuple[dict, dict]:  # pylint: disable=invalid-name
        return self._power_plan(body, "STOPPED"), {}

    def _apply_StartInstances(self, plan: dict, now: float) -> list[str]:  # pylint: disable=invalid-name
        moved, dropped = self._power_apply(plan, "STOPPED", "BOOTING", now)
        for inst in moved:
            self._schedule(inst, "RUNNING", self._delay("start_seconds"), now)
        return dropped

    def _act_RebootInstances(self, body: dict, _now: float) -> tuple[dict, dict]:  # pylint: disable=invalid-name
        return self._power_plan(body, "RUNNING"), {}

    def _apply_RebootInstances(self, plan: dict, now: float) -> list[str]:  # pylint: disable=invalid-name
        moved, dropped = self._power_apply(plan, "RUNNING", "REBOOT", now)
        for inst in moved:
            self._schedule(inst, "RUNNING", self._delay("stop_seconds") + self._delay("start_seconds"), now)
        return dropped

    @staticmethod
    def _instance_info(inst: dict) -> dict:
        return {
            "instanceId": inst["instanceId"], "zoneId": inst["zoneId"], "instanceName": inst["instanceName"],
            "instanceType": inst.get("instanceType"), "cpuCount": inst.get("cpuCount"), "memory": inst.get("memory"),
            "imageId": inst.get("imageId"), "imageName": inst.get("imageName"),
            "instanceChargeType": "POSTPAID", "internetChargeType": "ByBandwidth",
            "publicIpAddresses": list(inst.get("publicIpAddresses") or []),
            "publicIpv6Addresses": list(inst.get("publicIpv6Addresses") or []),
            "privateIpAddresses": list(inst.get("privateIpAddresses") or []),
            "createTime": inst.get("createTime"), "instanceStatus": inst["instanceStatus"],
            "resourceGroupId": inst.get("resourceGroupId"), "resourceGroupName": inst.get("resourceGroupName"),
            "tags": {"tags": [dict(tag) for tag in inst.get("tags") or []]},
            "systemDisk": {"diskId": "disk-" + inst["instanceId"], "diskSize": inst.get("systemDiskSize"),
                           "diskCategory": inst.get("systemDiskCategory")},
            "dataDisks": [], "securityGroupIds": [], "autoRenew": False,
        }

    @staticmethod
    def _name_matches(pattern: str | None, name: str) -> bool:
        if pattern is None:
            return True
        if pattern.endswith("*"):
            return name.startswith(pattern[:-1])
        return name == pattern

    def _act_DescribeInstances(self, body: dict, _now: float) -> dict:  # pylint: disable=invalid-name
        instance_filter = instance_filter_of(body)
        found = [self._instance_info(inst) for inst in self.instances.values() if instance_filter(inst)]
        total, page = paginate(found, body)
        return {"totalCount": total, "dataSet": page}

    def _act_DescribeInstancesStatus(self, body: dict, _now: float) -> dict:  # pylint: disable=invalid-name
        instance_ids = id_list(body, "instanceIds")
        found = [{"instanceId": i["instanceId"], "instanceStatus": i["instanceStatus"]} for i in self.instances.values()
                 if instance_ids is None or i["instanceId"] in instance_ids]
        total, page = paginate(found, body)
        return {"totalCount": total, "dataSet": page}

    def _act_DescribeZones(self, body: dict, _now: float) -> dict:  # pylint: disable=invalid-name
        zone_ids = param(body, "zoneIds", "str_list")
        zones = [z for z in self.zones.values() if zone_ids is None or z["zoneId"] in zone_ids]
        return {"zoneSet": [{"zoneId": z["zoneId"], "zoneName": z["zoneName"], "supportSecurityGroup": True,
                             "supportNetworkType": ["Standard"], "supportIpv6": False} for z in zones]}

    # -- disks -----------------------------------------------------------------------------------------------------

    @staticmethod
    def _system_disk_info(inst: dict) -> dict:
        return {
            "diskId": "disk-" + inst["instanceId"], "diskName": inst.get("systemDiskName") or inst["instanceName"] + "-system",
            "zoneId": inst["zoneId"], "diskType": "SYSTEM", "portable": False,
            "diskCategory": inst.get("systemDiskCategory"), "diskSize": inst.get("systemDiskSize"),
            "diskStatus": inst.get("systemDiskStatus", "IN_USE"), "instanceId": inst["instanceId"],
            "instanceName": inst["instanceName"], "chargeType": "POSTPAID", "createTime": inst.get("createTime"),
            "expiredTime": None, "period": None, "autoRenew": False, "tags": {"tags": []},
        }

    def _act_DescribeDisks(self, body: dict, _now: float) -> dict:  # pylint: disable=invalid-name
        disk_ids = id_list(body, "diskIds")
        exact = {key: param(body, key, "str") for key in ("diskStatus", "diskType", "instanceId", "zoneId", "diskCategory")}
        if exact["diskType"] is not None and exact["diskType"] not in DISK_TYPES:
            raise ApiError(400, "INVALID_PARAMETER_DISK_TYPE", "diskType must be SYSTEM or DATA, got %r." % exact["diskType"])
        name = param(body, "diskName", "str")
        tags, tag_keys = tag_list(body, "tags"), tag_key_list(body, "tagKeys")
        found = []
        for disk in (self._system_disk_info(inst) for inst in self.instances.values()):
            if disk_ids is not None and disk["diskId"] not in disk_ids:
                continue
            if any(value is not None and disk[key] != value for key, value in exact.items()):
                continue
            if name is not None and name not in disk["diskName"]:
                continue  # a substring match, like imageName: clients must compare exactly
            if tags_match(disk["tags"]["tags"], tags, tag_keys):
                found.append(disk)
        total, page = paginate(found, body)
        return {"totalCount": total, "dataSet": page}

    # -- zrm: resource tags ----------------------------------------------------------------------------------------

    def _tagged_instance(self, resource_uuid: str) -> dict:
        inst = self.instances.get(resource_uuid)
        if inst is None:
            raise ApiError(404, "INVALID_RESOURCE_NOT_FOUND", "The resource '%s' does not exist." % resource_uuid)
        return inst

    def _act_ModifyResourceTags(self, body: dict, _now: float) -> tuple[dict, dict]:  # pylint: disable=invalid-name
        resource_uuid = param(body, "resourceUuid", "str", required=True)
        replace = tag_list(body, "replaceTags") or []
        delete = tag_key_list(body, "deleteTagKeys") or []
        if not replace and not delete:
            raise ApiError(400, "MISSING_PARAMETER", "Give replaceTags and/or deleteTagKeys.")
        both = sorted({tag["key"] for tag in replace} & set(delete))
        if both:
            raise ApiError(400, "INVALID_PARAMETER_TAG_KEY", "The keys %s are both replaced and deleted." % ", ".join(both))
        inst = self._tagged_instance(resource_uuid)
        kept = {tag["key"] for tag in inst.get("tags") or []} - set(delete)
        if len(kept | {tag["key"] for tag in replace}) > MAX_TAGS:
            raise ApiError(400, "LIMIT_EXCEEDED_TAG", "A resource holds at most %d tags." % MAX_TAGS)
        return {"resourceUuid": resource_uuid, "replaceTags": replace, "deleteTagKeys": delete}, {}

    def _apply_ModifyResourceTags(self, plan: dict, now: float) -> list[str]:  # pylint: disable=invalid-name
        inst = self.instances.get(plan["resourceUuid"])
        if inst is None:
            return ["resource %s is gone" % plan["resourceUuid"]]
        dates = inst.setdefault("tagDates", {})
        tags = {tag["key"]: tag["value"] for tag in inst.get("tags") or [] if tag["key"] not in plan["deleteTagKeys"]}
        for key in plan["deleteTagKeys"]:
            dates.pop(key, None)
        for tag in plan["replaceTags"]:
            if tag["key"] not in tags:
                dates[tag["key"]] = iso_time(now)
            tags[tag["key"]] = tag["value"]
        inst["tags"] = [{"key": key, "value": value} for key, value in tags.items()]
        return []

    def _act_DescribeResourceTags(self, body: dict, _now: float) -> dict:  # pylint: disable=invalid-name
        inst = self._tagged_instance(param(body, "resourceUuid", "str", required=True))
        dates = inst.get("tagDates") or {}
        found = [{"key": tag["key"], "value": tag.get("value"), "createdDate": dates.get(tag["key"], inst.get("createTime"))}
                 for tag in inst.get("tags") or []]
        return {"totalCount": len(found), "dataSet": found}

    def _act_DescribeResourceByTags(self, body: dict, _now: float) -> dict:  # pylint: disable=invalid-name
        tags, tag_keys = tag_list(body, "tags"), tag_key_list(body, "tagKeys")
        if not tags and not tag_keys:
            raise ApiError(400, "MISSING_PARAMETER", "Give tags and/or tagKeys.")
        found = [{"resourceType": INSTANCE_RESOURCE_TYPE, "resourceUuid": inst["instanceId"]}
                 for inst in self.instances.values() if tags_match(inst.get("tags") or [], tags, tag_keys)]
        return {"totalCount": len(found), "dataSet": found}

    # -- admin -----------------------------------------------------------------------------------------------------

    def snapshot(self) -> dict:
        """Internal view for /_emulator/state (no secrets)."""
        with self.lock:
            self.advance()
            quota = {z: {"count": self.quota_count(z), "maxCount": self.quota_max(z)} for z in self.zones}
            return copy.deepcopy({
                "instances": list(self.instances.values()), "images": list(self.images.values()),
                "zones": list(self.zones.values()),
                "quota": {"default": self.quota_default, "overrides": self.quota_overrides, "zones": quota},
                "timings": self.timings, "time_scale": self.time_scale, "async_lag": self.async_lag,
                "async_jitter": self.async_jitter, "image_list_lag": self.image_list_lag,
                "imaging_tail": self.imaging_tail, "random_seed": self.random_seed, "jitter_draws": self.jitter_draws,
                "clock": {"epoch": self.clock_epoch, "time_scale": self.time_scale, "now": self.emulator_time(),
                          "env": self.clock_setting()},
                "accepted": self.accepted, "effects": self.effect_log,
                "tag_denied_keys": self.tag_denied_keys, "zrm_denied_keys": self.zrm_denied_keys,
                "denied_actions": self.denied_actions,
            })

    def event_list(self) -> list[dict]:
        """Status-change events, oldest first."""
        with self.lock:
            self.advance()
            return copy.deepcopy(self.events)

    def patch(self, spec: dict) -> None:
        """Apply a /_emulator/patch document; raise PatchError when it is malformed."""
        with self.lock:
            self.advance()
            now = self.clock()
            for instance_id, fields in (spec.get("instances") or {}).items():
                self._patch_record("instance", instance_id, fields, now)
            for image_id, fields in (spec.get("images") or {}).items():
                self._patch_record("image", image_id, fields, now)
            for instance_id in spec.get("delete_instances") or []:
                self.instances.pop(instance_id, None)
            for image_id in spec.get("delete_images") or []:
                self.images.pop(image_id, None)
            if "timings" in spec:
                self.timings.update({k: float(v) for k, v in (spec["timings"] or {}).items()})
            if "image_quota" in spec:
                self.quota_default, overrides = parse_quota(spec["image_quota"], self.quota_default)
                self.quota_overrides.update(overrides)
            if "zones" in spec:
                for zone_id, fields in (spec["zones"] or {}).items():
                    self.zones.setdefault(zone_id, {"zoneId": zone_id, "zoneName": zone_id, "supportImage": True})
                    self.zones[zone_id].update(fields)
            self.apply_settings(spec)
            self.save()

    def apply_settings(self, spec: dict) -> None:
        """The settings of a patch (or of the command line): harsh (true: every timing knob at its HARSH value,
        unless the same spec gives it), the timing knobs, random_seed, the denied keys."""
        if "harsh" in spec and not isinstance(spec["harsh"], bool):
            raise PatchError("harsh must be true or false, not %r" % (spec["harsh"],))
        knobs = dict(HARSH) if spec.get("harsh") else {}
        knobs.update({name: spec[name] for name in TIMING_KNOBS if name in spec})
        checked = {name: check_lag(value, name) for name, value in knobs.items()}
        random_seed = check_random_seed(spec["random_seed"]) if "random_seed" in spec else None
        for name, value in checked.items():
            setattr(self, name, value)
        if random_seed is not None and random_seed != self.random_seed:
            self.random_seed, self.jitter_draws = random_seed, 0
        for name in ("tag_denied_keys", "zrm_denied_keys"):
            if name in spec:
                setattr(self, name, check_key_list(name, spec[name]))
        if "denied_actions" in spec:
            self.denied_actions = check_denied_actions(spec["denied_actions"])

    def _patch_record(self, kind: str, obj_id: str, fields: dict, now: float) -> None:
        if not isinstance(fields, dict):
            raise PatchError("%s '%s': fields must be an object" % (kind, obj_id))
        check_pending(kind, obj_id, fields.get("pending"))
        table, id_key = (self.instances, "instanceId") if kind == "instance" else (self.images, "imageId")
        status_key = "instanceStatus" if kind == "instance" else "imageStatus"
        record = table.get(obj_id)
        if record is None:
            if kind == "instance" and "zoneId" not in fields:
                raise PatchError("unknown instance '%s' (give zoneId to create one)" % obj_id)
            table[obj_id] = (normalize_instance if kind == "instance" else normalize_image)(dict(fields, **{id_key: obj_id}), now)
            self._record(kind, obj_id, None, table[obj_id][status_key], now)
            return
        new_status = fields.get(status_key)
        record.update({k: v for k, v in fields.items() if k not in (status_key, id_key)})
        if new_status is not None and new_status != record[status_key]:
            if "pending" not in fields:
                record["pending"] = None
            self._set_status(kind, record, new_status, now)


def check_lag(value: Any, name: str = "async_lag") -> float:
    """A timing knob (async_lag, async_jitter, image_list_lag, imaging_tail): a finite number of seconds >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        raise PatchError("%s must be a number of seconds >= 0, not %r" % (name, value))
    return float(value)


def check_random_seed(value: Any) -> int:
    """random_seed: an integer (the jitter's draws depend only on it and their number)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise PatchError("random_seed must be an integer, not %r" % (value,))
    return value


def check_epoch(value: Any) -> float:
    """clock_epoch: unix seconds, a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise PatchError("clock_epoch must be unix seconds (a number > 0), not %r" % (value,))
    return float(value)


def check_key_list(name: str, value: Any) -> list[str]:
    """tag_denied_keys / zrm_denied_keys: a list of access key ids."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise PatchError("%s must be a list of access key ids" % name)
    return list(value)


def check_denied_actions(value: Any) -> dict[str, list[str]]:
    """denied_actions: {access key id: [action, ...]}, the actions (of either service) that key is refused."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        raise PatchError("denied_actions must be an object of access key id: [action names]")
    for key, actions in value.items():
        if not isinstance(actions, list) or any(action not in ACTIONS for action in actions):
            raise PatchError("denied_actions of %s must be a list of action names (%s), not %r"
                             % (key, ", ".join(ACTIONS), actions))
    return {key: list(actions) for key, actions in value.items()}


def check_pending(kind: str, obj_id: str, pending: Any) -> None:
    """A patched transition must be {"to": STATUS, "at": wall-clock seconds}: anything else would break later reads."""
    if pending is None:
        return
    if (not isinstance(pending, dict) or not isinstance(pending.get("to"), str)
            or isinstance(pending.get("at"), bool) or not isinstance(pending.get("at"), (int, float))):
        raise PatchError("%s '%s': pending must be {\"to\": STATUS, \"at\": unix seconds as a number}, not %r"
                         % (kind, obj_id, pending))


VM_ACTIONS = ("CreateImage", "DescribeImages", "DeleteImages", "ModifyImagesAttributes", "DescribeImageQuota",
              "StopInstances", "StartInstances", "RebootInstances", "DescribeInstances", "DescribeInstancesStatus",
              "DescribeZones", "DescribeDisks")
ZRM_ACTIONS = ("ModifyResourceTags", "DescribeResourceTags", "DescribeResourceByTags")
ACTIONS = VM_ACTIONS + ZRM_ACTIONS
# The emulator's own code for an action an access key may not call (`denied_actions`); Zenlayer documents none.
ACTION_DENIED_CODE = "OPERATION_DENIED_ACTION_PERMISSION"
# writes: validated at once, applied at once or after the async lag (each has a _apply_<action>)
MUTATING_ACTIONS = ("CreateImage", "DeleteImages", "ModifyImagesAttributes", "StopInstances", "StartInstances",
                    "RebootInstances", "ModifyResourceTags")
