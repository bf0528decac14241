"""Small helpers shared by the emulator tests."""
from __future__ import annotations

STOPPED_HKG = "ins-hkg-db-0001"
RUNNING_HKG = "ins-hkg-web-0001"
RUNNING_SIN = "ins-sin-app-0001"
# Transitions of 3 s at the tests' time scale (0.05): a status between two calls is seen even on a loaded machine,
# where the seed's 0.1 s (stop, start) and 0.15 s (image) can be over before the second call is answered.
SEEN = {"stop_seconds": 60, "start_seconds": 60, "image_seconds": 60}


def ok(emu, action: str, body: dict | None = None) -> dict:
    """Call an action that must succeed; return the response payload."""
    answer = emu.call(action, body or {})
    assert answer.status == 200, answer
    assert answer.body["requestId"] == answer.body["response"]["requestId"]
    return answer.body["response"]


def error(emu, action: str, body: dict) -> tuple[int, str]:
    """Call an action that must fail; return (HTTP status, code)."""
    answer = emu.call(action, body)
    assert set(answer.body) == {"requestId", "code", "message"}, answer
    return answer.status, answer.body["code"]


def status_of(emu, instance_id: str) -> str:
    """instanceStatus through DescribeInstancesStatus."""
    return ok(emu, "DescribeInstancesStatus", {"instanceIds": [instance_id]})["dataSet"][0]["instanceStatus"]


def image_status(emu, image_id: str, zone: str = "HKG-A") -> str:
    """imageStatus through DescribeImages."""
    return ok(emu, "DescribeImages", {"zoneId": zone, "imageIds": [image_id]})["dataSet"][0]["imageStatus"]


def make_image(emu, name: str = "golden", instance_id: str = STOPPED_HKG, wait: bool = True, zone: str = "HKG-A") -> str:
    """CreateImage and (by default) wait until the image and its instance settle."""
    image_id = ok(emu, "CreateImage", {"instanceId": instance_id, "imageName": name})["imageId"]
    if wait:
        emu.wait_for(lambda: image_status(emu, image_id, zone) != "CREATING", timeout=5)
        emu.wait_for(lambda: status_of(emu, instance_id) == "STOPPED", timeout=5)
    return image_id


def running(pid: int) -> bool:
    """Whether process `pid` runs (a zombie does not)."""
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False
