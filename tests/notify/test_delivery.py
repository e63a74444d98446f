"""Durable delivery against real loopback receivers: retries, Retry-After, 4xx, dead
letters, a receiver down for a while, a slow receiver next to a fast one, kill -9."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from alerter.notify import NotificationPipeline
from tests.notify.conftest import HOLD_SCRIPT, PipelineFactory, firing, hook_config, queued_rows
from tests.notify.receiver import Receiver
from tests.notify.test_formats import wait_dead
from tests.support import Proc, free_port, python_env, wait_for


def sample(p: NotificationPipeline, name: str, **labels: str) -> float:
    return p.registry.get_sample_value(name, labels) or 0.0


def test_5xx_is_retried_with_the_same_idempotency_key(
        receiver: Receiver, pipeline_factory: PipelineFactory) -> None:
    receiver.fail_next(2, 503)
    p = pipeline_factory(hook_config(receiver.url, group_wait="0s"))
    p.process([firing(site="A", device="a1")])
    receiver.wait(1, timeout=10)
    assert len(receiver.attempts) == 3
    assert len({r.key for r in receiver.attempts}) == 1
    assert [r.body for r in receiver.attempts] == [receiver.attempts[0].body] * 3
    wait_for(lambda: sample(p, "wardops_alerter_notifications_total", receiver="r",
                            result="delivered") == 1, timeout=5, what="delivered metric")
    assert sample(p, "wardops_alerter_notification_attempts_total", receiver="r",
                  outcome="http_5xx") == 2
    assert sample(p, "wardops_alerter_notification_queue_depth", receiver="r") == 0


def test_429_honours_retry_after(receiver: Receiver, pipeline_factory: PipelineFactory) -> None:
    receiver.fail_next(1, 429, retry_after="1")
    p = pipeline_factory(hook_config(receiver.url, group_wait="0s"))
    p.process([firing(site="A", device="a1")])
    receiver.wait(1, timeout=10)
    first, second = receiver.attempts
    assert second.at - first.at >= 0.95  # not the 0.25-0.5 s backoff


def test_4xx_is_not_retried_and_kept_as_dead_letter(
        receiver: Receiver, pipeline_factory: PipelineFactory) -> None:
    receiver.fail_next(1, 400)
    p = pipeline_factory(hook_config(receiver.url, group_wait="0s"))
    p.process([firing(site="A", device="a1")])
    letter = wait_dead(p)[0]
    time.sleep(0.5)
    assert len(receiver.attempts) == 1
    assert letter["receiver"] == "r" and letter["attempts"] == 1
    assert letter["lastError"] == "http_4xx is not retried"
    assert letter["idempotencyKey"] == receiver.attempts[0].key
    assert sample(p, "wardops_alerter_notifications_total", receiver="r", result="failed") == 1
    assert sample(p, "wardops_alerter_notification_dead_letters") == 1


def test_gives_up_after_max_attempts(receiver: Receiver, pipeline_factory: PipelineFactory) -> None:
    receiver.fail_next(10, 500)
    p = pipeline_factory(hook_config(receiver.url, group_wait="0s", max_attempts=2))
    p.process([firing(site="A", device="a1")])
    assert wait_dead(p)[0]["lastError"] == "http_5xx after 2 attempts"
    assert len(receiver.attempts) == 2


def test_timeout_is_retried(receiver: Receiver, pipeline_factory: PipelineFactory) -> None:
    receiver.delay = 1.0
    p = pipeline_factory(hook_config(receiver.url, group_wait="0s", timeout="0.3s"))
    p.process([firing(site="A", device="a1")])
    wait_for(lambda: sample(p, "wardops_alerter_notification_attempts_total", receiver="r",
                            outcome="timeout") >= 1, timeout=10, what="a timeout")
    receiver.delay = 0.0
    wait_for(lambda: sample(p, "wardops_alerter_notifications_total", receiver="r",
                            result="delivered") == 1, timeout=10, what="delivery")
    # At least once: the receiver may have seen the timed-out attempt too, same key.
    assert len({r.key for r in receiver.requests}) == 1


def test_receiver_down_for_a_while_gets_everything_exactly_once(
        receiver: Receiver, pipeline_factory: PipelineFactory) -> None:
    receiver.down()
    p = pipeline_factory(hook_config(receiver.url, group_wait="0s"))
    p.process([firing(site=f"site{i}", device=f"dev{i}") for i in range(6)])
    wait_for(lambda: sample(p, "wardops_alerter_notification_attempts_total", receiver="r",
                            outcome="connection_refused") >= 12, timeout=10, what="refusals")
    assert sample(p, "wardops_alerter_notification_queue_depth", receiver="r") == 6
    assert sample(p, "wardops_alerter_notification_oldest_undelivered_age_seconds",
                  receiver="r") > 0.3
    receiver.up()
    receiver.wait(6, timeout=15)
    time.sleep(1.0)
    sites = sorted(r.json()["groupLabels"]["site"] for r in receiver.requests)
    assert sites == [f"site{i}" for i in range(6)]
    assert len({r.key for r in receiver.requests}) == 6 == len(receiver.requests)
    assert sample(p, "wardops_alerter_notification_queue_depth", receiver="r") == 0


def test_slow_receiver_does_not_delay_another(receivers: Any,
                                              pipeline_factory: PipelineFactory) -> None:
    slow, fast = receivers(), receivers()
    slow.delay = 3.0
    p = pipeline_factory({
        "route": {"receiver": "slow", "group_by": ["site"], "group_wait": "0s", "routes": [
            {"receiver": "slow", "continue": True}, {"receiver": "fast"}]},
        "receivers": [{"name": "slow", "webhook_configs": [{"url": slow.url}]},
                      {"name": "fast", "webhook_configs": [{"url": fast.url}]}]})
    t0 = time.time()
    p.process([firing(site=f"site{i}", device=f"dev{i}") for i in range(10)])
    fast.wait(10, timeout=10)
    assert time.time() - t0 < 2.5
    assert len(slow.requests) == 0  # still working on its first batch


def test_resolved_never_overtakes_firing_of_same_group(
        receiver: Receiver, pipeline_factory: PipelineFactory) -> None:
    from tests.notify.conftest import resolved
    receiver.fail_next(3, 503)
    p = pipeline_factory(hook_config(receiver.url, group_wait="0s", group_interval="0.2s"))
    a = firing(site="A", device="a1")
    p.process([a])
    time.sleep(0.3)
    p.process([resolved(a)])
    bodies = [r.json() for r in receiver.wait(2, timeout=15)]
    assert [b["status"] for b in bodies] == ["firing", "resolved"]


def test_sequence_orders_a_groups_notifications_and_survives_retries(
        receiver: Receiver, pipeline_factory: PipelineFactory) -> None:
    """Each notification of a group carries a strictly larger sequence (header and
    payload); its retries carry the very same one, so a receiver can drop a late retry
    that arrives after a newer state (the sink does: tests/stack/test_webhook_sink.py)."""
    from tests.notify.conftest import resolved
    receiver.fail_next(2, 503)
    p = pipeline_factory(hook_config(receiver.url, group_wait="0s", group_interval="0.2s"))
    a = firing(site="A", device="a1")
    p.process([a])
    time.sleep(0.3)
    p.process([resolved(a)])
    receiver.wait(2, timeout=15)
    attempts = receiver.attempts
    numbers = [int(r.headers["X-Wardops-Sequence"]) for r in attempts]
    assert [r.json()["sequence"] for r in attempts] == numbers
    by_key: dict[str, set[int]] = {}
    for r in attempts:
        by_key.setdefault(r.key, set()).add(int(r.headers["X-Wardops-Sequence"]))
    assert all(len(seqs) == 1 for seqs in by_key.values()), "a retry changed its sequence"
    first, second = (by_key[k].pop() for k in dict.fromkeys(r.key for r in attempts))
    assert second > first
    # a later run (restart) continues above: the number is the decision time in µs
    assert abs(first / 1e6 - time.time()) < 60




def test_kill_9_with_a_queued_notification_delivers_after_restart(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    state = tmp_path / "state"
    script = tmp_path / "hold.py"
    script.write_text(HOLD_SCRIPT)
    hooks = json.dumps({"webhook_configs": [{"url": url}]})
    first = Proc([sys.executable, str(script), hooks, str(state)], log=tmp_path / "first.log",
                 env=python_env())
    try:
        rows = wait_for(lambda: [r for r in queued_rows(state) if r[1] >= 1], timeout=20,
                        what="a queued notification with a failed attempt")
    finally:
        first.stop(kill=True)  # SIGKILL: no clean shutdown
    assert first.popen.returncode == -9
    key = rows[0][0]
    receiver = Receiver(port=port)
    second = Proc([sys.executable, str(script), hooks, str(state)], log=tmp_path / "second.log",
                  env=python_env())
    try:
        got = receiver.wait(1, timeout=20)
        time.sleep(1.0)
        assert [r.key for r in receiver.requests] == [key]  # the same notification, once
        assert got[0].json()["alerts"][0]["labels"]["device"] == "a1"
        wait_for(lambda: queued_rows(state) == [], timeout=10, what="queue emptied")
    finally:
        second.stop()
        receiver.down()


def test_send_test_reports_each_integration(receivers: Any, tmp_path: Path) -> None:
    from alerter.notify import DeliveryFailed
    from alerter.notify.config import parse_notify_config
    good, bad = receivers(), receivers()
    bad.fail_next(1, 404)
    cfg = parse_notify_config({"route": {"receiver": "r"}, "receivers": [
        {"name": "r", "webhook_configs": [{"url": good.url, "format": "slack"}]},
        {"name": "two", "webhook_configs": [{"url": good.url}, {"url": bad.url}]}]})
    p = NotificationPipeline(cfg, tmp_path, external_url="http://x")  # not started: no workers
    assert p.send_test("r") == "slack #0: ok"
    assert "WardopsTestNotification" in good.requests[0].json()["text"]
    with pytest.raises(DeliveryFailed) as err:
        p.send_test("two")
    assert str(err.value) == "alertmanager #0: ok; alertmanager #1: http_4xx"
    with pytest.raises(KeyError):
        p.send_test("nobody")


def test_secret_urls_never_reach_the_log(receiver: Receiver, pipeline_factory: PipelineFactory,
                                         caplog: pytest.LogCaptureFixture) -> None:
    import logging
    caplog.set_level(logging.DEBUG)
    receiver.fail_next(1, 503)
    secret_url = receiver.url + "/T000/B000/XXXXsecretXXXX"
    p = pipeline_factory(hook_config(secret_url, group_wait="0s", format="slack"))
    p.process([firing(site="A", device="a1")])
    receiver.wait(1)
    assert "POST <path redacted> HTTP/1.1" in caplog.text  # urllib3's debug line, redacted
    assert "notification attempt failed, will retry" in caplog.text
    assert "secret" not in caplog.text
