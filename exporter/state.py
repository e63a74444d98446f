"""Per-device state: up/down with hysteresis, ``down_since``, transitions, persistence.

:func:`record` is the whole decision logic, a pure function of the previous state, one
probe result and the time (injected), table-tested in ``tests/exporter/test_exporter_state.py``.
:class:`StateStore` holds the states of the running inventory (the scheduler writes,
the collector reads a snapshot from another thread) and saves them atomically so that
a restart, even ``kill -9``, during an outage keeps the original ``down_since``.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from exporter.latency import DEFAULT_BUCKETS, add_to_buckets, reply_stats
from wardops_common.atomicfile import write_atomic

log = logging.getLogger("exporter.state")

UNKNOWN, UP, DOWN = "unknown", "up", "down"
#: a device's state key (name, address), or one of its paths' (name, address, isp)
StateKey = tuple[str, ...]
STATE_FILE_VERSION = 1
# Errored probes in a row (at least; ``down_after`` if larger) after which an UP device's
# last result is too old to show: one error (a skipped turn, a lost DNS answer) is
# noise, two mean the last good probe is two intervals old.
MIN_ERRORS_TO_UNKNOWN = 2


def errors_to_unknown(down_after: int) -> int:
    """Errored probes in a row after which a device's probes count as failing to run.

    As many as it takes failed probes to call a device down (``down_after``), and at
    least :data:`MIN_ERRORS_TO_UNKNOWN`: a device is judged no faster on missing
    evidence than on evidence.
    """
    return max(MIN_ERRORS_TO_UNKNOWN, down_after)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One finished probe of one device, as the state machine needs it."""

    started: float  # Unix time the probe started
    finished: float  # Unix time the probe finished
    sent: int
    received: int
    rtt: float | None  # mean of the replies' round trips, seconds
    error: str | None = None  # the probe could not run (reason label); says nothing
    rtts: tuple[float, ...] = ()  # every reply's round trip, seconds (the distribution)


# weakref_slot: /metrics remembers the states it rendered by weak reference
# (exporter.collector._Seen), not by holding a whole generation of them
@dataclass(frozen=True, slots=True, weakref_slot=True)
class DeviceState:
    """What is known about one device. Immutable: :func:`record` returns a new one."""

    status: str = UNKNOWN  # unknown | up | down
    last_known: str = ""  # last definite status ("" never known); survives restarts
    fails: int = 0  # failed probes in a row
    oks: int = 0  # good probes in a row
    first_fail: float = 0.0  # start of the first failed probe of the current run of failures
    down_since: float = 0.0  # start of the current outage's first failed probe; 0 unless down
    changes: int = 0  # up<->down transitions
    last_probe: float = 0.0  # Unix time the last probe finished (freshness); 0 never
    rtt: float | None = None  # last probe's mean RTT, None without replies
    loss: float | None = None  # last probe's lost share, None before the first probe
    errors: int = 0  # probes in a row that could not run
    failing: str = ""  # error reason once ``errors`` reached errors_to_unknown(), else ""
    # The last probe's replies (exporter.latency.reply_stats); None without replies.
    rtt_min: float | None = None
    rtt_max: float | None = None
    rtt_stddev: float | None = None  # needs two replies
    # Since this process started (counters, not saved): echo requests sent, and the RTT
    # histogram: replies per bucket of the inventory's bounds (+Inf last, not cumulative)
    # and their sum.
    requests: int = 0
    buckets: tuple[int, ...] = ()
    rtt_sum: float = 0.0


def record(state: DeviceState, result: ProbeResult, down_after: int, up_after: int,
           bounds: Sequence[float] = DEFAULT_BUCKETS) -> DeviceState:
    """Fold one probe result into a device's state.

    - A probe that could not run (``result.error``) is neither evidence of up nor of
      down and does not refresh freshness (``last_probe``). After
      :func:`errors_to_unknown` such probes in a row the device's probes are
      ``failing`` (with that reason), and an UP device becomes UNKNOWN: its last good
      result is too old to show as up (no RTT, no loss). A DOWN device stays DOWN with
      its ``down_since``: its outage is not over until a probe says so. A device never
      judged stays UNKNOWN. Errors do not break a run of failed or good probes.
    - Any reply makes a probe good. An UP, UNKNOWN or never probed device goes DOWN after
      ``down_after`` failed probes in a row, and its ``down_since`` is the start of the
      first of them. A DOWN device comes UP after ``up_after`` good probes in a row; a
      device never probed (or unknown) comes up with its first good probe.
    - Each change between up and down counts, including one across a restart or an
      unknown spell (``last_known``).
    - A probe that ran adds its requests and its replies' round trips to the counters
      and the histogram over ``bounds``; its replies' min, max and jitter replace the
      last probe's.
    """
    if result.error is not None:
        errors = state.errors + 1
        if errors < errors_to_unknown(down_after):
            return replace(state, errors=errors)
        if state.status == UP:
            return replace(state, status=UNKNOWN, errors=errors, failing=result.error,
                           rtt=None, loss=None, rtt_min=None, rtt_max=None, rtt_stddev=None)
        return replace(state, errors=errors, failing=result.error)
    if result.received > 0 and (state.status != DOWN or state.oks + 1 >= up_after):
        return _up(state, result, bounds)
    loss = 1.0 - result.received / result.sent if result.sent else 1.0
    stats = reply_stats(result.rtts)
    common: dict[str, Any] = {
        "last_probe": result.finished, "rtt": result.rtt if result.received else None,
        "loss": loss, "errors": 0, "failing": "",
        "rtt_min": stats.minimum if stats else None,
        "rtt_max": stats.maximum if stats else None,
        "rtt_stddev": stats.stddev if stats else None,
        "requests": state.requests + result.sent,
        "buckets": add_to_buckets(state.buckets, bounds, result.rtts),
        "rtt_sum": state.rtt_sum + sum(result.rtts)}
    if result.received > 0:
        oks = state.oks + 1
        if state.status == DOWN and oks < up_after:
            return replace(state, oks=oks, fails=0, first_fail=0.0, **common)
        return _settle(state, UP, oks=oks, fails=0, first_fail=0.0, down_since=0.0, **common)
    fails = state.fails + 1
    first_fail = state.first_fail if state.fails else result.started
    if state.status != DOWN and fails < down_after:
        return replace(state, fails=fails, oks=0, first_fail=first_fail, **common)
    down_since = state.down_since if state.status == DOWN else first_fail
    return _settle(state, DOWN, fails=fails, oks=0, first_fail=first_fail,
                   down_since=down_since, **common)


def _up(state: DeviceState, result: ProbeResult, bounds: Sequence[float]) -> DeviceState:
    """:func:`record` of a good probe that leaves (or makes) the device UP: the common
    case, built in one constructor call (``replace`` and the general path cost twice as
    much, and this runs for every probe of every device)."""
    stats = reply_stats(result.rtts)  # None only for a result made up without times
    return DeviceState(
        status=UP, last_known=UP, fails=0, oks=state.oks + 1, first_fail=0.0,
        down_since=0.0,
        changes=state.changes + (1 if state.last_known == DOWN else 0),
        last_probe=result.finished, rtt=result.rtt,
        loss=1.0 - result.received / result.sent, errors=0, failing="",
        rtt_min=stats.minimum if stats else None, rtt_max=stats.maximum if stats else None,
        rtt_stddev=stats.stddev if stats else None, requests=state.requests + result.sent,
        buckets=add_to_buckets(state.buckets, bounds, result.rtts),
        rtt_sum=state.rtt_sum + sum(result.rtts))


def _settle(state: DeviceState, status: str, **changes: Any) -> DeviceState:
    changed = state.last_known not in ("", status)
    return replace(state, status=status, last_known=status,
                   changes=state.changes + (1 if changed else 0), **changes)


def restored(state: DeviceState) -> DeviceState:
    """A saved state as it is taken up again after a restart.

    An outage goes on (DOWN, same ``down_since``): the device was down when we last
    looked, and showing it down until a probe says otherwise is never a false green.
    A device that was up is UNKNOWN until its first probe in this process.
    """
    status = DOWN if state.last_known == DOWN else UNKNOWN
    # the counters (requests, histogram) are this process's: they start again from 0
    return replace(state, status=status, rtt=None, loss=None, oks=0, rtt_min=None,
                   rtt_max=None, rtt_stddev=None, requests=0, buckets=(), rtt_sum=0.0)


_SAVED_FIELDS = ("last_known", "fails", "oks", "first_fail", "down_since", "changes",
                 "last_probe")


#: a saved time may be this far ahead of the clock (clock steps between save and load)
_FUTURE_SLACK = 300.0
_MAX_COUNT = 2**53


def _saved_state(item: dict[str, Any], now: float) -> tuple[DeviceState | None, str]:
    """One saved entry as a DeviceState, or None and why it cannot be trusted."""
    fields: dict[str, Any] = {}
    for name in _SAVED_FIELDS:
        if name not in item:
            continue
        value = item[name]
        if name == "last_known":
            if value not in ("", UP, DOWN):
                return None, f"last_known: {value!r} is not up, down or empty"
        elif name in ("fails", "oks", "changes"):
            if type(value) is not int or not 0 <= value < _MAX_COUNT:
                return None, f"{name}: {value!r} is not a count"
        else:  # times
            if type(value) not in (int, float) or not math.isfinite(value) or not (
                    0 <= value <= now + _FUTURE_SLACK):
                return None, f"{name}: {value!r} is not a time up to now"
            value = float(value)
        fields[name] = value
    if fields.get("last_known") == DOWN and not fields.get("down_since"):
        return None, "down without down_since"
    return DeviceState(**fields), ""


def _saved_entry(key: StateKey, s: DeviceState) -> dict[str, Any]:
    # attributes read by hand, not dataclasses.asdict: asdict deep-copies every field
    # (the histogram too) and took 27 µs a device, more than probing it
    item = {"name": key[0], "address": key[1], "last_known": s.last_known,
            "fails": s.fails, "oks": s.oks, "first_fail": s.first_fail,
            "down_since": s.down_since, "changes": s.changes, "last_probe": s.last_probe}
    if len(key) > 2:
        item["isp"] = key[2]
    return item


_SAVE_BLOCK = 1000  # entries encoded at a time


def _json_array(entries: Sequence[tuple[StateKey, DeviceState]]) -> Iterator[bytes]:
    """The JSON array of ``entries``' saved fields, as json.dumps with compact separators
    writes it, in pieces of :data:`_SAVE_BLOCK` entries."""
    yield b"["
    for start in range(0, len(entries), _SAVE_BLOCK):
        block = [_saved_entry(key, s) for key, s in entries[start:start + _SAVE_BLOCK]]
        text = json.dumps(block, separators=(",", ":"))[1:-1]  # without its brackets
        yield (b"," if start else b"") + text.encode()
    yield b"]"


class StateStore:
    """States of the running inventory's devices, keyed by (name, address), and of
    their paths, keyed by (name, address, isp): the same state machine for both.

    Written from the probe loop, read by scrapes in the web thread: every access holds
    a lock for no longer than a dict operation or a list copy.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[StateKey, DeviceState] = {}
        self._dirty = False
        # bumped by every change of any state: /metrics keeps its last render of the
        # states for as long as this has not moved
        self._generation = 0
        self.bounds: tuple[float, ...] = DEFAULT_BUCKETS  # the RTT histogram's

    def set_keys(self, keys: Iterable[StateKey],
                 bounds: Sequence[float] | None = None) -> None:
        """Keep the states of ``keys`` (new ones start unknown); forget everything else.

        New histogram ``bounds`` (a reload changed ``probe.rtt_buckets``) restart every
        histogram from 0: counts over other bounds cannot be carried over.
        """
        with self._lock:
            old = self._states
            self._states = {key: old.get(key) or DeviceState() for key in keys}
            if bounds is not None and tuple(bounds) != self.bounds:
                self.bounds = tuple(bounds)
                self._states = {key: replace(state, buckets=(), rtt_sum=0.0)
                                for key, state in self._states.items()}
            self._dirty = True
            self._generation += 1

    def get(self, key: StateKey) -> DeviceState | None:
        """The device's state, or None if it is not in the inventory."""
        return self._states.get(key)

    def record(self, key: StateKey, result: ProbeResult, down_after: int,
               up_after: int) -> tuple[DeviceState, DeviceState] | None:
        """Apply a probe result; return (before, after), or None for a removed device."""
        with self._lock:
            before = self._states.get(key)
            if before is None:
                return None  # removed by a reload while its probe was running
            after = record(before, result, down_after, up_after, self.bounds)
            self._states[key] = after
            self._dirty = True
            self._generation += 1
        return before, after

    def snapshot(self) -> dict[StateKey, DeviceState]:
        """A copy of all states, consistent at one instant."""
        with self._lock:
            return dict(self._states)

    @property
    def generation(self) -> int:
        """A number that changes whenever any state changes (and only then)."""
        return self._generation

    def versioned_snapshot(self) -> tuple[int, dict[StateKey, DeviceState]]:
        """:attr:`generation` and :meth:`snapshot`, at the same instant."""
        with self._lock:
            return self._generation, dict(self._states)

    # -- persistence -------------------------------------------------------------------

    def dump(self) -> bytes | None:
        """The state file's content if anything changed since the last dump, else None."""
        with self._lock:
            if not self._dirty:
                return None
            states = list(self._states.items())
            self._dirty = False
        # Paths in a list of their own: an older exporter reads only "devices" and must
        # not take a path's state for its device's.
        devices = [(key, s) for key, s in states if len(key) == 2]
        paths = [(key, s) for key, s in states if len(key) > 2]
        # Encoded a block of entries at a time, each block's dicts and text dropped once
        # it is bytes: encoding all 100,000 entries' dicts at once held 63 MiB besides
        # the result, at the moment a scrape's render may also be running.
        return b"".join([b'{"version":%d,"devices":' % STATE_FILE_VERSION,
                         *_json_array(devices), b',"paths":', *_json_array(paths), b"}"])

    def mark_dirty(self) -> None:
        """Make the next :meth:`dump` write even if nothing changed (after a failed save)."""
        with self._lock:
            self._dirty = True

    def save(self, path: str) -> bool:
        """Write the state file atomically if anything changed; True if it wrote.

        Raises OSError on failure (after marking the store dirty again).
        """
        data = self.dump()
        if data is None:
            return False
        try:
            write_atomic(path, data)
        except OSError:
            self.mark_dirty()
            raise
        return True

    def load(self, data: bytes, now: float | None = None) -> tuple[int, list[str]]:
        """Take up saved states for the devices already in the store.

        Returns (how many were taken, why each refused entry was refused). Every entry is
        checked on its own: one damaged entry leaves that device unknown, not all of them.
        Raises ValueError on a file that is not a wardops state file.
        """
        try:
            doc = json.loads(data)
        except RecursionError:
            raise ValueError("nested too deeply to be a wardops state file") from None
        if not isinstance(doc, dict) or doc.get("version") != STATE_FILE_VERSION:
            raise ValueError(f"not a version {STATE_FILE_VERSION} wardops state file")
        now = time.time() if now is None else now
        taken, refused = 0, []
        for section in ("devices", "paths"):
            entries = doc.get(section, [])
            if not isinstance(entries, list):
                raise ValueError(f"{section}: not a list")
            with self._lock:
                for index, item in enumerate(entries):
                    if not isinstance(item, dict):
                        refused.append(f"{section}[{index}]: not an object")
                        continue
                    key: tuple[Any, ...] = (item.get("name"), item.get("address"))
                    if section == "paths":
                        key += (item.get("isp"),)
                    if key not in self._states:
                        continue  # it left the inventory while we were stopped
                    state, problem = _saved_state(item, now)
                    if state is None:
                        refused.append(f"{section}[{index}] ({key[0]}): {problem}")
                        continue
                    self._states[key] = restored(state)
                    self._generation += 1
                    taken += 1
        return taken, refused
