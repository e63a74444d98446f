"""Escalation: an unacknowledged firing alert goes to the next level's receiver after its
delay; an ack or a resolve stops it; the state survives kill -9. Real HTTP receivers on
loopback, real (short) delays; the decision itself is table-tested with an injected clock."""

from __future__ import annotations

import json
import sys
import time
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
import requests

from alerter.api import create_app
from alerter.model import Alert
from alerter.notify import ESCALATION_HEADER, NotificationPipeline
from alerter.notify.config import EmailConfig, parse_notify_config
from alerter.notify.email.message import build_message
from alerter.notify.escalation import Action, Decision, Escalation, EscalationLevel, decide
from alerter.notify.formats.alertmanager import build_payload
from alerter.notify.formats.text import title
from alerter.notify.matchers import parse_matchers
from tests.notify.conftest import PipelineFactory, firing, queued_rows, resolved
from tests.notify.receiver import Receiver
from tests.support import Proc, free_port, python_env, wait_for, wait_http
from wardops_common.webserver import WebServer

LEVELS = (EscalationLevel(60, "oncall"), EscalationLevel(180, "manager"))
T0 = 1_000_000.0
FRESH = Escalation("{}", "fp", T0 - 100, T0)


@pytest.mark.parametrize(("entry", "now", "acked", "muted", "expected"), [
    # before the first delay: wait until it is due
    (FRESH, T0 + 59, False, False, Decision(Action.WAIT, at=T0 + 60)),
    # due: level 1 (index 0)
    (FRESH, T0 + 60, False, False, Decision(Action.SEND, levels=(0,))),
    # both due at once (a restart or a mute that ended late): both, in order
    (FRESH, T0 + 200, False, False, Decision(Action.SEND, levels=(0, 1))),
    # level 1 sent: the next waits for its own delay, counted from the first notification
    (Escalation("{}", "fp", T0 - 100, T0, level=1), T0 + 61, False, False,
     Decision(Action.WAIT, at=T0 + 180)),
    # acked with levels left: stop (even before anything is due)
    (FRESH, T0 + 10, True, False, Decision(Action.STOP_ACKED)),
    # muted while due: hold, do not stop
    (FRESH, T0 + 61, False, True, Decision(Action.HOLD)),
    # muted but not due yet: just wait
    (FRESH, T0 + 1, False, True, Decision(Action.WAIT, at=T0 + 60)),
    # every level sent, or stopped: done
    (Escalation("{}", "fp", T0 - 100, T0, level=2), T0 + 999, False, False, Decision(Action.DONE)),
    (Escalation("{}", "fp", T0 - 100, T0, stopped="acked"), T0 + 999, True, False,
     Decision(Action.DONE)),
])
def test_decide(entry: Escalation, now: float, acked: bool, muted: bool,
                expected: Decision) -> None:
    assert decide(entry, LEVELS, now, acked=acked, muted=muted) == expected


def config(urls: dict[str, str], levels: list[dict[str, str]] | None = None,
           group_wait: str = "0.2s") -> dict[str, Any]:
    """Receivers noc, oncall, manager (one webhook each); DeviceDown routes to noc and
    escalates to oncall after 1.5 s and manager after 3 s; Watchdog routes to noc too."""
    levels = levels if levels is not None else [{"after": "1.5s", "receiver": "oncall"},
                                                {"after": "3s", "receiver": "manager"}]
    return {"route": {"receiver": "noc", "group_by": ["site"], "group_wait": group_wait,
                      "group_interval": "0.5s", "repeat_interval": "1h",
                      "routes": [{"matchers": ['alertname="DeviceDown"'], "escalation": levels},
                                 {"matchers": ['alertname="Watchdog"']}]},
            "receivers": [{"name": n, "webhook_configs": [{"url": u}]} for n, u in urls.items()]}


@pytest.fixture
def three(receivers: Any) -> dict[str, Receiver]:
    return {"noc": receivers(), "oncall": receivers(), "manager": receivers()}


def urls(rs: dict[str, Receiver]) -> dict[str, str]:
    return {name: r.url for name, r in rs.items()}


def escalating(three: dict[str, Receiver], pipeline_factory: PipelineFactory,
               **kw: Any) -> tuple[NotificationPipeline, Alert]:
    """A pipeline with ``config(three, **kw)`` and one DeviceDown the noc was told about."""
    p = pipeline_factory(config(urls(three), **kw))
    alert = firing(site="A", device="a1")
    p.process([alert])
    three["noc"].wait(1, timeout=5)
    return p, alert


def sample(p: NotificationPipeline, name: str, **labels: str) -> float:
    return p.registry.get_sample_value(name, labels) or 0.0


def test_unacknowledged_alert_escalates_level_by_level(
        three: dict[str, Receiver], pipeline_factory: PipelineFactory) -> None:
    p = pipeline_factory(config(urls(three)))
    alert = firing(site="A", device="a1")
    p.process([alert, firing("Watchdog")])
    three["noc"].wait(1, timeout=5)
    oncall = three["oncall"].wait(1, timeout=5)[0]
    manager = three["manager"].wait(1, timeout=6)[0]
    # each level after its delay, counted from the flush that notified the noc
    [entry] = p.escalations.all()
    assert 1.5 <= oncall.at - entry.notified_at < 2.5
    assert 3.0 <= manager.at - entry.notified_at < 4.0
    assert oncall.headers[ESCALATION_HEADER] == "1"
    assert manager.headers[ESCALATION_HEADER] == "2"
    body = oncall.json()
    assert body["receiver"] == "oncall" and body["escalationLevel"] == 1
    assert [a["labels"]["device"] for a in body["alerts"]] == ["a1"]  # not the Watchdog
    status = p.escalation_status(alert)
    assert status is not None
    assert status["level"] == 2 and status["escalatedTo"] == ["oncall", "manager"]
    assert status["nextLevelAt"] is None
    time.sleep(1.0)
    # once per level; the noc was not told again
    # (the noc's two: site A's group and the Watchdog's)
    assert [len(three[n].requests) for n in ("noc", "oncall", "manager")] == [2, 1, 1]
    assert sum("a1" in r.body.decode() for r in three["noc"].requests) == 1
    assert sample(p, "wardops_alerter_escalations_total", receiver="oncall") == 1
    assert sample(p, "wardops_alerter_escalations_total", receiver="manager") == 1
    assert sample(p, "wardops_alerter_escalating_alerts") == 0


SLOW = [{"after": "3s", "receiver": "oncall"}, {"after": "4s", "receiver": "manager"}]


def test_ack_stops_the_escalation(three: dict[str, Receiver],
                                  pipeline_factory: PipelineFactory) -> None:
    p, alert = escalating(three, pipeline_factory, levels=SLOW)
    status = p.escalation_status(alert)
    assert status is not None and status["level"] == 0 and status["nextReceiver"] == "oncall"
    p.acks.ack(alert, "nino@bank", "on it")
    time.sleep(4.5)  # past both levels' delays
    assert three["oncall"].attempts == [] and three["manager"].attempts == []
    status = p.escalation_status(alert)
    assert status is not None and status["stopped"] == "acked" and status["nextLevelAt"] is None
    assert sample(p, "wardops_alerter_escalations_stopped_total", reason="acked") == 1


def test_ack_after_the_first_level_stops_the_next(three: dict[str, Receiver],
                                                  pipeline_factory: PipelineFactory) -> None:
    p, alert = escalating(three, pipeline_factory)
    three["oncall"].wait(1, timeout=5)
    p.acks.ack(alert, "oncall@bank", "")
    time.sleep(2.5)  # past the manager's delay
    assert three["manager"].attempts == []
    assert len(three["oncall"].requests) == 1


def test_resolve_stops_the_escalation(three: dict[str, Receiver],
                                      pipeline_factory: PipelineFactory) -> None:
    p, alert = escalating(three, pipeline_factory, levels=SLOW)
    p.process([resolved(alert)])
    three["noc"].wait(2, timeout=5)  # the resolve reaches the noc
    time.sleep(4.5)
    assert three["oncall"].attempts == [] and three["manager"].attempts == []
    assert p.escalations.all() == []
    assert sample(p, "wardops_alerter_escalations_stopped_total", reason="resolved") == 1


def test_a_resolve_is_told_to_the_levels_that_were_told(
        three: dict[str, Receiver], pipeline_factory: PipelineFactory) -> None:
    p, alert = escalating(three, pipeline_factory)
    three["oncall"].wait(1, timeout=5)
    p.process([resolved(alert)])
    told = three["oncall"].wait(2, timeout=5)[1]
    assert told.json()["status"] == "resolved" and told.headers[ESCALATION_HEADER] == "1"
    time.sleep(2.5)  # past the manager's delay: the manager never heard of it
    assert three["manager"].attempts == []
    assert len(three["oncall"].requests) == 2
    assert p.escalations.all() == []
    assert sample(p, "wardops_alerter_escalations_stopped_total", reason="resolved") == 1


def test_silence_holds_the_escalation_until_it_ends(three: dict[str, Receiver],
                                                    pipeline_factory: PipelineFactory) -> None:
    p, alert = escalating(three, pipeline_factory, levels=[{"after": "1s", "receiver": "oncall"}])
    now = time.time()
    p.silences.create(tuple(parse_matchers('device="a1"')), now, now + 2.5, "nino", "works")
    time.sleep(2.0)  # level 1 is due while silenced: held
    assert three["oncall"].attempts == []
    req = three["oncall"].wait(1, timeout=4)[0]  # sent once the silence ended
    assert req.at >= now + 2.5


def test_an_escalation_receiver_that_is_down_gets_it_once_it_is_back(
        three: dict[str, Receiver], pipeline_factory: PipelineFactory) -> None:
    """The level is queued durably and retried like any notification, not lost and not
    decided again."""
    three["oncall"].down()
    p, alert = escalating(three, pipeline_factory, levels=[{"after": "0.5s",
                                                            "receiver": "oncall"}])
    wait_for(lambda: sample(p, "wardops_alerter_escalations_total", receiver="oncall") == 1,
             timeout=5, what="level 1 decided")
    wait_for(lambda: sample(p, "wardops_alerter_notification_attempts_total",
                            receiver="oncall", outcome="connection_refused") >= 1,
             timeout=5, what="a refused attempt")
    three["oncall"].up()
    got = three["oncall"].wait(1, timeout=10)
    time.sleep(1.0)
    assert len(three["oncall"].requests) == 1 and got[0].headers[ESCALATION_HEADER] == "1"
    assert sample(p, "wardops_alerter_escalations_total", receiver="oncall") == 1


def test_an_escalation_says_so_in_every_format() -> None:
    """The title of chat formats and the e-mail subject start with [ESCALATED:n]; the
    e-mail carries the level header too."""
    data = build_payload(receiver="manager", group_key="{}", group_labels={"site": "A"},
                         alerts=[firing(site="A", device="a1")], external_url="",
                         escalation_level=2)
    assert title(data) == "[ESCALATED:2] [FIRING:1] DeviceDown site=A"
    mail = EmailConfig(to="m@bank.example", from_="w@bank.example", smarthost=("x", 25))
    msg = message_from_bytes(build_message(data, mail, message_id="k", now=0))
    assert msg["Subject"] == title(data) and msg[ESCALATION_HEADER] == "2"


ESCALATE_SCRIPT = """
import json, sys, time
from pathlib import Path
from alerter.model import Alert
from alerter.notify import NotificationPipeline
from alerter.notify.config import parse_notify_config
cfg, state, starts = json.loads(sys.argv[1]), sys.argv[2], float(sys.argv[3])
p = NotificationPipeline(parse_notify_config(cfg), Path(state), external_url="http://x")
p.start()
p.process([Alert({"alertname": "DeviceDown", "site": "A", "device": "a1"}, {}, "firing",
                 starts)])
while True:
    time.sleep(1)
"""


def _start_escalating(cfg: dict[str, Any], state: Path, tmp_path: Path, starts: float) -> Proc:
    """A pipeline process that is told once of a firing DeviceDown and then escalates it."""
    script = tmp_path / "escalate.py"
    script.write_text(ESCALATE_SCRIPT)
    return Proc([sys.executable, str(script), json.dumps(cfg), str(state), str(starts)],
                log=tmp_path / "first.log", env=python_env())


def _restart(cfg: dict[str, Any], state: Path, starts: float) -> NotificationPipeline:
    """The pipeline again on the killed one's state, told of the same firing alert."""
    p = NotificationPipeline(parse_notify_config(cfg), state, external_url="http://x")
    p.start()
    p.process([firing(site="A", device="a1", starts_at=starts)])
    return p


def test_kill_9_after_level_1_is_recorded_neither_repeats_nor_loses_a_level(
        tmp_path: Path, three: dict[str, Receiver]) -> None:
    cfg = config(urls(three), levels=[{"after": "1s", "receiver": "oncall"},
                                      {"after": "4s", "receiver": "manager"}])
    state = tmp_path / "state"
    starts = time.time()
    proc = _start_escalating(cfg, state, tmp_path, starts)
    try:
        three["noc"].wait(1, timeout=20)
        three["oncall"].wait(1, timeout=10)
        # level 1's delivery is recorded once it has left the queue
        wait_for(lambda: queued_rows(state) == [], timeout=10, what="level 1 recorded")
    finally:
        proc.stop(kill=True)  # SIGKILL mid-escalation: level 1 sent, level 2 pending
    assert proc.popen.returncode == -9
    assert three["manager"].arrived == []
    p = _restart(cfg, state, starts)
    try:
        manager = three["manager"].wait(1, timeout=10)[0]
        # the level's delay still counts from the first notification, before the restart
        [entry] = p.escalations.all()
        assert entry.notified_at < starts + 5  # the first run's, not this one's
        assert 4.0 <= manager.at - entry.notified_at < 5.5
        time.sleep(1.0)
        assert len(three["oncall"].arrived) == 1  # level 1 not repeated after the restart
        assert len(three["manager"].arrived) == 1
        assert len(three["noc"].arrived) == 1     # and the noc not told again
    finally:
        p.stop()


def test_kill_9_before_level_1_is_answered_sends_it_again_unchanged(
        tmp_path: Path, three: dict[str, Receiver]) -> None:
    """Killed while oncall holds level 1 unanswered: the send was not recorded, so the
    restarted pipeline sends it again (at least once) - the same notification with the
    same Idempotency-Key, not a second escalation decision - and level 2 still follows."""
    cfg = config(urls(three), levels=[{"after": "1s", "receiver": "oncall"},
                                      {"after": "4s", "receiver": "manager"}])
    state = tmp_path / "state"
    starts = time.time()
    three["oncall"].delay = 3.0
    proc = _start_escalating(cfg, state, tmp_path, starts)
    try:
        three["noc"].wait(1, timeout=20)
        wait_for(lambda: len(three["oncall"].arrived) == 1, timeout=10, what="level 1 sent")
    finally:
        proc.stop(kill=True)  # SIGKILL while level 1 waits for its answer
    assert proc.popen.returncode == -9
    [(key, _, status)] = queued_rows(state)
    assert status == "pending" and key == three["oncall"].arrived[0].key
    three["oncall"].delay = 0.0
    p = _restart(cfg, state, starts)
    try:
        three["manager"].wait(1, timeout=10)
        wait_for(lambda: len(three["oncall"].arrived) == 2, timeout=10, what="level 1 again")
        first, again = three["oncall"].arrived
        assert again.key == first.key and again.body == first.body
        time.sleep(1.0)
        assert len(three["oncall"].arrived) == 2
        assert len(three["manager"].arrived) == 1
        assert len(three["noc"].arrived) == 1
    finally:
        p.stop()


@pytest.mark.parametrize(("levels", "message"), [
    ([], "route.routes[0].escalation: must list at least one level"),
    ([{"after": "5m"}], "route.routes[0].escalation[0].receiver: required"),
    ([{"receiver": "oncall"}], "route.routes[0].escalation[0].after: required"),
    ([{"after": "5m", "receiver": "nobody"}],
     "route.routes[0].escalation[0].receiver: unknown receiver 'nobody'"),
    ([{"after": "0s", "receiver": "oncall"}],
     "route.routes[0].escalation[0].after: must be greater than 0"),
    ([{"after": "10m", "receiver": "oncall"}, {"after": "10m", "receiver": "manager"}],
     "route.routes[0].escalation[1].after: 10m must be later than the level before it (10m)"),
    ([{"after": "5m", "receiver": "oncall", "repeat": True}],
     "route.routes[0].escalation[0].repeat: unknown key (known: after, receiver)"),
])
def test_invalid_escalation_is_a_clear_error(levels: list[dict[str, Any]], message: str) -> None:
    raw = config({"noc": "http://127.0.0.1:1/", "oncall": "http://127.0.0.1:1/",
                  "manager": "http://127.0.0.1:1/"}, levels=levels)
    with pytest.raises(ValueError) as exc:
        parse_notify_config(raw)
    assert str(exc.value).startswith(message)


def test_escalation_is_not_inherited() -> None:
    raw = config({"noc": "http://127.0.0.1:1/", "oncall": "http://127.0.0.1:1/",
                  "manager": "http://127.0.0.1:1/"})
    raw["route"]["routes"][0]["routes"] = [{"matchers": ['severity="info"']}]
    route = parse_notify_config(raw).route
    assert route is not None
    parent = route.routes[0]
    assert [lv.receiver for lv in parent.escalation] == ["oncall", "manager"]
    assert parent.routes[0].escalation == ()
    assert route.escalation == ()



def test_api_shows_the_escalation(three: dict[str, Receiver],
                                  pipeline_factory: PipelineFactory) -> None:
    p = pipeline_factory(config(urls(three)))
    alert = firing(site="A", device="a1")
    p.process([alert])
    app = create_app(alerts=lambda: [alert], rules=lambda: [], pipeline=p,
                     notify_config=p.config, registry=p.registry, reload=lambda: None,
                     ready=lambda: True)
    port = free_port()
    server = WebServer(app, f"127.0.0.1:{port}", ident="test", threads=2)
    server.start()
    try:
        url = f"http://127.0.0.1:{port}/api/v1/alerts"
        wait_http(url)
        three["oncall"].wait(1, timeout=5)
        status = requests.get(url, timeout=5).json()["data"]["alerts"][0]["status"]
        assert status["escalation"]["level"] == 1
        assert status["escalation"]["levels"] == 2
        assert status["escalation"]["escalatedTo"] == ["oncall"]
        assert status["escalation"]["nextReceiver"] == "manager"
        assert status["escalation"]["nextLevelAt"].endswith("Z")
        assert status["escalation"]["stopped"] is None
    finally:
        server.close()
