"""The timing knobs of the harsh reading: per-write jitter (effects out of order), an image listed after its instance
shows IMAGING, an instance still IMAGING after its image is AVAILABLE, their patch API, state file and --harsh."""
from __future__ import annotations

import json

import pytest

from emu_helpers import RUNNING_HKG, SEEN, STOPPED_HKG, error, image_status, ok, status_of
from harness import EmulatorError, load_seed
import server
import world

STOPPED_FRA_FAILING = "ins-fra-broken-0001"  # STOPPED, its images turn UNAVAILABLE
TAG = "order"


def _tag_writes(emu, values: list[str]) -> None:
    for value in values:
        answer = emu.call("ModifyResourceTags", {"resourceUuid": RUNNING_HKG, "replaceTags": [{"key": TAG, "value": value}]},
                          service="zrm")
        assert answer.status == 200, answer


def _listed(emu, image_id: str, zone: str = "HKG-A") -> bool:
    return bool(ok(emu, "DescribeImages", {"zoneId": zone, "imageIds": [image_id]})["dataSet"])


def _event_ts(emu, obj_id: str, to: str) -> float:
    return next(e["ts"] for e in emu.events() if e["id"] == obj_id and e["to"] == to)


def _effects_as_sent(emu, action: str | None = None) -> list[dict]:
    """The writes' effects once all took effect, in the order the writes were sent (the accepted ones are read from
    the log, not from the queue: on a loaded machine an effect due a moment later may already have left the queue)."""
    emu.settle()
    return sorted((e for e in emu.state()["effects"] if action in (None, e["action"])), key=lambda e: e["accepted_at"])


# -- jitter ------------------------------------------------------------------------------------------------------------

@pytest.mark.long
def test_with_jitter_two_writes_can_take_effect_in_the_other_order(make_emu) -> None:
    # each write 10 s (x 0.05) plus 0 to 5 s late: none takes effect before all are sent, and the jitter outweighs the
    # time between two sends, however loaded the machine
    emu = make_emu(async_lag=200, async_jitter=100, random_seed=7)
    values = [str(n) for n in range(8)]
    _tag_writes(emu, values)
    accepted = emu.accepted()
    assert [a["plan"]["replaceTags"][0]["value"] for a in accepted] == values
    lags = [a["at"] - a["accepted_at"] - 10.0 for a in accepted]
    assert all(-1e-9 <= lag <= 5.0 + 1e-9 for lag in lags) and len(set(lags)) == len(lags)
    emu.settle(60)
    applied = [e["effectId"] for e in emu.state()["effects"]]
    assert applied != [a["effectId"] for a in accepted], "the effects applied in the order they were accepted"
    last = max(accepted, key=lambda a: a["at"])
    assert emu.tags(RUNNING_HKG)[TAG] == last["plan"]["replaceTags"][0]["value"] != values[-1]


def test_with_jitter_a_later_rename_can_be_overwritten_by_an_earlier_one(make_emu) -> None:
    emu = make_emu(async_jitter=100, random_seed=7)  # 0 to 5 s late: more than the time between two sends
    image_id = ok(emu, "CreateImage", {"instanceId": STOPPED_HKG, "imageName": "first"})["imageId"]
    emu.settle()
    renames = ["second", "third", "fourth", "fifth"]
    for name in renames:
        ok(emu, "ModifyImagesAttributes", {"imageIds": [image_id], "imageName": name})
    effects = _effects_as_sent(emu, "ModifyImagesAttributes")
    last = renames[effects.index(max(effects, key=lambda e: e["at"]))]
    shown = ok(emu, "DescribeImages", {"zoneId": "HKG-A", "imageIds": [image_id]})["dataSet"][0]["imageName"]
    assert shown == last != renames[-1]


def test_the_same_random_seed_gives_the_same_lags_and_another_seed_others(make_emu) -> None:
    def lags(random_seed: int) -> list[float]:
        emu = make_emu(async_lag=2, async_jitter=20, random_seed=random_seed)
        _tag_writes(emu, ["a", "b", "c", "d"])
        return [round(e["at"] - e["accepted_at"], 9) for e in _effects_as_sent(emu)]

    first, again, other = lags(3), lags(3), lags(4)
    assert first == again
    assert first != other
    assert all(0.1 <= lag <= 1.1 for lag in first + other)  # (2 + [0, 20]) x 0.05


def test_jitter_without_a_lag_still_makes_writes_asynchronous(make_emu) -> None:
    emu = make_emu(async_jitter=40)
    ok(emu, "StopInstances", {"instanceIds": [RUNNING_HKG]})
    assert [e["action"] for e in _effects_as_sent(emu)] == ["StopInstances"], "queued, not applied with the answer"
    assert status_of(emu, RUNNING_HKG) == "STOPPED"


def test_the_jitter_draws_go_on_after_a_restart(make_emu, tmp_path) -> None:
    emu = make_emu(async_jitter=20, random_seed=5, state_file=str(tmp_path / "world.json"))
    _tag_writes(emu, ["a", "b"])
    before = [e["at"] - e["accepted_at"] for e in _effects_as_sent(emu)]
    emu.restart()
    assert emu.state()["jitter_draws"] == 2
    _tag_writes(emu, ["c"])
    after = _effects_as_sent(emu)[-1]
    replay = make_emu(async_jitter=20, random_seed=5)
    _tag_writes(replay, ["a", "b", "c"])
    assert [round(e["at"] - e["accepted_at"], 9) for e in _effects_as_sent(replay)] == \
        [round(x, 9) for x in before + [after["at"] - after["accepted_at"]]]


# -- the image listed later than the IMAGING status ----------------------------------------------------------------

def test_a_new_image_is_listed_image_list_lag_after_the_instance_shows_imaging(make_emu) -> None:
    emu = make_emu(image_list_lag=100)  # 5 s, image_seconds 3 x 0.05 = 0.15 s
    image_id = ok(emu, "CreateImage", {"instanceId": STOPPED_HKG, "imageName": "late-listed"})["imageId"]
    assert not _listed(emu, image_id)
    assert ok(emu, "DescribeImages", {"zoneId": "HKG-A", "imageName": "late-listed"})["dataSet"] == []
    quota = ok(emu, "DescribeImageQuota", {"zoneIds": ["HKG-A"]})["images"][0]
    assert quota["count"] == emu.state()["quota"]["zones"]["HKG-A"]["count"], "an unlisted image counts"
    made = next(i for i in emu.state()["images"] if i["imageId"] == image_id)
    created = _event_ts(emu, image_id, "CREATING")
    assert _event_ts(emu, STOPPED_HKG, "IMAGING") == created, "the instance shows IMAGING from the start"
    assert made["listedAt"] == pytest.approx(created + 5.0)
    emu.wait_for(lambda: _listed(emu, image_id), timeout=20)
    assert image_status(emu, image_id) == "AVAILABLE"


def test_with_a_lag_the_listing_lag_counts_from_the_effect(make_emu) -> None:
    emu = make_emu(async_lag=10, image_list_lag=10)  # 0.5 s + 0.5 s
    image_id = ok(emu, "CreateImage", {"instanceId": STOPPED_HKG, "imageName": "both-lags"})["imageId"]
    accepted = _effects_as_sent(emu)[0]
    made = next(i for i in emu.state()["images"] if i["imageId"] == image_id)
    assert made["listedAt"] == pytest.approx(accepted["at"] + 0.5)
    emu.wait_for(lambda: _listed(emu, image_id), timeout=10)


def test_no_listing_lag_by_default(emu) -> None:
    image_id = ok(emu, "CreateImage", {"instanceId": STOPPED_HKG, "imageName": "listed-at-once"})["imageId"]
    assert _listed(emu, image_id)


# -- AVAILABLE while the instance is still IMAGING ------------------------------------------------------------------

def test_the_instance_stays_imaging_imaging_tail_after_its_image_is_available(make_emu) -> None:
    emu = make_emu(imaging_tail=60)  # 3 s after the image (0.15 s): seen, even on a loaded machine
    image_id = ok(emu, "CreateImage", {"instanceId": STOPPED_HKG, "imageName": "tail"})["imageId"]
    emu.wait_for(lambda: image_status(emu, image_id) == "AVAILABLE", timeout=10)
    assert status_of(emu, STOPPED_HKG) == "IMAGING"
    emu.wait_for(lambda: status_of(emu, STOPPED_HKG) == "STOPPED", timeout=15)
    tail = _event_ts(emu, STOPPED_HKG, "STOPPED") - _event_ts(emu, image_id, "AVAILABLE")
    assert tail == pytest.approx(3.0)


def test_the_tail_follows_a_failed_image_too(make_emu) -> None:
    emu = make_emu(imaging_tail=20)
    image_id = ok(emu, "CreateImage", {"instanceId": STOPPED_FRA_FAILING, "imageName": "tail-bad"})["imageId"]
    emu.settle()
    assert image_status(emu, image_id, "FRA-A") == "UNAVAILABLE"
    tail = _event_ts(emu, STOPPED_FRA_FAILING, "STOPPED") - _event_ts(emu, image_id, "UNAVAILABLE")
    assert tail == pytest.approx(1.0)


def test_no_tail_by_default(emu) -> None:
    image_id = ok(emu, "CreateImage", {"instanceId": STOPPED_HKG, "imageName": "no-tail"})["imageId"]
    emu.settle()
    assert _event_ts(emu, STOPPED_HKG, "STOPPED") == _event_ts(emu, image_id, "AVAILABLE")


# -- an instance recycled, released or removed while its image is made ---------------------------------------------

@pytest.mark.parametrize("status", ["RECYCLING", "RECYCLE", "RELEASING"])
def test_an_instance_can_be_recycled_or_released_while_its_image_is_made(make_emu, status) -> None:
    emu = make_emu(imaging_tail=20)
    emu.patch(timings=SEEN)  # the patch below lands while the image is CREATING (3 s), however slow it is to send
    image_id = ok(emu, "CreateImage", {"instanceId": STOPPED_HKG, "imageName": "orphan"})["imageId"]
    emu.patch(instances={STOPPED_HKG: {"instanceStatus": status}}, images={image_id: {"pending": None}})
    assert status_of(emu, STOPPED_HKG) == status
    assert image_status(emu, image_id) == "CREATING"
    emu.settle()  # nothing is pending any more: the instance is not put back to STOPPED by the imaging
    assert status_of(emu, STOPPED_HKG) == status and image_status(emu, image_id) == "CREATING"
    assert [(e["from"], e["to"]) for e in emu.events() if e["id"] == STOPPED_HKG] == [("STOPPED", "IMAGING"),
                                                                                      ("IMAGING", status)]


def test_an_instance_can_vanish_while_its_image_is_made(emu) -> None:
    image_id = ok(emu, "CreateImage", {"instanceId": STOPPED_HKG, "imageName": "gone"})["imageId"]
    emu.patch(delete_instances=[STOPPED_HKG])
    assert ok(emu, "DescribeInstancesStatus", {"instanceIds": [STOPPED_HKG]})["dataSet"] == []
    assert ok(emu, "DescribeInstances", {"instanceIds": [STOPPED_HKG]})["dataSet"] == []
    emu.settle()
    assert image_status(emu, image_id) == "AVAILABLE"


# -- settings: patch, seed, command line, state file ---------------------------------------------------------------

def test_the_knobs_from_a_patch(emu) -> None:
    emu.patch(async_jitter=1.5, image_list_lag=2, imaging_tail=0.5, random_seed=9)
    state = emu.state()
    assert (state["async_lag"], state["async_jitter"], state["image_list_lag"], state["imaging_tail"],
            state["random_seed"]) == (0, 1.5, 2, 0.5, 9)
    emu.patch(harsh=True, imaging_tail=7)
    state = emu.state()
    assert {name: state[name] for name in world.TIMING_KNOBS} == dict(world.HARSH, imaging_tail=7)


@pytest.mark.parametrize("spec, name", [({"async_jitter": -1}, "async_jitter"), ({"image_list_lag": "3"}, "image_list_lag"),
                                        ({"imaging_tail": True}, "imaging_tail"), ({"async_lag": float("inf")}, "async_lag"),
                                        ({"harsh": "yes"}, "harsh"), ({"random_seed": 1.5}, "random_seed")])
def test_a_bad_knob_is_refused(emu, spec, name) -> None:
    with pytest.raises(EmulatorError, match=name):
        emu.patch(**spec)
    assert emu.state()["async_jitter"] == 0


def test_the_knobs_from_the_seed(make_emu) -> None:
    seed = dict(load_seed("default"), async_jitter=1, image_list_lag=2, imaging_tail=3, random_seed=11)
    state = make_emu(seed).state()
    assert (state["async_jitter"], state["image_list_lag"], state["imaging_tail"], state["random_seed"]) == (1, 2, 3, 11)


def test_harsh_sets_every_knob_and_a_knob_given_beside_it_wins(make_emu) -> None:
    state = make_emu(harsh=True).state()
    assert {name: state[name] for name in world.TIMING_KNOBS} == world.HARSH
    assert world.HARSH == {"async_lag": 2.0, "async_jitter": 1.0, "image_list_lag": 3.0, "imaging_tail": 3.0}
    state = make_emu(harsh=True, async_lag=12).state()
    assert state["async_lag"] == 12 and state["imaging_tail"] == 3
    state = make_emu(extra_args=["--harsh", "--async-jitter", "0"]).state()
    assert state["async_jitter"] == 0 and state["async_lag"] == 2


@pytest.mark.parametrize("argv", [["--async-jitter", "-1"], ["--image-list-lag", "nan"], ["--imaging-tail", "-0.5"],
                                  ["--clock-epoch", "0"], ["--random-seed", "x"]])
def test_bad_knobs_on_the_command_line_are_refused(argv, capsys) -> None:
    with pytest.raises(SystemExit):
        server.parse_args(["--seed", "x.json"] + argv)
    assert argv[0] in capsys.readouterr().err


def test_the_state_file_keeps_the_new_fields(make_emu, tmp_path) -> None:
    state_file = tmp_path / "world.json"
    emu = make_emu(async_jitter=20, image_list_lag=40, imaging_tail=20, random_seed=13, state_file=str(state_file),
                   clock_epoch=1_700_000_000.5)
    image_id = ok(emu, "CreateImage", {"instanceId": STOPPED_HKG, "imageName": "kept"})["imageId"]
    emu.wait_for(lambda: any(e["id"] == STOPPED_HKG and e["to"] == "IMAGING" for e in emu.events()), timeout=10)
    saved = json.loads(state_file.read_text(encoding="utf-8"))
    assert (saved["async_jitter"], saved["image_list_lag"], saved["imaging_tail"], saved["random_seed"],
            saved["jitter_draws"], saved["clock_epoch"]) == (20, 40, 20, 13, 1, 1_700_000_000.5)
    listed_at = next(i for i in saved["images"] if i["imageId"] == image_id)["listedAt"]
    emu.patch(async_lag=3)
    emu.restart()
    state = emu.state()
    assert (state["async_lag"], state["async_jitter"], state["image_list_lag"], state["imaging_tail"],
            state["random_seed"], state["jitter_draws"]) == (3, 20, 40, 20, 13, 1)
    assert state["clock"]["epoch"] == 1_700_000_000.5
    assert next(i for i in state["images"] if i["imageId"] == image_id)["listedAt"] == listed_at
    if not _listed(emu, image_id):
        emu.wait_for(lambda: _listed(emu, image_id), timeout=10)
    emu.wait_for(lambda: status_of(emu, STOPPED_HKG) == "STOPPED", timeout=10)


def test_refused_writes_draw_no_jitter(make_emu) -> None:
    emu = make_emu(async_jitter=20)
    assert error(emu, "StopInstances", {"instanceIds": [STOPPED_HKG]})[0] == 403
    assert emu.state()["jitter_draws"] == 0


@pytest.mark.emulator(harsh=True)
def test_the_pytest_marker_takes_harsh(emulator) -> None:
    state = emulator.state()
    assert {name: state[name] for name in world.TIMING_KNOBS} == world.HARSH
    image_id = ok(emulator, "CreateImage", {"instanceId": STOPPED_HKG, "imageName": "harsh"})["imageId"]
    accepted = _effects_as_sent(emulator, "CreateImage")[0]
    made = next(i for i in emulator.state()["images"] if i["imageId"] == image_id)
    imaging = _event_ts(emulator, STOPPED_HKG, "IMAGING")
    assert 2 * 0.05 <= imaging - accepted["accepted_at"] <= 3 * 0.05 + 1e-6
    assert made["listedAt"] == pytest.approx(imaging + 3 * 0.05)
    assert _event_ts(emulator, STOPPED_HKG, "STOPPED") - _event_ts(emulator, image_id, "AVAILABLE") == pytest.approx(0.15)
