# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Section 2, simulated: detection latency and status calls of image waits on a virtual clock.

Run as a child process per collection under test (`python latency_sim.py COLLECTIONS_ROOT SPEC_JSON`), so each
collection's own code is what runs: the emulator's World (tests/emulator/world.py) driven by a virtual clock holds the
image, a ZenlayerClient whose transport is World.perform reads it, and
- "zenlayer.cloud" is the module's own ZenlayerImage._wait_while_creating (its schedule, its poll_until),
- "fixed 15 s" (what amazon.aws ec2_ami's waiter does) and "fixed 10 s" (Zenlayer's Terraform provider) are the same
  poll_until with a fixed PollSchedule and a first look at once,
all on exactly the same timeline: CreateImage at t=0, the image AVAILABLE at t=T (the emulator's image_seconds).
Prints one JSON document.
"""

from __future__ import annotations

import functools
import json
import math
import os
import sys
from typing import Any, Callable

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "emulator"))

from world import World  # noqa: E402  pylint: disable=wrong-import-position,import-error

ZONE = "HKG-A"
INSTANCE = "sim-instance"
KEY_ID, PASSWORD = "AKIDEMULATOR00000001", "emulator-secret-0123456789"


class VirtualClock:
    """Time that moves only when slept; also the modules' Clock (plugins/module_utils/_wait.py) since 0.2.0."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


def _has_wait_module() -> bool:
    """Whether the collection measured keeps its waits in module_utils/_wait.py (0.2.0 on), or in _base.py (0.1.0)."""
    # pylint: disable=import-error,unused-import,import-outside-toplevel
    try:
        from ansible_collections.zenlayer.cloud.plugins.module_utils import _wait  # noqa: F401
    except ImportError:
        return False
    return True


class _StubModule:
    params: dict = {}

    def fail_json(self, **kwargs: Any) -> None:
        raise RuntimeError(kwargs.get("msg"))

    def warn(self, _message: str) -> None:
        pass


def _world(image_seconds: float, clock: VirtualClock) -> World:
    return World({"access_keys": {KEY_ID: PASSWORD}, "zones": [{"zoneId": ZONE, "supportImage": True}],
                  "instances": [{"instanceId": INSTANCE, "zoneId": ZONE, "instanceName": INSTANCE,
                                 "instanceStatus": "STOPPED"}],
                  "image_quota": 10, "timings": {"stop_seconds": 1, "start_seconds": 1, "image_seconds": image_seconds}},
                 time_scale=1.0, clock=clock.time)


def _client_class() -> type:
    from ansible_collections.zenlayer.cloud.plugins.module_utils._api import ZenlayerClient  # pylint: disable=import-error

    class WorldClient(ZenlayerClient):
        """The collection's client with World.perform as its transport (no HTTP, no real time)."""

        def __init__(self, world: World, clock: VirtualClock) -> None:
            super().__init__(domain="127.0.0.1:9", scheme="http", access_key_id=KEY_ID, access_key_password=PASSWORD,
                             retries=0, sleep=clock.sleep, clock=clock.time)
            self.world = world

        def _send(self, action: str, body: bytes) -> dict[str, Any]:
            self.calls_sent += 1
            return self.world.perform(action, json.loads(body.decode("utf-8")))

    return WorldClient


def _module_waiter(client: Any, clock: VirtualClock) -> Callable[[str], None]:
    from ansible_collections.zenlayer.cloud.plugins.modules import zenlayer_image as module  # pylint: disable=import-error

    if _has_wait_module():
        image = object.__new__(module.ZenlayerImage)
        image.module, image.params, image.clock = _StubModule(), {"wait_timeout": 3600, "name": "sim"}, clock
        image._client, image.name, image.zone_id = client, "sim", ZONE  # pylint: disable=protected-access
        image.created_from, image._instance, image.changed, image.check_mode = None, None, False, False  # pylint: disable=protected-access
        return lambda image_id: image._wait_while_creating(  # pylint: disable=protected-access
            {"imageId": image_id, "imageName": "sim", "imageStatus": "CREATING"})
    image = object.__new__(module.ZenlayerImage)
    image.client, image.module, image.name, image._doing = client, _StubModule(), "sim", ""  # pylint: disable=protected-access
    image.params = {"wait_timeout": 3600, "name": "sim"}

    def wait(image_id: str) -> None:
        real = module.poll_until
        module.poll_until = functools.partial(real, sleep=clock.sleep, clock=clock.time)
        try:
            image._wait_while_creating(image_id, ZONE)  # pylint: disable=protected-access
        finally:
            module.poll_until = real
    return wait


def _fixed_waiter(interval: float) -> Callable[[Any, VirtualClock], Callable[[str], None]]:
    from ansible_collections.zenlayer.cloud.plugins.module_utils._image import get_image  # pylint: disable=import-error

    def factory(client: Any, clock: VirtualClock) -> Callable[[str], None]:
        def wait(image_id: str) -> None:
            def fetch() -> dict:
                return get_image(client, ZONE, image_id)

            def done(image: dict) -> bool:
                return image["imageStatus"] != "CREATING"
            # pylint: disable=import-error,import-outside-toplevel
            if _has_wait_module():
                from ansible_collections.zenlayer.cloud.plugins.module_utils._wait import PollSchedule, poll_until
                poll_until(fetch, done, 3600, schedule=PollSchedule(interval, 1.0, interval), clock=clock)
            else:
                from ansible_collections.zenlayer.cloud.plugins.module_utils._base import PollSchedule, poll_until  # type: ignore[no-redef]
                poll_until(fetch, done, 3600, schedule=PollSchedule(interval, 1.0, interval), sleep=clock.sleep, clock=clock.time)
        return wait
    return factory


def simulate(waiter_factory: Callable, image_seconds: float) -> tuple[float, int]:
    """(seconds from AVAILABLE to the wait's return, status calls) for one image of image_seconds."""
    clock = VirtualClock()
    world = _world(image_seconds, clock)
    client = _client_class()(world, clock)
    image_id = client.call("CreateImage", {"instanceId": INSTANCE, "imageName": "sim"})["imageId"]
    client.calls_sent = 0
    waiter_factory(client, clock)(image_id)
    available = next(e["ts"] for e in world.events if e["id"] == image_id and e["to"] == "AVAILABLE")
    return clock.now - available, client.calls_sent


def _summary(points: list[tuple[float, int]]) -> dict[str, float]:
    latencies = sorted(p[0] for p in points)
    return {"latency_mean": round(sum(latencies) / len(latencies), 3),
            "latency_p95": round(latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))], 3),
            "latency_max": round(latencies[-1], 3),
            "calls_mean": round(sum(p[1] for p in points) / len(points), 3), "samples": len(points)}


def main() -> None:
    sys.path.insert(0, sys.argv[1])
    spec = json.loads(sys.argv[2])
    pollers = {"zenlayer.cloud": _module_waiter, "fixed 15 s (ec2_ami)": _fixed_waiter(15.0),
               "fixed 10 s (Terraform)": _fixed_waiter(10.0)}
    low, high, count = spec["range"]
    grid = [low * math.exp(math.log(high / low) * i / (count - 1)) for i in range(count)]
    width = spec["window"]
    result: dict[str, Any] = {"grid": {"low": low, "high": high, "points": count, "spacing": "log"},
                              "window": width, "pollers": {}}
    for name, factory in pollers.items():
        entry: dict[str, Any] = {"overall": _summary([simulate(factory, t) for t in grid]), "buckets": {}}
        for center in spec["buckets"]:
            times = [center * (1 - width + 2 * width * i / (spec["bucket_points"] - 1)) for i in range(spec["bucket_points"])]
            entry["buckets"][str(center)] = _summary([simulate(factory, t) for t in times])
        entry["exact"] = {str(t): dict(zip(("latency", "calls"), simulate(factory, t))) for t in spec.get("exact", [])}
        result["pollers"][name] = entry
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
