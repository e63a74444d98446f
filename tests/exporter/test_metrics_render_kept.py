"""A gzip scrape serves the per-device families rendered for an earlier scrape only while
nothing they show has changed: never a state older than the store's.

The oracle is the plain (uncompressed) body, rendered afresh for every request: after any
sequence of probe results, restarts' state loads and reloads, the gzip body, decompressed
by the standard library (which checks the CRC and length), must be that text exactly.
"""

from __future__ import annotations

import gc
import gzip
import random
import weakref
import zlib
from dataclasses import Field, fields, replace
from pathlib import Path
from typing import Any

import pytest

from exporter import collector
from exporter.app import Exporter
from exporter.collector import DeviceMetrics
from exporter.config import Device, load_inventory
from exporter.gzipbody import Deflated, GzipStream, gzipped
from exporter.latency import rendered_bounds
from exporter.state import DeviceState, ProbeResult, record

SITES = ("Batumi", "Kutaisi", "Zugdidi")
MOVED = 'wardops_device_info{device="Batumi-dev3",address="127.0.40.4",site="Kutaisi"'


def inventory_text(devices: int, site_of: dict[int, str] | None = None) -> str:
    lines = ["probe: {interval: 10s, timeout: 1s, count: 2}", "sites:"]
    lines += [f"  {site}: {{}}" for site in SITES]
    lines.append("devices:")
    for i in range(devices):
        home = SITES[i % len(SITES)]  # in its name, which is kept when it moves
        site = (site_of or {}).get(i, home)
        lines.append(f"  - {{name: {home}-dev{i}, address: 127.0.40.{i + 1}, site: {site},"
                     f" type: {'router' if i % 5 == 0 else 'atm'}}}")
    return "\n".join(lines) + "\n"


def plain(exporter: Exporter) -> bytes:
    body = exporter.metrics(gzip=False)
    assert not isinstance(body, GzipStream)
    return b"".join(body)


def gzip_body(exporter: Exporter) -> bytes:
    body = exporter.metrics(gzip=True)
    assert isinstance(body, GzipStream)
    return b"".join(body.chunks)


@pytest.fixture
def exporter(tmp_path: Path) -> Exporter:
    config = tmp_path / "devices.yml"
    config.write_text(inventory_text(12))
    inventory = load_inventory(config)
    exporter = Exporter(str(config), inventory, listen=("127.0.0.1", 0), state_file=None,
                        shard=None)
    exporter._apply(inventory)
    return exporter


def result(now: float, up: bool, rng: random.Random) -> ProbeResult:
    rtts = (rng.uniform(0.0002, 0.05), rng.uniform(0.0002, 0.05)) if up else ()
    return ProbeResult(started=now - 1, finished=now, sent=2, received=len(rtts),
                       rtt=sum(rtts) / len(rtts) if rtts else None, rtts=rtts)


def test_the_render_is_kept_until_a_state_changes(exporter: Exporter) -> None:
    status = exporter.status
    first = gzip_body(exporter)
    assert gzip.decompress(first) == plain(exporter)
    assert status.device_renders == {"rendered": 1, "kept": 0}
    # nothing changed: the same body, the per-device part not rendered again
    assert gzip_body(exporter) == first
    assert status.device_renders == {"rendered": 1, "kept": 1}
    # one device goes down: the next scrape says so
    key = next(iter(exporter._by_key))
    exporter.store.record(key, result(1_765_000_000.0, False, random.Random(1)),
                          down_after=1, up_after=1)
    first_pieces = dict(status.device_pieces)
    assert first_pieces["kept"] == 0 and first_pieces["made"] > 20
    text = gzip.decompress(gzip_body(exporter)).decode()
    assert status.device_renders == {"rendered": 2, "kept": 1}
    assert f'wardops_device_up{{device="{key[0]}"' in text
    assert text.encode() == plain(exporter)
    # only the families that device's new state shows were made again (its up, loss,
    # last probe, requests, down_since, changes: its 12 devices fit one block)
    made = status.device_pieces["made"] - first_pieces["made"]
    assert 0 < made < first_pieces["made"] / 2
    assert status.device_pieces["kept"] == first_pieces["made"] - made


def test_a_reload_is_never_hidden_by_a_kept_render(exporter: Exporter, tmp_path: Path) -> None:
    gzip_body(exporter)
    # the same devices and states, one of them moved to another site: only the
    # inventory's version says that the labels changed
    config = tmp_path / "devices.yml"
    config.write_text(inventory_text(12, {3: "Kutaisi"}))
    inventory = load_inventory(config)
    exporter._apply(inventory)
    text = gzip.decompress(gzip_body(exporter)).decode()
    assert MOVED in text and MOVED.replace("Kutaisi", "Batumi") not in text
    assert text.encode() == plain(exporter)


def test_a_scrape_between_a_reloads_two_steps_is_not_kept(exporter: Exporter,
                                                          tmp_path: Path) -> None:
    """A reload swaps the states' keys, then the devices' labels; a scrape that lands
    between the two is rendered with the new states and the old labels, and must not be
    served again once the labels are swapped (no state changes with them)."""
    config = tmp_path / "devices.yml"
    config.write_text(inventory_text(12, {3: "Kutaisi"}))
    inventory = load_inventory(config)
    exporter.store.set_keys([d.key for d in inventory.devices], inventory.probe.rtt_buckets)
    assert MOVED not in gzip.decompress(gzip_body(exporter)).decode()
    exporter.device_metrics.set_devices(inventory.devices, rendered_bounds(
        inventory.probe.rtt_buckets, inventory.probe.timeout))
    assert MOVED in gzip.decompress(gzip_body(exporter)).decode()


@pytest.mark.parametrize("block", [1, 5, 1000])
def test_any_sequence_of_changes_and_scrapes_matches_a_fresh_render(
        exporter: Exporter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        block: int) -> None:
    """Random probe results, state-file loads, reloads and scrapes: every gzip body is
    the fresh render, and renders are kept exactly when nothing changed in between.
    With blocks of 1 and 5 rows, most scrapes make some blocks again and keep others."""
    monkeypatch.setattr(collector, "_BLOCK", block)
    rng = random.Random(16 + block)
    config = tmp_path / "devices.yml"
    now = 1_765_000_000.0
    changed = True
    for step in range(300):
        now += rng.uniform(0.1, 5)
        action = rng.random()
        if action < 0.45:
            key = rng.choice(list(exporter._by_key))
            exporter.store.record(key, result(now, rng.random() < 0.7, rng),
                                  down_after=rng.choice((1, 2)), up_after=1)
            changed = True
        elif action < 0.50:
            devices = rng.randint(8, 14)
            config.write_text(inventory_text(devices, {rng.randrange(devices): "Zugdidi"}))
            exporter._apply(load_inventory(config))
            changed = True
        elif action < 0.53:
            saved = exporter.store.dump() or b""
            if saved:
                exporter.store.load(saved, now=now)
                changed = True
        else:
            before = dict(exporter.status.device_renders)
            body = gzip_body(exporter)
            assert zlib.decompress(body, 31) == gzip.decompress(body) == plain(exporter), step
            after = exporter.status.device_renders
            assert after["rendered"] - before["rendered"] == (1 if changed else 0), step
            assert after["kept"] - before["kept"] == (0 if changed else 1), step
            changed = False
    assert exporter.status.device_renders["kept"] > 10
    made, kept = exporter.device_metrics.pieces
    assert made > 0 and kept > 0


def test_a_scrape_between_cycles_makes_only_what_the_late_probes_changed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Between two cycles only the down devices' late probes end: their last probe and
    request count change, nothing else they show (no reply: no histogram line moves).
    Only those two families' blocks are made again, and the body is still exact."""
    monkeypatch.setattr(collector, "_BLOCK", 4)
    devices = [Device(name=f"d{i}", address=f"127.0.41.{i + 1}", site="s", type="atm")
               for i in range(40)]
    metrics = DeviceMetrics(devices, (0.001, 0.01, 0.1))
    rng = random.Random(3)
    states = {d.key: record(DeviceState(), result(100.0, i % 10 != 3, rng), 1, 1,
                            (0.001, 0.01, 0.1)) for i, d in enumerate(devices)}
    metrics.deflated(states)
    for i, d in enumerate(devices):
        if i % 10 == 3:  # 4 of the 10 blocks hold a down device
            states[d.key] = record(states[d.key], result(130.0, False, rng), 1, 1,
                                   (0.001, 0.01, 0.1))
    body = metrics.deflated(states)
    assert gzip.decompress(b"".join(gzipped([], head=body))).decode() == metrics.render(states)
    made, kept = metrics.pieces
    assert made == 2 * 4  # last_probe_timestamp and echo_requests, 4 blocks each
    assert made + kept == 13 * (1 + 10) + 1  # 13 families: header and 10 blocks; parents


def test_what_a_render_keeps_does_not_keep_the_states_it_rendered_alive(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The kept pieces remember their rows' states by weak reference: once a cycle has
    replaced them, the states of the devices that were up are freed (a whole generation
    of states held next to the store's was 66 MiB at 100,000 devices). Those that were
    down are held, so that the next scrape still keeps what their late probes leave
    unchanged; and every body stays exact."""
    monkeypatch.setattr(collector, "_BLOCK", 4)
    bounds = (0.001, 0.01, 0.1)
    devices = [Device(name=f"d{i}", address=f"127.0.42.{i + 1}", site="s", type="atm")
               for i in range(20)]
    metrics = DeviceMetrics(devices, bounds)
    rng = random.Random(11)
    states = {d.key: record(DeviceState(), result(100.0, i % 5 != 2, rng), 1, 1, bounds)
              for i, d in enumerate(devices)}
    metrics.deflated(states)
    old = {key: weakref.ref(state) for key, state in states.items()}
    down = {key for key, state in states.items() if state.status == "down"}
    assert len(down) == 4
    # the next cycle replaces every state; the late probes of the down devices end after
    # the scrape that follows it
    states = {key: record(state, result(130.0, key not in down, rng), 1, 1, bounds)
              for key, state in states.items()}
    gc.collect()
    assert {key for key, ref in old.items() if ref() is not None} == down
    body = metrics.deflated(states)
    assert gzip.decompress(b"".join(gzipped([], head=body))).decode() == metrics.render(states)
    for key in down:
        states[key] = record(states[key], result(131.0, False, rng), 1, 1, bounds)
    body = metrics.deflated(states)
    assert gzip.decompress(b"".join(gzipped([], head=body))).decode() == metrics.render(states)
    assert metrics.pieces[0] == 2 * 4  # last probe and requests of the 4 blocks with one


# a state of each kind: unknown, up with replies, down, up again, probes failing
def _states() -> list[DeviceState]:
    rng = random.Random(5)
    bounds = (0.001, 0.01, 0.1)
    up = record(DeviceState(), result(100.0, True, rng), 1, 1, bounds)
    down = record(up, result(110.0, False, rng), 1, 1, bounds)
    again = record(down, result(120.0, True, rng), 1, 1, bounds)
    failing = replace(down, errors=9, failing="socket")
    return [DeviceState(), up, down, again, failing]


def _others(spec: Field[Any], value: Any) -> list[Any]:
    """Other values of a field: another of its type, and None where it may be None."""
    other = {
        str: lambda v: {"": "up", "up": "down", "down": "unknown", "unknown": ""}.get(v, v + "x"),
        int: lambda v: v + 1,
        float: lambda v: v + 0.5,
        tuple: lambda v: tuple(c + 1 for c in v) if v else (0, 1, 0, 0),
        type(None): lambda v: 0.25,
    }[type(value)](value)
    optional = "None" in str(spec.type) and value is not None
    return [other, None] if optional else [other]


def test_each_familys_key_covers_every_field_its_lines_show() -> None:
    """A piece is kept while its rows' states agree on its family's key: a field that
    changes the family's text but not its key would serve stale lines. Every field of
    every kind of state is changed in turn, to another value and to None where it may
    be None."""
    row = collector._Row(("d", "127.0.0.1"), 'device="d"', 'device="d"', True)
    metrics = DeviceMetrics([], (0.001, 0.01, 0.1))
    template, served = metrics._inventory.templates["wardops_device_"], 3
    checked = 0
    for suffix, key in collector._KEYS.items():
        name = "wardops_device_" + suffix
        for state in _states():
            for spec in fields(DeviceState):
                for value in _others(spec, getattr(state, spec.name)):
                    other = replace(state, **{spec.name: value})
                    if suffix == "rtt_histogram_seconds":
                        texts = [collector._histogram(template, served, [(row, s)])
                                 for s in (state, other)]
                    else:
                        texts = [collector._lines_text(suffix, name, [(row, s)])
                                 for s in (state, other)]
                    if texts[0] != texts[1]:
                        checked += 1
                        assert key is not None and key(state) != key(other), (
                            suffix, spec.name, value)
    assert checked > 40


def test_a_gzip_body_may_start_with_text_compressed_earlier() -> None:
    rng = random.Random(7)
    head_text = [rng.randbytes(rng.randint(0, 70_000)) + b"up 1\n" * rng.randint(0, 9_000)
                 for _ in range(5)]
    head = Deflated.of(head_text)
    assert head.size == sum(map(len, head_text)) and head.compressed_size > 0
    for tail in ([], [b""], [b"process_cpu_seconds_total 1.5\n"], [rng.randbytes(100_000)]):
        body = b"".join(gzipped(tail, head=head))
        # one member: readers that stop after the first one see everything
        assert zlib.decompress(body, 31) == b"".join(head_text + tail)
        assert gzip.decompress(body) == b"".join(head_text + tail)
    assert gzip.decompress(b"".join(gzipped([b"a", b"b"]))) == b"ab"
    assert gzip.decompress(b"".join(gzipped([], head=Deflated.of([])))) == b""
