"""The device state machine (exporter.state.record), table-tested with an injected clock."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.app import Exporter
from exporter.config import load_inventory
from exporter.state import DOWN, UNKNOWN, UP, DeviceState, ProbeResult, StateStore, record, restored
from tests.support import fuzz_examples

OK, FAIL, ERR = "ok", "fail", "err"


def result(kind: str, t: float) -> ProbeResult:
    """A probe started at ``t`` and finished 0.5 s later."""
    if kind == OK:
        return ProbeResult(t, t + 0.5, sent=3, received=3, rtt=0.002)
    if kind == FAIL:
        return ProbeResult(t, t + 0.5, sent=3, received=0, rtt=None)
    return ProbeResult(t, t + 0.5, sent=0, received=0, rtt=None, error="dns")


def run(kinds: str, down_after: int = 1, up_after: int = 1,
        start: DeviceState | None = None) -> list[DeviceState]:
    """Feed probes one per 10 s (t = 100, 110, ...); return the state after each."""
    state = start or DeviceState()
    states = []
    for i, kind in enumerate(kinds.split()):
        state = record(state, result(kind, 100.0 + 10 * i), down_after, up_after)
        states.append(state)
    return states


# (probes, down_after, up_after, statuses after each probe, final down_since, final changes)
CASES = [
    # never probed -> unknown; first good probe -> up, no transition counted
    ("ok", 1, 1, [UP], 0.0, 0),
    # first probe fails with down_after 1: down at once, outage began at that probe
    ("fail", 1, 1, [DOWN], 100.0, 0),
    # down_after 3: two failures keep a never-probed device unknown, the third makes it down,
    # and down_since is the FIRST failure's start
    ("fail fail fail", 3, 1, [UNKNOWN, UNKNOWN, DOWN], 100.0, 0),
    # up device: down_after 2 keeps it up through one failure
    ("ok fail ok fail fail", 2, 1, [UP, UP, UP, UP, DOWN], 130.0, 1),
    # recovery with up_after 2: one good probe is not enough, down_since kept meanwhile
    ("ok fail ok", 1, 2, [UP, DOWN, DOWN], 110.0, 1),
    ("ok fail ok ok", 1, 2, [UP, DOWN, DOWN, UP], 0.0, 2),
    # an interrupted recovery restarts the count; the outage keeps its original start
    ("ok fail ok fail ok ok", 1, 2, [UP, DOWN, DOWN, DOWN, DOWN, UP], 0.0, 2),
    # flapping: every change counted
    ("ok fail ok fail ok fail", 1, 1, [UP, DOWN, UP, DOWN, UP, DOWN], 150.0, 5),
    # errors (probes that could not run: DNS, blackhole route, local firewall) are
    # neither up nor down and do not break a run of failures
    ("err", 1, 1, [UNKNOWN], 0.0, 0),
    ("err err err", 1, 1, [UNKNOWN, UNKNOWN, UNKNOWN], 0.0, 0),
    ("ok fail err fail", 3, 1, [UP, UP, UP, UP], 0.0, 0),
    ("ok fail err fail fail", 3, 1, [UP, UP, UP, UP, DOWN], 110.0, 1),
    # an UP device is no longer shown up after 2 errors in a row (never a false green) ...
    ("ok err", 1, 1, [UP, UP], 0.0, 0),
    ("ok err err", 1, 1, [UP, UP, UNKNOWN], 0.0, 0),
    ("ok err ok err ok", 1, 1, [UP, UP, UP, UP, UP], 0.0, 0),  # not in a row
    # ... or after down_after errors when that is more: judged no faster than by failures
    ("ok err err", 3, 1, [UP, UP, UP], 0.0, 0),
    ("ok err err err", 3, 1, [UP, UP, UP, UNKNOWN], 0.0, 0),
    # back from unknown: up again without a transition, or down with one
    ("ok err err ok", 1, 1, [UP, UP, UNKNOWN, UP], 0.0, 0),
    ("ok err err fail", 1, 1, [UP, UP, UNKNOWN, DOWN], 130.0, 1),
    ("ok err err fail fail", 2, 1, [UP, UP, UNKNOWN, UNKNOWN, DOWN], 130.0, 1),
    # a DOWN device whose probes start erroring stays DOWN: its outage is not over
    ("ok fail err err err", 1, 1, [UP, DOWN, DOWN, DOWN, DOWN], 110.0, 1),
    ("fail err err err ok", 1, 1, [DOWN, DOWN, DOWN, DOWN, UP], 0.0, 1),
    # errors do not break a recovery's run of good probes either
    ("ok fail ok err err ok", 1, 2, [UP, DOWN, DOWN, DOWN, DOWN, UP], 0.0, 2),
]


@pytest.mark.parametrize("probes,down_after,up_after,statuses,down_since,changes", CASES)
def test_transitions(probes: str, down_after: int, up_after: int, statuses: list[str],
                     down_since: float, changes: int) -> None:
    states = run(probes, down_after, up_after)
    assert [s.status for s in states] == statuses
    assert states[-1].down_since == down_since
    assert states[-1].changes == changes


def test_error_does_not_refresh_freshness() -> None:
    ok, err = run("ok err")
    assert err.last_probe == ok.last_probe == 100.5


def test_failing_probes_carry_their_reason_and_hide_the_old_result() -> None:
    up, first, second = run("ok err err")
    assert (first.status, first.failing, first.rtt, first.loss) == (UP, "", 0.002, 0.0)
    assert (second.status, second.failing, second.errors) == (UNKNOWN, "dns", 2)
    assert (second.rtt, second.loss, second.last_probe) == (None, None, up.last_probe)
    down = run("fail err err")[-1]
    assert (down.status, down.failing, down.down_since) == (DOWN, "dns", 100.0)
    never = run("err err")[-1]
    assert (never.status, never.failing, never.last_probe) == (UNKNOWN, "dns", 0.0)
    # a probe that runs again clears it
    again = record(second, result(FAIL, 200.0), 1, 1)
    assert (again.failing, again.errors) == ("", 0)


def test_rtt_and_loss_of_last_probe() -> None:
    state = record(DeviceState(), ProbeResult(1.0, 2.0, sent=4, received=3, rtt=0.01), 1, 1)
    assert (state.rtt, state.loss) == (0.01, 0.25)
    state = record(state, ProbeResult(3.0, 4.0, sent=4, received=0, rtt=None), 1, 1)
    assert (state.status, state.rtt, state.loss, state.last_probe) == (DOWN, None, 1.0, 4.0)


def test_restored_outage_continues_and_up_is_unknown_until_probed() -> None:
    down = run("ok fail")[-1]
    again = restored(down)
    assert (again.status, again.down_since, again.changes) == (DOWN, 110.0, 1)
    # the outage ends with the first good probe after the restart, counted once
    after = record(again, result(OK, 200.0), 1, 1)
    assert (after.status, after.down_since, after.changes) == (UP, 0.0, 2)
    up = restored(run("ok")[-1])
    assert up.status == UNKNOWN
    # a device that was up and is found down after the restart counts a transition
    assert record(up, result(FAIL, 200.0), 1, 1).changes == 1


def test_store_keeps_states_of_kept_devices_and_round_trips() -> None:
    store = StateStore()
    store.set_keys([("a", "1"), ("b", "2")])
    store.record(("b", "2"), result(OK, 100.0), 1, 1)
    store.record(("b", "2"), result(FAIL, 110.0), 1, 1)
    store.set_keys([("b", "2"), ("c", "3")])  # a removed, c added, b kept
    snap = store.snapshot()
    assert set(snap) == {("b", "2"), ("c", "3")}
    assert snap[("b", "2")].down_since == 110.0 and snap[("c", "3")].status == UNKNOWN
    assert store.record(("a", "1"), result(OK, 120.0), 1, 1) is None  # removed meanwhile
    data = store.dump()
    assert data is not None and store.dump() is None  # nothing new since
    assert json.loads(data)["version"] == 1
    fresh = StateStore()
    fresh.set_keys([("b", "2")])
    assert fresh.load(data) == (1, [])
    assert fresh.get(("b", "2")) == restored(snap[("b", "2")])


def test_store_rejects_foreign_file() -> None:
    store = StateStore()
    with pytest.raises(ValueError, match="not a version 1 wardops state file"):
        store.load(b'{"devices": []}')


GOOD_DOWN = {"name": "b", "address": "2", "last_known": "down", "fails": 3, "oks": 0,
             "first_fail": 100.0, "down_since": 100.0, "changes": 1, "last_probe": 130.0}
DAMAGED = {
    "status word": {"last_known": "UP"},
    "negative count": {"fails": -1},
    "fractional count": {"changes": 1.5},
    "bool as count": {"oks": True},
    "time as text": {"down_since": "yesterday"},
    "time in the future": {"last_probe": 4e9},
    "NaN time": {"first_fail": float("nan")},
    "down without down_since": {"down_since": 0.0},
}


@pytest.mark.parametrize("damage", sorted(DAMAGED))
def test_a_damaged_entry_is_refused_alone(damage: str) -> None:
    """One damaged entry leaves its device unknown and is reported; the others are taken."""
    store = StateStore()
    store.set_keys([("a", "1"), ("b", "2")])
    bad = {**GOOD_DOWN, "name": "a", "address": "1", **DAMAGED[damage]}
    data = json.dumps({"version": 1, "devices": [bad, GOOD_DOWN]}).encode()
    taken, refused = store.load(data, now=200.0)
    assert taken == 1 and len(refused) == 1 and "(a)" in refused[0], refused
    assert store.get(("a", "1")) == DeviceState()  # unknown, never judged
    assert store.get(("b", "2")).status == DOWN  # the outage goes on
    assert store.get(("b", "2")).down_since == 100.0


@pytest.mark.parametrize("data", [b"[" * 100_000, b'{"version": 1, "devices": {}}',
                                  b"\xff\xfe", b'{"version": 1, "devices": [1, "x", null]}'])
def test_a_file_that_is_not_a_state_file_is_refused_cleanly(data: bytes) -> None:
    store = StateStore()
    store.set_keys([("a", "1")])
    try:
        taken, refused = store.load(data, now=200.0)
    except ValueError:
        pass  # a ValueError is the promised refusal of the whole file
    else:
        assert taken == 0 and len(refused) == 3
    assert store.get(("a", "1")) == DeviceState()


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)
_entry = st.fixed_dictionaries(
    {"name": st.just("a"), "address": st.just("1")},
    optional={k: _json | st.floats() | st.integers() | st.sampled_from(["", "up", "down"])
              for k in ("last_known", "fails", "oks", "first_fail", "down_since", "changes",
                        "last_probe")})


@settings(max_examples=fuzz_examples(500), deadline=None)
@given(_entry)
def test_no_saved_entry_restores_a_device_as_up_or_breaks_loading(entry: dict) -> None:  # type: ignore[type-arg]
    store = StateStore()
    store.set_keys([("a", "1")])
    taken, refused = store.load(json.dumps({"version": 1, "devices": [entry]}).encode(),
                                now=1e9)
    state = store.get(("a", "1"))
    assert state is not None and state.status in (UNKNOWN, DOWN)
    assert taken + len(refused) == 1
    if state.status == DOWN:
        assert 0 < state.down_since <= 1e9 + 300


def test_path_states_are_saved_apart_from_devices_and_restored() -> None:
    device, magti = ("r1", "10.0.0.1"), ("r1", "10.0.0.1", "Magti")
    store = StateStore()
    store.set_keys([device, magti])
    store.record(device, result(OK, 100.0), 1, 1)
    store.record(magti, result(FAIL, 100.0), 1, 1)
    data = store.dump()
    assert data is not None
    doc = json.loads(data)
    # an older exporter reads only "devices": a path's state must not be taken for r1's
    assert [(d["name"], d["last_known"]) for d in doc["devices"]] == [("r1", "up")]
    assert [(p["isp"], p["last_known"], p["down_since"]) for p in doc["paths"]] == [
        ("Magti", "down", 100.0)]
    fresh = StateStore()
    fresh.set_keys([device, magti])
    assert fresh.load(data) == (2, [])
    assert (fresh.get(magti) or DeviceState()).down_since == 100.0
    assert (fresh.get(device) or DeviceState()).status == UNKNOWN  # was up: unknown


def test_a_state_file_of_many_devices_is_one_json_document_and_restores_each() -> None:
    """The file is encoded a block of entries at a time (memory): across block borders,
    with names that need escaping, it is still one document that a JSON reader (an older
    exporter's) parses whole, and every device and path comes back as it was."""
    keys: list[tuple[str, ...]] = []
    for i in range(2_345):
        device = (f'br{i // 60}-"atm"\\{i}\u00e9', f"127.1.{i // 250}.{i % 250}")
        keys.append(device)
        if i % 7 == 0:
            keys.append((*device, "Silknet"))
    store = StateStore()
    store.set_keys(keys)
    for i, key in enumerate(keys):
        store.record(key, result(FAIL if i % 3 == 0 else OK, 100.0 + i), 1, 1)
    data = store.dump()
    assert data is not None
    doc = json.loads(data)
    assert doc["version"] >= 1 and set(doc) == {"version", "devices", "paths"}
    assert len(doc["devices"]) == 2_345 and len(doc["paths"]) == 335
    fresh = StateStore()
    fresh.set_keys(keys)
    assert fresh.load(data, now=10_000.0) == (len(keys), [])
    for key in keys:
        got, was = fresh.get(key), store.get(key)
        assert got is not None and was is not None
        assert (got.last_known, got.down_since, got.last_probe, got.changes) == (
            was.last_known, was.down_since, was.last_probe, was.changes), key


def test_saves_after_changes_never_run_back_to_back_and_miss_no_change(tmp_path: Path) -> None:
    """An up/down change is saved at once when the last save is long past, but saves keep
    to their share of the time: at 100,000 devices a save costs about a second, and in
    the first cycle, when every device changes, back-to-back saves took half the CPU and
    doubled the cycle. The last change is still saved."""
    config = tmp_path / "devices.yml"
    config.write_text("probe: {interval: 10s, timeout: 1s, count: 1}\n"
                      "devices:\n  - {name: a, address: 127.0.0.1}\n")
    exporter = Exporter(str(config), load_inventory(config), listen=("127.0.0.1", 0),
                        state_file=str(tmp_path / "state.json"), shard=None)
    took = 0.2  # each save
    starts: list[float] = []
    changes: list[float] = []

    def slow_save() -> None:
        starts.append(time.monotonic())
        time.sleep(took)

    exporter._save = slow_save  # type: ignore[method-assign]

    async def main() -> None:
        exporter._save_now = changed = asyncio.Event()
        saver = asyncio.create_task(exporter._save_loop())
        await asyncio.sleep(0.1)
        for _ in range(40):  # a change every 50 ms for 2 s
            changes.append(time.monotonic())
            changed.set()
            await asyncio.sleep(0.05)
        await asyncio.sleep(5 * took + 0.5)
        saver.cancel()
        await asyncio.gather(saver, return_exceptions=True)

    asyncio.run(main())
    assert starts[0] - changes[0] < 0.5  # the first change is saved at once
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    # saves take at most a quarter of the time (docs/exporter.md, "State")
    assert len(gaps) >= 2 and all(gap >= 4 * took - 0.01 for gap in gaps), gaps
    assert starts[-1] > changes[-1]  # the last change is in a save
    assert len(starts) <= 2 + (changes[-1] - changes[0]) / (4 * took)
