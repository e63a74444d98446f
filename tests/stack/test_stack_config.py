"""The stack's configuration files are valid and agree with each other.

prometheus.yml and the recording rules pass promtool (including a unit test of what
counts as available), docker-compose.yml passes `docker-compose config`, the Grafana
provisioning and dashboards reference one datasource uid, and every dashboard query is
accepted by a real Prometheus.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml
from stackparts import (
    DASHBOARD_DIR,
    Prometheus,
    annotation_queries,
    dashboards,
    label_values_query,
    panel_queries,
    panels,
    substitute,
    variable_queries,
)

from alerter.config import load_config
from alerter.model import Alert
from alerter.notify.inhibit import Inhibitor
from tests.support import REPO, Proc, free_port, python_env, wait_for, wait_http
from wardops_common.examplecerts import make_certs
from wardops_common.webconfig import load_web_config

DATASOURCE_UID = "wardops-prometheus"


TOKEN = "test-token-3b9f"  # what a user puts in .env as WARDOPS_API_TOKEN


def run(*args: str, env: dict[str, str] | None = None, cwd: Path = REPO
        ) -> subprocess.CompletedProcess[str]:
    """Run a tool in the repository and return its result (never raises)."""
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120, env=env)


def compose_env(**extra: str) -> dict[str, str]:
    """A plain environment for docker-compose with the API token set (as .env would)."""
    return {"PATH": "/usr/bin:/bin", "WARDOPS_API_TOKEN": TOKEN, **extra}


# ---------------------------------------------------------------- Prometheus

COMPOSE_SERVERS = ["exporter", "alerter", "prometheus", "sink", "grafana"]
COMPOSE_CLIENTS = ["prometheus", "alerter", "grafana"]


@pytest.fixture(scope="module")
def compose_certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What compose's `certs` service writes into the certs volume (its command's names)."""
    directory = tmp_path_factory.mktemp("certs")
    make_certs(directory, COMPOSE_SERVERS, COMPOSE_CLIENTS)
    return directory


def with_certs(path: str, certs: Path, out: Path) -> Path:
    """The compose file ``path`` with the certs volume's mount point mapped to ``certs``
    (and the repository's relative paths kept working)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    text = (REPO / path).read_text().replace("/certs/", f"{certs}/")
    out.write_text(text.replace("rules/recording/", f"{REPO}/rules/recording/"))
    return out


@pytest.mark.parametrize("config", ["prometheus.yml", "docker/prometheus.yml"])
def test_promtool_accepts_prometheus_config(config: str, compose_certs: Path,
                                            tmp_path: Path) -> None:
    path = str(with_certs(config, compose_certs, tmp_path / "prometheus.yml")) \
        if config.startswith("docker/") else config
    result = run("promtool", "check", "config", path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_web_configs_load_with_the_generated_certificates(compose_certs: Path,
                                                                  tmp_path: Path) -> None:
    for name in ("exporter", "alerter"):
        web = load_web_config(with_certs(f"docker/web/{name}.yml", compose_certs,
                                         tmp_path / f"{name}.yml"))
        assert web.tls is not None and web.tls.verify_mode == ssl.CERT_OPTIONAL
    prom = with_certs("docker/web/prometheus.yml", compose_certs, tmp_path / "prom-web.yml")
    result = run("promtool", "check", "web-config", str(prom))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_recording_rules() -> None:
    files = sorted(str(p.relative_to(REPO)) for p in (REPO / "rules/recording").glob("*.yml"))
    assert files, "no recording rules"
    result = run("promtool", "check", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_config_loads_the_recording_rules() -> None:
    result = run("promtool", "check", "config", "prometheus.yml")
    assert "1 rule files found" in result.stdout + result.stderr, result.stdout


def test_availability_counts_unknown_and_monitoring_gaps_as_not_up() -> None:
    """promtool unit test: down, never probed and exporter unreachable all count against."""
    result = run("promtool", "test", "rules", "tests/stack/testdata/availability_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_recording_rules_stay_out_of_the_alerters_glob() -> None:
    """The alerter loads rules/*.yml; recording rules in there would be evaluated twice."""
    for path in (REPO / "rules").glob("*.yml"):
        doc = yaml.safe_load(path.read_text()) or {}
        for group in doc.get("groups", []):
            records = [r["record"] for r in group.get("rules", []) if "record" in r]
            assert not records, f"{path.name}: recording rules {records} belong in rules/recording/"


def test_docker_prometheus_config_matches_the_repositorys_except_targets_and_tls() -> None:
    def without_targets(path: Path) -> dict:
        doc = yaml.safe_load(path.read_text())
        for job in doc["scrape_configs"]:
            job.pop("static_configs")
            if path.parent.name == "docker":  # every scrape over TLS, with a client cert
                assert job.pop("scheme") == "https", job
                assert job.pop("tls_config") == {
                    "ca_file": "/certs/ca.crt", "cert_file": "/certs/prometheus-client.crt",
                    "key_file": "/certs/prometheus-client.key"}, job
        return doc

    assert without_targets(REPO / "docker/prometheus.yml") == without_targets(
        REPO / "prometheus.yml")


def test_prometheus_scrapes_exporter_and_alerter_every_15s() -> None:
    doc = yaml.safe_load((REPO / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in doc["scrape_configs"]}
    assert jobs["wardops-exporter"]["static_configs"][0]["targets"] == ["127.0.0.1:9469"]
    assert jobs["wardops-alerter"]["static_configs"][0]["targets"] == ["127.0.0.1:9470"]
    for name in ("wardops-exporter", "wardops-alerter"):
        assert jobs[name].get("scrape_interval", doc["global"]["scrape_interval"]) == "15s"


# ---------------------------------------------------------------- docker-compose

def compose_config() -> dict:
    result = run("docker-compose", "-f", "docker-compose.yml", "config", env=compose_env())
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_docker_compose_config_is_valid() -> None:
    services = compose_config()["services"]
    assert set(services) == {"certs", "exporter", "prometheus", "alerter", "grafana", "sink"}


def test_docker_compose_speaks_tls_between_all_parts() -> None:
    """Every server takes a web config (or, the sink, a certificate), every client URL
    is https, every part mounts the certificates, and the names the `certs` service
    issues are the names the others are reached by."""
    services = compose_config()["services"]
    certs = services["certs"]["command"]
    assert [certs[i + 1] for i, w in enumerate(certs) if w == "--server"] == COMPOSE_SERVERS
    assert [certs[i + 1] for i, w in enumerate(certs) if w == "--client"] == COMPOSE_CLIENTS
    for name in ("exporter", "alerter", "prometheus"):
        assert any(a.startswith("--web.config.file=") for a in services[name]["command"]), name
    assert "--tls-cert" in services["sink"]["command"]
    assert services["grafana"]["environment"]["GF_SERVER_PROTOCOL"] == "https"
    for name in ("exporter", "alerter", "prometheus", "sink", "grafana"):
        mounts = [v.split(":")[1] if isinstance(v, str) else v["target"]
                  for v in services[name]["volumes"]
                  if (v.split(":")[0] if isinstance(v, str) else v["source"]) == "certs"]
        assert mounts == ["/certs"], name
        test = " ".join(services[name]["healthcheck"]["test"])
        assert "http://" not in test, (name, test)
    alerter = (REPO / "docker/alerter.yml").read_text()
    grafana = (REPO / "docker/grafana/datasources/wardops.yml").read_text()
    for text in (alerter, grafana, (REPO / "docker/prometheus.yml").read_text()):
        assert "http://" not in re.sub(r"#.*", "", text)
    assert "url: https://prometheus:9090" in alerter and "url: https://sink:9099" in alerter
    assert "https://prometheus:9090" in grafana and "https://alerter:9470" in grafana


def test_compose_grafana_datasources_match_the_provisioned_ones_but_for_tls() -> None:
    """docker/grafana/ replaces grafana/provisioning/datasources/ in compose: the same
    datasources (uids, types, auth), with https URLs and the certificates."""
    def plain(doc: dict) -> list[dict]:
        out = []
        for ds in doc["datasources"]:
            ds = {k: v for k, v in ds.items() if k != "url"}
            ds["jsonData"] = {k: v for k, v in ds.get("jsonData", {}).items()
                              if not k.startswith("tlsAuth")}
            ds["secureJsonData"] = {k: v for k, v in ds.get("secureJsonData", {}).items()
                                    if not k.startswith("tls")}
            out.append(ds)
        return sorted(out, key=lambda d: d["uid"])
    ours = yaml.safe_load((REPO / "docker/grafana/datasources/wardops.yml").read_text())
    shipped = [yaml.safe_load(p.read_text()) for p in
               sorted((REPO / "grafana/provisioning/datasources").glob("*.yml"))]
    assert plain(ours) == plain({"datasources": [d for doc in shipped
                                                 for d in doc["datasources"]]})


def test_docker_compose_gives_the_exporter_no_capability_and_ping_sockets() -> None:
    """Non-root in the image, so a capability would not reach the process anyway: the
    exporter probes with datagram ICMP sockets that the namespaced sysctl allows."""
    exporter = compose_config()["services"]["exporter"]
    assert exporter["cap_drop"] == ["ALL"]
    assert not exporter.get("cap_add")
    assert exporter["sysctls"]["net.ipv4.ping_group_range"] == "0 2147483647"


def test_docker_compose_wardops_services_are_read_only_and_unprivileged() -> None:
    services = compose_config()["services"]
    for name in ("exporter", "alerter", "sink", "prometheus"):
        service = services[name]
        assert service.get("read_only") is True, f"{name}: root filesystem is writable"
        assert "no-new-privileges:true" in service.get("security_opt", []), name
    for name in ("exporter", "alerter", "sink"):
        assert services[name]["cap_drop"] == ["ALL"], name
    dockerfile = (REPO / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert users and not users[-1].startswith(("root", "0")), "the image runs as root"


def test_docker_image_promtool_matches_the_composed_prometheus() -> None:
    """A rule the alerter's promtool accepts must be one the running Prometheus accepts."""
    dockerfile = (REPO / "Dockerfile").read_text()
    arg = re.search(r"^ARG PROMETHEUS_VERSION=(\S+)", dockerfile, re.MULTILINE)
    assert arg, "Dockerfile: no PROMETHEUS_VERSION"
    assert re.search(r"^COPY --from=prometheus /bin/promtool", dockerfile, re.MULTILINE)
    image = compose_config()["services"]["prometheus"]["image"]
    assert image == f"prom/prometheus:{arg.group(1)}"


def test_docker_compose_every_service_has_a_health_check() -> None:
    for name, service in compose_config()["services"].items():
        assert service.get("healthcheck", {}).get("test"), f"{name}: no health check"


def test_docker_compose_keeps_state_in_named_volumes() -> None:
    config = compose_config()
    named = set(config["volumes"])
    assert {"exporter-state", "alerter-state", "prometheus-data", "grafana-data"} <= named
    for name, service in config["services"].items():
        for volume in service.get("volumes", []):
            source = volume["source"] if isinstance(volume, dict) else volume.split(":")[0]
            kind = volume.get("type") if isinstance(volume, dict) else None
            if kind == "volume" or source in named:
                continue
            # Bind mounts must name files that exist in the repository.
            assert Path(source).exists(), f"{name}: mounts missing {source}"


def test_docker_compose_inventory_can_be_pointed_elsewhere(tmp_path: Path) -> None:
    """WARDOPS_INVENTORY replaces the example inventory folder (docs/stack.md says so)."""
    result = run("docker-compose", "-f", "docker-compose.yml", "config",
                 env=compose_env(WARDOPS_INVENTORY=str(tmp_path)))
    assert result.returncode == 0, result.stderr
    exporter = yaml.safe_load(result.stdout)["services"]["exporter"]
    sources = [v["source"] if isinstance(v, dict) else v.split(":")[0]
               for v in exporter["volumes"]]
    assert str(tmp_path) in sources


def test_docker_compose_gives_the_api_token_to_alerter_and_grafana() -> None:
    """The alerter checks writes against WARDOPS_API_TOKEN; Grafana's Alertmanager
    datasource sends the same value as its basic-auth password."""
    services = compose_config()["services"]
    for name in ("alerter", "grafana"):
        assert services[name]["environment"]["WARDOPS_API_TOKEN"] == TOKEN, name
    alerter = yaml.safe_load((REPO / "docker/alerter.yml").read_text())
    assert alerter["api"] == {"bearer_token_env": "WARDOPS_API_TOKEN"}
    datasource = yaml.safe_load(
        (REPO / "grafana/provisioning/datasources/wardops-alertmanager.yml").read_text())
    password = datasource["datasources"][0]["secureJsonData"]["basicAuthPassword"]
    assert password == "${WARDOPS_API_TOKEN}"


def test_docker_compose_without_the_token_is_refused_with_a_hint() -> None:
    result = run("docker-compose", "-f", "docker-compose.yml", "config",
                 env={"PATH": "/usr/bin:/bin"})
    assert result.returncode != 0
    assert "set WARDOPS_API_TOKEN, e.g. in .env next to docker-compose.yml" in result.stderr


def test_docker_compose_reads_the_token_from_env_file_beside_it(tmp_path: Path) -> None:
    """docs/stack.md's recipe: a .env file next to docker-compose.yml."""
    shutil.copy(REPO / "docker-compose.yml", tmp_path / "docker-compose.yml")
    (tmp_path / ".env").write_text(f"WARDOPS_API_TOKEN={TOKEN}\n")
    result = run("docker-compose", "config", env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert services["alerter"]["environment"]["WARDOPS_API_TOKEN"] == TOKEN


# ---------------------------------------------------------------- Grafana

def test_dashboards_are_generated_from_the_builder() -> None:
    result = run("python3", "grafana/build_dashboards.py", "--check")
    assert result.returncode == 0, result.stderr


def test_dashboards_are_well_formed_json_with_unique_uids() -> None:
    files = sorted(DASHBOARD_DIR.glob("*.json"))
    assert len(files) == 5
    uids = [json.loads(p.read_text())["uid"] for p in files]
    assert len(set(uids)) == len(uids)


def test_provisioned_datasource_has_the_uid_the_dashboards_use() -> None:
    doc = yaml.safe_load((REPO / "grafana/provisioning/datasources/wardops.yml").read_text())
    assert [d["uid"] for d in doc["datasources"]] == [DATASOURCE_UID]


def _datasource_refs(node: object) -> list[object]:
    """Every ``datasource`` value anywhere in a JSON document."""
    found: list[object] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                found.append(value)
            found.extend(_datasource_refs(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_datasource_refs(item))
    return found


@pytest.mark.parametrize("path", sorted(DASHBOARD_DIR.glob("*.json")), ids=lambda p: p.name)
def test_dashboard_queries_go_through_a_datasource_variable_defaulting_to_ours(
        path: Path) -> None:
    """Importable into a Grafana the bank already runs: every query uses the dashboard's
    ``datasource`` variable (any Prometheus), which defaults to the provisioned uid."""
    text = path.read_text()
    assert "${DS_" not in text and "__inputs" not in text
    doc = json.loads(text)
    [variable] = [v for v in doc["templating"]["list"] if v["type"] == "datasource"]
    assert (variable["name"], variable["query"]) == ("datasource", "prometheus")
    assert variable["current"]["value"] == DATASOURCE_UID
    refs = _datasource_refs(doc)
    assert refs
    for ref in refs:
        assert isinstance(ref, dict), f"datasource given by name: {ref!r}"
        if ref.get("type") == "grafana":  # the built-in annotation source
            continue
        assert ref == {"type": "prometheus", "uid": "${datasource}"}


@pytest.mark.parametrize("uid,doc", sorted(dashboards().items()))
def test_dashboard_panels_fit_the_grid_without_overlap(uid: str, doc: dict) -> None:
    taken: set[tuple[int, int]] = set()
    ids = []
    for panel in panels(doc):
        ids.append(panel["id"])
        pos = panel["gridPos"]
        assert 0 <= pos["x"] and pos["x"] + pos["w"] <= 24, panel["title"]
        cells = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"])
                 for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not cells & taken, f"{uid}: {panel['title']} overlaps another panel"
        taken |= cells
        if panel["type"] != "row":
            assert panel.get("targets"), f"{uid}: {panel['title']} has no query"
    assert len(set(ids)) == len(ids)
    titles = [panel["title"] for panel in panels(doc)]
    assert len(set(titles)) == len(titles), f"{uid}: repeated panel titles"


def test_dashboard_provider_path_is_where_compose_mounts_the_dashboards() -> None:
    provider = yaml.safe_load((REPO / "grafana/provisioning/dashboards/wardops.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    grafana = compose_config()["services"]["grafana"]
    targets = {v["target"] if isinstance(v, dict) else v.split(":")[1]: v
               for v in grafana["volumes"]}
    assert path in targets


def test_every_dashboard_query_is_accepted_by_prometheus(tmp_path: Path) -> None:
    """A real Prometheus (no data) parses every panel, annotation and variable query."""
    assert {q.dashboard for q in annotation_queries()} == {"wardops-site", "wardops-device"}
    prom = Prometheus(tmp_path / "prom", {"global": {"scrape_interval": "15s"}})
    values = {"site": "S", "device": "D", "address": ".*"}
    problems = []
    try:
        for q in [*panel_queries(), *annotation_queries()]:
            try:
                prom.query(substitute(q.expr, values))
            except AssertionError as exc:
                problems.append(f"{q.dashboard} / {q.panel} / {q.ref}: {exc}")
        for uid, name, query in variable_queries():
            selector, _label = label_values_query(query)
            try:
                prom.query(substitute(selector, values))
            except AssertionError as exc:
                problems.append(f"{uid} variable {name}: {exc}")
    finally:
        prom.stop()
    assert not problems, "\n".join(problems)


def docker_alerter_config(tmp_path: Path, **urls: str) -> Path:
    """docker/alerter.yml with the image's paths mapped to the repository's and the
    compose service URLs (``prometheus``, ``sink``) replaced by ``urls``."""
    text = (REPO / "docker/alerter.yml").read_text()
    assert "/etc/wardops/rules/*.yml" in text
    text = text.replace("/etc/wardops/rules/", f"{REPO}/rules/")
    text = text.replace("/var/lib/wardops/alerter", str(tmp_path / "state"))
    certs = tmp_path / "certs"
    make_certs(certs, COMPOSE_SERVERS, COMPOSE_CLIENTS)
    text = text.replace("/certs/", f"{certs}/")
    for service, url in urls.items():
        assert f"https://{service}:" in text
        text = re.sub(rf"https://{service}:\d+", url, text)
    config = tmp_path / "alerter.yml"
    config.write_text(text)
    return config


def check_config(config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "alerter", "check-config", str(config)],
                          cwd=REPO, capture_output=True, text=True, timeout=60, env=env)


def test_docker_alerter_config_passes_check_config(tmp_path: Path) -> None:
    """docker/alerter.yml, with the token compose passes in; without it, a clear error."""
    config = docker_alerter_config(tmp_path)
    result = check_config(config, python_env(WARDOPS_API_TOKEN=TOKEN))
    assert result.returncode == 0, result.stdout + result.stderr
    env = python_env()
    env.pop("WARDOPS_API_TOKEN", None)
    result = check_config(config, env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "WARDOPS_API_TOKEN" in result.stderr


def test_docker_alerter_config_accepts_silences_with_the_token(netns: None,
                                                               tmp_path: Path) -> None:
    """The alerter on docker/alerter.yml: a silence with the token (as amtool's bearer
    token or Grafana's basic-auth password) is created; without it, refused."""
    port = free_port()
    config = docker_alerter_config(tmp_path, prometheus=f"http://127.0.0.1:{free_port()}",
                                   sink=f"http://127.0.0.1:{free_port()}")
    alerter = Proc.python("alerter", "--config", str(config), "--web.listen-address",
                          f"127.0.0.1:{port}", log=tmp_path / "alerter.log",
                          env=python_env(WARDOPS_API_TOKEN=TOKEN))
    try:
        wait_http(f"http://127.0.0.1:{port}/-/healthy", timeout=30)
        url = f"http://127.0.0.1:{port}/api/v2/silences"
        now = time.time()
        silence = {"matchers": [{"name": "site", "value": "Delta", "isRegex": False}],
                   "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
                   "endsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 3600)),
                   "createdBy": "test", "comment": "maintenance"}
        assert requests.post(url, json=silence, timeout=5).status_code == 401
        bearer = requests.post(url, json=silence, timeout=5,
                               headers={"Authorization": f"Bearer {TOKEN}"})
        assert bearer.status_code == 200, bearer.text
        basic = requests.post(url, json=silence, timeout=5, auth=("grafana", TOKEN))
        assert basic.status_code == 200, basic.text
        ids = {s["id"] for s in requests.get(url, timeout=5).json()}
        assert {bearer.json()["silenceID"], basic.json()["silenceID"]} <= ids
    finally:
        alerter.stop()


# ---------------------------------------------------------------- inhibition

def _demo_alerter_config(tmp_path: Path) -> Path:
    """The config scripts/demo.py generates, written where the alerter can load it."""
    spec = importlib.util.spec_from_file_location("wardops_demo", REPO / "scripts" / "demo.py")
    assert spec is not None and spec.loader is not None
    demo = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = demo  # its dataclasses look their module up there
    # it imports scripts/demo_loop.py from beside it, as when it runs as a script
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        spec.loader.exec_module(demo)
    finally:
        sys.path.remove(str(REPO / "scripts"))
    config = tmp_path / "demo-alerter.yml"
    config.write_text(yaml.safe_dump(demo.alerter_config(tmp_path, 9090, 9999, "5s")))
    return config


@pytest.mark.parametrize("which", ["examples/alerter.yml", "docker/alerter.yml", "demo"])
def test_site_down_inhibits_the_per_device_alerts_of_its_site(
        which: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A site outage sends one SiteDown, not also a DeviceDown, DeviceFlapping,
    ProbeFailing or ProbeStale per device of the site; other sites are untouched."""
    for name, value in {"WARDOPS_API_TOKEN": TOKEN, "CHAT_WEBHOOK_URL": "http://127.0.0.1:9/c",
                        "ONCALL_WEBHOOK_URL": "http://127.0.0.1:9/o", "ONCALL_HMAC": "s",
                        "DEADMANS_SWITCH_URL": "http://127.0.0.1:9/d"}.items():
        monkeypatch.setenv(name, value)
    path = {"examples/alerter.yml": lambda: REPO / which,
            "docker/alerter.yml": lambda: docker_alerter_config(tmp_path),
            "demo": lambda: _demo_alerter_config(tmp_path)}[which]()
    inhibitor = Inhibitor(load_config(path).notify.inhibit_rules)

    def alert(alertname: str, site: str, device: str = "") -> Alert:
        labels = {"alertname": alertname, "site": site, "severity": "warning"}
        if device:
            labels["device"] = device
        return Alert(labels=labels, annotations={}, state="firing", starts_at=0.0)
    site_down = alert("SiteDown", "Gori")
    per_device = ("DeviceDown", "DeviceFlapping", "ProbeFailing", "ProbeStale")
    gori = [alert(name, "Gori", f"gori-{i}") for i, name in enumerate(per_device)]
    telavi = [alert(name, "Telavi", f"telavi-{i}") for i, name in enumerate(per_device)]
    gori_latency = alert("HighLatency", "Gori", "gori-9")
    inhibitor.update([site_down, *gori, *telavi, gori_latency])
    for muted in gori:
        assert inhibitor.inhibited_by(muted) == [site_down.fingerprint], muted.labels
    for alert_ in [*telavi, site_down, gori_latency]:
        assert inhibitor.inhibited_by(alert_) == [], alert_.labels


def test_the_compose_tls_chain_works_end_to_end(netns: None, tmp_path: Path) -> None:
    """The compose stack's TLS, without Docker: the certificates the `certs` service
    makes, the web configs in docker/web/, docker/prometheus.yml and docker/alerter.yml,
    each part reached by its compose service name (as tls_config.server_name, the name
    Docker's DNS would give). Prometheus scrapes the exporter, the alerter and itself
    over TLS with its client certificate; the alerter queries Prometheus over TLS with
    its own and delivers Watchdog to the sink over HTTPS."""
    certs = tmp_path / "certs"
    make_certs(certs, COMPOSE_SERVERS, COMPOSE_CLIENTS)
    ca = certs / "ca.crt"
    ports = {name: free_port() for name in ("exporter", "alerter", "prometheus", "sink")}
    procs: list[Proc] = []
    try:
        inventory = tmp_path / "devices.yml"
        inventory.write_text("sites: {Poti: {}}\ndevices:\n"
                             "  - {name: Poti-R1, address: 127.0.0.1, site: Poti}\n")
        procs.append(Proc.python(
            "exporter", "--config", str(inventory), "--state-file", "",
            "--web.listen-address", f"127.0.0.1:{ports['exporter']}", "--web.config.file",
            str(with_certs("docker/web/exporter.yml", certs, tmp_path / "web/exporter.yml")),
            log=tmp_path / "exporter.log"))
        jsonl = tmp_path / "sink.jsonl"
        procs.append(Proc([sys.executable, str(REPO / "examples/webhook_sink.py"), "--listen",
                           f"127.0.0.1:{ports['sink']}", "--jsonl", str(jsonl), "--quiet",
                           "--tls-cert", str(certs / "sink.crt"),
                           "--tls-key", str(certs / "sink.key")], log=tmp_path / "sink.log"))

        prom = yaml.safe_load(with_certs("docker/prometheus.yml", certs,
                                         tmp_path / "prom/mapped.yml").read_text())
        for job in prom["scrape_configs"]:
            [target] = job["static_configs"][0]["targets"]
            service = {"localhost": "prometheus"}.get(target.split(":")[0],
                                                      target.split(":")[0])
            job["static_configs"] = [{"targets": [f"127.0.0.1:{ports[service]}"]}]
            job["tls_config"] = {**job["tls_config"], "server_name": service}
            job["scrape_interval"] = job["scrape_timeout"] = "1s"
        (tmp_path / "prom/prometheus.yml").write_text(yaml.safe_dump(prom))
        procs.append(Proc(["prometheus", f"--config.file={tmp_path / 'prom/prometheus.yml'}",
                           f"--storage.tsdb.path={tmp_path / 'prom/data'}",
                           f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
                           "--web.config.file=" + str(with_certs(
                               "docker/web/prometheus.yml", certs, tmp_path / "web/prom.yml")),
                           "--log.level=warn"], log=tmp_path / "prom/prometheus.log"))

        config = docker_alerter_config(
            tmp_path, prometheus=f"https://127.0.0.1:{ports['prometheus']}",
            sink=f"https://127.0.0.1:{ports['sink']}")
        doc = yaml.safe_load(config.read_text())
        doc["prometheus"]["tls_config"]["server_name"] = "prometheus"
        doc["receivers"][0]["webhook_configs"][0]["tls_config"]["server_name"] = "sink"
        doc["evaluation_interval"] = "1s"
        config.write_text(yaml.safe_dump(doc))
        procs.append(Proc.python(
            "alerter", "--config", str(config),
            "--web.listen-address", f"127.0.0.1:{ports['alerter']}", "--web.config.file",
            str(with_certs("docker/web/alerter.yml", certs, tmp_path / "web/alerter.yml")),
            log=tmp_path / "alerter.log", env=python_env(WARDOPS_API_TOKEN=TOKEN)))

        client = (str(certs / "grafana-client.crt"), str(certs / "grafana-client.key"))

        def targets() -> dict[str, str]:
            try:
                data = requests.get(f"https://127.0.0.1:{ports['prometheus']}/api/v1/targets",
                                    verify=str(ca), cert=client, timeout=2,
                                    headers={"Host": "prometheus"}).json()["data"]
            except (requests.RequestException, ValueError):
                return {}
            return {t["labels"]["job"]: t["health"] for t in data["activeTargets"]}

        want = {"wardops-exporter": "up", "wardops-alerter": "up", "prometheus": "up"}
        wait_for(lambda: targets() == want, timeout=60, what=f"all targets up over TLS "
                 f"(got {targets()})")

        def watchdog() -> bool:
            if not jsonl.exists():
                return False
            return any("Watchdog" in line for line in jsonl.read_text().splitlines())
        wait_for(watchdog, timeout=60, what="Watchdog delivered to the sink over HTTPS")
    finally:
        for proc in reversed(procs):
            proc.stop()


def test_the_sink_says_why_a_tls_handshake_failed(tmp_path: Path) -> None:
    """A sender with the wrong CA (or plain HTTP) used to leave the sink silent: the
    operator saw nothing arrive and no reason. The failed handshake is now on stderr."""
    make_certs(tmp_path / "certs", ["sink"], [])
    port = free_port()
    sink = Proc([sys.executable, str(REPO / "examples/webhook_sink.py"), "--listen",
                 f"127.0.0.1:{port}", "--quiet", "--tls-cert", str(tmp_path / "certs/sink.crt"),
                 "--tls-key", str(tmp_path / "certs/sink.key")], log=tmp_path / "sink.log")
    try:
        wait_for(lambda: _connects(port), timeout=15, what="the sink listening")

        def reported() -> int:  # the probe's bare connection fails its handshake too
            return (tmp_path / "sink.log").read_text().count("TLS handshake with 127.0.0.1")

        wait_for(lambda: reported() >= 1, timeout=10, what="the probe's handshake reported")
        before = reported()
        with pytest.raises(requests.RequestException):
            requests.post(f"http://127.0.0.1:{port}/", json={}, timeout=5)
        wait_for(lambda: reported() > before, timeout=10,
                 what="the plain-HTTP sender's failed handshake reported")
    finally:
        sink.stop()


def _connects(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True
