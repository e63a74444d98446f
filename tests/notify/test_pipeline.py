"""Grouping, timers, dedup, repeat, inhibition, silences and acks, end to end: alerts go
into a started pipeline and come out at a real HTTP receiver on loopback."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from alerter.notify.matchers import parse_matchers
from tests.notify.conftest import PipelineFactory, firing, hook_config, resolved
from tests.notify.receiver import Receiver


def sites_of(body: dict) -> set[str]:  # type: ignore[type-arg]
    return {a["labels"]["site"] for a in body["alerts"]}


def test_storm_is_grouped_by_site_and_sent_once_per_group(
        receiver: Receiver, pipeline_factory: PipelineFactory) -> None:
    p = pipeline_factory(hook_config(receiver.url, group_wait="0.5s"))
    alerts = [firing(site=f"site{i % 3}", device=f"dev{i}") for i in range(12)]
    t0 = time.time()
    p.process(alerts[:6])
    p.process(alerts)  # the next evaluation: more of the same sites, before group_wait ends
    bodies = [r.json() for r in receiver.wait(3)]
    assert receiver.requests[0].at - t0 >= 0.45  # group_wait held them back
    assert sorted(b["groupLabels"]["site"] for b in bodies) == ["site0", "site1", "site2"]
    assert all(len(b["alerts"]) == 4 and b["status"] == "firing" for b in bodies)
    # Evaluation keeps reporting the same alerts: nothing new to say, no repeat for 1h.
    for _ in range(3):
        p.process(alerts)
        time.sleep(0.5)
    assert len(receiver.requests) == 3


def test_new_alert_waits_for_group_interval_then_resolve_is_sent(
        receiver: Receiver, pipeline_factory: PipelineFactory) -> None:
    p = pipeline_factory(hook_config(receiver.url, group_wait="0.2s", group_interval="1s"))
    a = firing(site="A", device="a1")
    p.process([a])
    receiver.wait(1)
    first_at = receiver.requests[0].at
    b = firing(site="A", device="a2")
    p.process([a, b])
    second = receiver.wait(2)[1]
    assert second.at - first_at >= 0.9  # the group's next interval, not at once
    assert {x["labels"]["device"] for x in second.json()["alerts"]} == {"a1", "a2"}
    p.process([resolved(a), resolved(b)])
    third = receiver.wait(3)[2].json()
    assert third["status"] == "resolved"
    assert {x["status"] for x in third["alerts"]} == {"resolved"}
    assert all(x["endsAt"] != "0001-01-01T00:00:00Z" for x in third["alerts"])


def test_repeat_interval_resends_unchanged_group(
        receiver: Receiver, pipeline_factory: PipelineFactory) -> None:
    p = pipeline_factory(hook_config(receiver.url, group_wait="0s", group_interval="0.3s",
                                     repeat_interval="1s"))
    a = firing(site="A", device="a1")
    p.process([a])
    receiver.wait(2, timeout=5)
    gap = receiver.requests[1].at - receiver.requests[0].at
    assert 0.9 <= gap <= 2.5
    assert receiver.requests[0].key != receiver.requests[1].key  # a repeat is a new notification


def test_send_resolved_false_drops_resolved(
        receiver: Receiver, pipeline_factory: PipelineFactory) -> None:
    p = pipeline_factory(hook_config(receiver.url, group_wait="0s", group_interval="0.3s",
                                     send_resolved=False))
    a, b = firing(site="A", device="a1"), firing(site="A", device="a2")
    p.process([a, b])
    receiver.wait(1)
    p.process([resolved(a), b])
    p.process([resolved(b)])
    time.sleep(1.2)
    assert len(receiver.requests) == 1


def test_site_down_inhibits_its_device_alerts(
        receiver: Receiver, pipeline_factory: PipelineFactory) -> None:
    cfg = hook_config(receiver.url, group_wait="0.3s")
    cfg["route"]["group_by"] = ["alertname", "site"]
    cfg["inhibit_rules"] = [{"source_matchers": ['alertname="SiteDown"'],
                             "target_matchers": ['alertname="DeviceDown"'], "equal": ["site"]}]
    p = pipeline_factory(cfg)
    site = firing("SiteDown", site="A")
    devices_a = [firing(site="A", device=f"a{i}") for i in range(3)]
    device_b = firing(site="B", device="b1")
    p.process([site, *devices_a, device_b])
    time.sleep(1.0)
    names = sorted((b["commonLabels"]["alertname"], b["groupLabels"]["site"])
                   for b in receiver.bodies())
    assert names == [("DeviceDown", "B"), ("SiteDown", "A")]
    assert p.mute_status(devices_a[0])["inhibited"] == [site.fingerprint]
    sample = p.registry.get_sample_value("wardops_alerter_notifications_suppressed_total",
                                         {"reason": "inhibited"})
    assert sample is not None and sample >= 3


def test_silence_mutes_until_expired(receiver: Receiver, pipeline_factory: PipelineFactory) -> None:
    p = pipeline_factory(hook_config(receiver.url, group_wait="0.2s", group_interval="0.5s"))
    now = time.time()
    silence = p.silences.create(tuple(parse_matchers('site="A"')), now - 1, now + 3600,
                                "ops@bank", "maintenance window")
    a, b = firing(site="A", device="a1"), firing(site="B", device="b1")
    p.process([a, b])
    receiver.wait(1)
    time.sleep(1.0)
    assert [sites_of(x) for x in receiver.bodies()] == [{"B"}]
    assert p.mute_status(a)["silenced"] == [silence.id]
    p.silences.expire(silence.id)
    p.process([a, b])
    body = receiver.wait(2)[1].json()
    assert sites_of(body) == {"A"}


def test_silence_that_ends_does_not_renotify_unchanged_group(
        receiver: Receiver, pipeline_factory: PipelineFactory) -> None:
    """QA: notified, silenced a little later, silence expired: the receiver already knows,
    so nothing is sent again before repeat_interval (Alertmanager's nflog does the same)."""
    p = pipeline_factory(hook_config(receiver.url, group_wait="0.2s", group_interval="0.3s"))
    a = firing("ProbeFailing", site="A", device="a1")
    p.process([a])
    assert sites_of(receiver.wait(1)[0].json()) == {"A"}
    now = time.time()
    silence = p.silences.create(tuple(parse_matchers('site="A"')), now - 1, now + 3600,
                                "ops@bank", "maintenance window")
    p.process([a])
    time.sleep(1.0)  # several group_intervals flush the group while it is silenced
    p.silences.expire(silence.id)
    p.process([a])
    time.sleep(1.2)  # and several more after the silence ended
    assert len(receiver.bodies()) == 1
    # A real change still goes out at once.
    p.process([a, firing("ProbeFailing", site="A", device="a2")])
    assert len(receiver.wait(2)[1].json()["alerts"]) == 2


def test_ack_stops_repeats_until_resolved_then_refire_notifies(
        receiver: Receiver, pipeline_factory: PipelineFactory) -> None:
    p = pipeline_factory(hook_config(receiver.url, group_wait="0s", group_interval="0.3s",
                                     repeat_interval="0.6s"))
    a = firing(site="A", device="a1")
    p.process([a])
    receiver.wait(1)
    p.acks.ack(a, "nino@bank", "on it")
    count = len(receiver.requests)
    time.sleep(1.5)  # two repeat intervals: acked, so no repeats
    assert len(receiver.requests) == count
    assert p.mute_status(a)["acked"] == ["nino@bank"]
    p.process([resolved(a)])  # the resolve is still told, and clears the ack
    body = receiver.wait(count + 1)[-1].json()
    assert body["status"] == "resolved"
    again = firing(site="A", device="a1")  # fires anew: a new alert, notified
    assert again.starts_at != a.starts_at
    p.process([again])
    assert receiver.wait(count + 2)[-1].json()["status"] == "firing"
    assert p.acks.list() == []


def test_restart_does_not_renotify_firing_but_sends_resolve(
        receiver: Receiver, pipeline_factory: PipelineFactory, tmp_path: Path) -> None:
    cfg = hook_config(receiver.url, group_wait="0.2s", group_interval="0.5s")
    state = tmp_path / "restart"
    p = pipeline_factory(cfg, state_dir=state)
    a = firing(site="A", device="a1", starts_at=time.time() - 60)
    p.process([a])
    receiver.wait(1)
    p.stop()
    p2 = pipeline_factory(cfg, state_dir=state)
    p2.process([a])
    time.sleep(1.2)
    assert len(receiver.requests) == 1  # the nflog survived: no duplicate "firing"
    p2.process([resolved(a)])
    assert receiver.wait(2)[1].json()["status"] == "resolved"


def test_max_alerts_truncates_and_counts(
        receiver: Receiver, pipeline_factory: PipelineFactory) -> None:
    p = pipeline_factory(hook_config(receiver.url, group_wait="0s", max_alerts=2))
    p.process([firing(site="A", device=f"a{i}") for i in range(5)])
    body = receiver.wait(1)[0].json()
    assert len(body["alerts"]) == 2 and body["truncatedAlerts"] == 3


def test_reload_reroutes_firing_alerts(receivers: Any, pipeline_factory: PipelineFactory) -> None:
    from alerter.notify.config import parse_notify_config
    old, new = receivers(), receivers()
    p = pipeline_factory(hook_config(old.url, group_wait="0s", group_interval="0.3s"))
    a = firing(site="A", device="a1")
    p.process([a])
    old.wait(1)
    cfg = hook_config(new.url, group_wait="0s", group_interval="0.3s")
    cfg["route"]["routes"] = [{"matchers": ['site="A"'], "receiver": "r"}]
    p.reload(parse_notify_config(cfg))
    body = new.wait(1)[0].json()  # a new route: a new group, told to the new URL
    assert body["groupKey"] == '{}/{site="A"}:{site="A"}'  # Alertmanager's shape
    time.sleep(0.8)
    assert len(old.requests) == 1
