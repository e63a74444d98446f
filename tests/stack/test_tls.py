"""``--web.config.file`` (exporter-toolkit format) on both programs, with a real
Prometheus as the client: TLS with basic auth, and mutual TLS. A wrong password or an
untrusted client certificate is refused, and Prometheus shows that target down."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import requests
import yaml
from cryptography import x509
from stackparts import Prometheus

from tests.support import Proc, free_port, python_env, wait_for
from tests.support.certs import CA

PASSWORD = "scrape-s3cret"


def _hash(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


def _job(name: str, port: int, tls: dict[str, Any], auth: dict[str, Any] | None,
         path: str = "/metrics") -> dict[str, Any]:
    job: dict[str, Any] = {"job_name": name, "scheme": "https", "metrics_path": path,
                           "tls_config": tls,
                           "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
    if auth:
        job["basic_auth"] = auth
    return job


def _targets(prom: Prometheus) -> dict[str, dict[str, Any]]:
    data = requests.get(prom.url + "/api/v1/targets", timeout=5).json()["data"]
    return {t["labels"]["job"]: t for t in data["activeTargets"]}


def _up(prom: Prometheus, want: dict[str, str]) -> dict[str, dict[str, Any]]:
    return wait_for(lambda: (t := _targets(prom)) and all(
        t.get(job, {}).get("health") == health for job, health in want.items()) and t,
        timeout=40, what=f"targets {want} (got {_targets(prom)})")


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Any]:
    ca = CA(tmp_path / "pki")
    other = CA(tmp_path / "pki-other", name="untrusted CA")
    return {"ca": ca, "server": ca.issue("server", server=True),
            "client": ca.issue("prometheus", server=False),
            "stranger": other.issue("stranger", server=False)}


def test_prometheus_scrapes_both_over_tls_with_basic_auth(netns: None, tmp_path: Path,
                                                          pki: dict[str, Any]) -> None:
    web = tmp_path / "web.yml"
    web.write_text(yaml.safe_dump({
        "tls_server_config": {"cert_file": str(pki["server"].cert),
                              "key_file": str(pki["server"].key)},
        "basic_auth_users": {"prometheus": _hash(PASSWORD)},
        "http_server_config": {"headers": {"Strict-Transport-Security": "max-age=31536000"}}}))
    inventory = tmp_path / "devices.yml"
    inventory.write_text("sites: {Poti: {}}\ndevices:\n"
                         "  - {name: Poti-R1, address: 127.0.0.1, site: Poti}\n")
    exporter_port, alerter_port = free_port(), free_port()
    exporter = Proc.python("exporter", "--config", str(inventory), "--web.listen-address",
                           f"127.0.0.1:{exporter_port}", "--web.config.file", str(web),
                           "--state-file", "", log=tmp_path / "exporter.log")
    alerter_config = tmp_path / "alerter.yml"
    alerter_config.write_text(yaml.safe_dump({
        "prometheus": {"url": "http://127.0.0.1:9"}, "rule_files": [],
        "state_dir": str(tmp_path / "alerter-state")}))
    alerter = Proc.python("alerter", "--config", str(alerter_config), "--web.listen-address",
                          f"127.0.0.1:{alerter_port}", "--web.config.file", str(web),
                          log=tmp_path / "alerter.log")
    ca = {"ca_file": str(pki["ca"].pair.cert)}
    good = {"username": "prometheus", "password": PASSWORD}
    bad = {"username": "prometheus", "password": "guess"}
    prom = None
    try:
        for port in (exporter_port, alerter_port):
            wait_for(lambda port=port: _ok(f"https://127.0.0.1:{port}/-/healthy", pki, good),
                     timeout=30, what=f"HTTPS on {port}")
        prom = Prometheus(tmp_path / "prometheus", {
            "global": {"scrape_interval": "1s", "scrape_timeout": "900ms"},
            "scrape_configs": [
                _job("exporter", exporter_port, ca, good),
                _job("exporter-wrong-password", exporter_port, ca, bad),
                _job("exporter-no-password", exporter_port, ca, None),
                _job("alerter", alerter_port, ca, good),
                _job("alerter-wrong-password", alerter_port, ca, bad)]})
        targets = _up(prom, {"exporter": "up", "alerter": "up",
                             "exporter-wrong-password": "down",
                             "exporter-no-password": "down",
                             "alerter-wrong-password": "down"})
        assert "401" in targets["exporter-wrong-password"]["lastError"]
        assert prom.query('wardops_device_info{job="exporter"}')  # the data came through
        # the refusals are counted, and answered without a hint of the password
        auth = (good["username"], good["password"])
        metrics = requests.get(f"https://127.0.0.1:{exporter_port}/metrics", auth=auth,
                               verify=str(pki["ca"].pair.cert), timeout=5)
        assert metrics.headers["Strict-Transport-Security"] == "max-age=31536000"
        assert _sample(metrics.text, 'wardops_exporter_http_requests_refused_total'
                                     '{reason="wrong_credentials"}') >= 1
        alerter_metrics = requests.get(f"https://127.0.0.1:{alerter_port}/metrics", auth=auth,
                                       verify=str(pki["ca"].pair.cert), timeout=5).text
        assert _sample(alerter_metrics, 'wardops_alerter_api_requests_refused_total'
                                        '{api="http",reason="wrong_credentials"}') >= 1
        # plain HTTP to the TLS port gets nothing
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{exporter_port}/metrics", timeout=5)
    finally:
        if prom is not None:
            prom.stop()
        exporter.stop()
        alerter.stop()


def test_mutual_tls_refuses_an_untrusted_client_certificate(netns: None, tmp_path: Path,
                                                            pki: dict[str, Any]) -> None:
    web = tmp_path / "web.yml"
    web.write_text(yaml.safe_dump({"tls_server_config": {
        "cert_file": str(pki["server"].cert), "key_file": str(pki["server"].key),
        "client_auth_type": "RequireAndVerifyClientCert",
        "client_ca_file": str(pki["ca"].pair.cert), "min_version": "TLS13"}}))
    inventory = tmp_path / "devices.yml"
    inventory.write_text("sites: {Poti: {}}\ndevices:\n"
                         "  - {name: Poti-R1, address: 127.0.0.1, site: Poti}\n")
    port = free_port()
    exporter = Proc.python("exporter", "--config", str(inventory), "--web.listen-address",
                           f"127.0.0.1:{port}", "--web.config.file", str(web),
                           "--state-file", "", log=tmp_path / "exporter.log")
    ca = str(pki["ca"].pair.cert)
    prom = None
    try:
        wait_for(lambda: _ok(f"https://127.0.0.1:{port}/-/healthy", pki, None,
                             cert=pki["client"]), timeout=30, what="mutual TLS")
        prom = Prometheus(tmp_path / "prometheus", {
            "global": {"scrape_interval": "1s", "scrape_timeout": "900ms"},
            "scrape_configs": [
                _job("trusted", port, {"ca_file": ca, "cert_file": str(pki["client"].cert),
                                       "key_file": str(pki["client"].key)}, None),
                _job("untrusted", port, {"ca_file": ca, "cert_file": str(pki["stranger"].cert),
                                         "key_file": str(pki["stranger"].key)}, None),
                _job("no-certificate", port, {"ca_file": ca}, None)]})
        _up(prom, {"trusted": "up", "untrusted": "down", "no-certificate": "down"})
    finally:
        if prom is not None:
            prom.stop()
        exporter.stop()


def test_a_bad_web_config_is_refused_at_start_in_one_line(tmp_path: Path,
                                                          pki: dict[str, Any]) -> None:
    inventory = tmp_path / "devices.yml"
    inventory.write_text("sites: {Poti: {}}\ndevices: []\n")
    for body, says in (
            ({"basic_auth_users": {"prometheus": "plain-password"}}, "must be a bcrypt hash"),
            ({"tls_server_config": {"cert_file": str(pki["server"].cert),
                                    "key_file": str(pki["server"].key),
                                    "min_version": "TLS10"}}, "use TLS12 or TLS13"),
            ({"tls_server_config": {"cert_file": "missing.crt", "key_file": "x"}},
             "no such file"),
            ({"tls_server_config": {"cert_file": str(pki["server"].cert),
                                    "key_file": str(pki["server"].key),
                                    "client_auth_type": "RequireAnyClientCert"}},
             "nobody verifies"),
            ({"tls_servre_config": {}}, "did you mean 'tls_server_config'")):
        web = tmp_path / "web.yml"
        web.write_text(yaml.safe_dump(body))
        for program in ("exporter", "alerter"):
            args = (["--config", str(inventory)] if program == "exporter" else
                    ["--config", str(_alerter_config(tmp_path))])
            proc = Proc.python(program, *args, "--web.listen-address",
                               f"127.0.0.1:{free_port()}", "--web.config.file", str(web),
                               log=tmp_path / f"{program}.log")
            code = proc.popen.wait(30)
            output = proc.output().strip().splitlines()
            assert code == 2, (program, body, output)
            assert says in output[-1] and str(web) in output[-1], (program, output[-1])


def _alerter_config(tmp_path: Path) -> Path:
    path = tmp_path / "alerter.yml"
    path.write_text(yaml.safe_dump({"prometheus": {"url": "http://127.0.0.1:9"},
                                    "rule_files": [], "state_dir": str(tmp_path / "st")}))
    return path


def _ok(url: str, pki: dict[str, Any], auth: dict[str, str] | None, cert: Any = None) -> bool:
    try:
        resp = requests.get(url, verify=str(pki["ca"].pair.cert), timeout=2,
                            auth=(auth["username"], auth["password"]) if auth else None,
                            cert=(str(cert.cert), str(cert.key)) if cert else None)
    except requests.RequestException:
        return False
    return resp.status_code == 200


def _sample(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{series} not in /metrics")


def test_reload_over_http_needs_web_enable_lifecycle(netns: None, tmp_path: Path) -> None:
    """As Prometheus: without --web.enable-lifecycle, POST /-/reload is refused (SIGHUP
    still reloads); with it, it reloads."""
    inventory = tmp_path / "devices.yml"
    inventory.write_text("sites: {Poti: {}}\ndevices:\n"
                         "  - {name: Poti-R1, address: 127.0.0.1, site: Poti}\n")
    for flags, status in (((), 403), (("--web.enable-lifecycle",), 200)):
        port = free_port()
        exporter = Proc.python("exporter", "--config", str(inventory), "--web.listen-address",
                               f"127.0.0.1:{port}", "--state-file", "", *flags,
                               log=tmp_path / "exporter.log")
        try:
            wait_for(lambda port=port: _plain_ok(f"http://127.0.0.1:{port}/-/healthy"),
                     timeout=30, what="the exporter")
            resp = requests.post(f"http://127.0.0.1:{port}/-/reload", timeout=30)
            assert resp.status_code == status, resp.text
            if status == 403:
                assert resp.text == "Lifecycle API is not enabled.\n"
        finally:
            exporter.stop()


def _plain_ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_the_alerter_queries_a_prometheus_behind_tls_and_basic_auth(
        netns: None, tmp_path: Path, pki: dict[str, Any]) -> None:
    """Prometheus itself with --web.config.file (TLS + basic auth): the alerter reaches it
    with prometheus.tls_config (a private CA) and basic_auth, and evaluates; told the wrong
    CA, it trusts nothing it cannot verify: MonitoringDegraded says why, nothing fires."""
    prom_web = tmp_path / "prom-web.yml"
    prom_web.write_text(yaml.safe_dump({
        "tls_server_config": {"cert_file": str(pki["server"].cert),
                              "key_file": str(pki["server"].key)},
        "basic_auth_users": {"alerter": _hash(PASSWORD)}}))
    prom_dir = tmp_path / "prometheus"
    prom_dir.mkdir()
    (prom_dir / "prometheus.yml").write_text(yaml.safe_dump({"global": {}}))
    prom_port = free_port()
    prometheus = Proc(["prometheus", f"--config.file={prom_dir / 'prometheus.yml'}",
                       f"--storage.tsdb.path={prom_dir / 'data'}",
                       f"--web.listen-address=127.0.0.1:{prom_port}",
                       f"--web.config.file={prom_web}", "--log.level=warn"],
                      log=prom_dir / "prometheus.log")
    alerters: list[Proc] = []
    try:
        wait_for(lambda: _ok(f"https://127.0.0.1:{prom_port}/-/ready", pki,
                             {"username": "alerter", "password": PASSWORD}),
                 timeout=30, what="Prometheus over TLS")
        rules = tmp_path / "rules.yml"
        rules.write_text("groups:\n  - name: g\n    rules:\n      - alert: Always\n"
                         "        expr: vector(1)\n")
        results = {}
        for name, ca in (("trusted", pki["ca"].pair.cert), ("wrong-ca", pki["stranger"].cert)):
            config = tmp_path / f"alerter-{name}.yml"
            config.write_text(yaml.safe_dump({
                "prometheus": {"url": f"https://127.0.0.1:{prom_port}", "timeout": "2s",
                               "basic_auth": {"username": "alerter",
                                              "password_env": "PROM_PASSWORD"},
                               "tls_config": {"ca_file": str(ca)}},
                "evaluation_interval": "1s", "rule_files": [str(rules)],
                "data_health": {"targets": "", "probe_timestamp": ""},
                "state_dir": str(tmp_path / f"state-{name}")}))
            port = free_port()
            alerters.append(Proc.python(
                "alerter", "--config", str(config), "--web.listen-address",
                f"127.0.0.1:{port}", log=tmp_path / f"alerter-{name}.log",
                env=python_env(PROM_PASSWORD=PASSWORD)))
            results[name] = f"http://127.0.0.1:{port}"
        wait_for(lambda: _alert_names(results["trusted"]) == ["Always"], timeout=30,
                 what="the alert evaluated through TLS")
        wait_for(lambda: "certificate verify failed" in _degraded(results["wrong-ca"]),
                 timeout=30, what="MonitoringDegraded: the server certificate is not trusted")
        assert "Always" not in _alert_names(results["wrong-ca"])
    finally:
        for proc in alerters:
            proc.stop()
        prometheus.stop()


def _alert_names(url: str) -> list[str]:
    try:
        data = requests.get(url + "/api/v1/alerts", timeout=2).json()["data"]["alerts"]
    except (requests.RequestException, ValueError, KeyError):
        return []
    return sorted(a["labels"]["alertname"] for a in data if a.get("state") == "firing"
                  and a["labels"]["alertname"] != "MonitoringDegraded")


def _degraded(url: str) -> str:
    """The summaries of the alerter's MonitoringDegraded alerts."""
    try:
        data = requests.get(url + "/api/v1/alerts", timeout=2).json()["data"]["alerts"]
    except (requests.RequestException, ValueError, KeyError):
        return ""
    return " ".join(a["annotations"].get("summary", "") for a in data
                    if a["labels"]["alertname"] == "MonitoringDegraded")


def test_amtool_over_tls_writes_as_a_writer_and_only_reads_as_a_reader(
        netns: None, tmp_path: Path, pki: dict[str, Any]) -> None:
    """The real amtool against the alerter over TLS with basic auth (--web.config.file):
    the NOC user (in api.write_users) adds and expires silences; the wall display's user
    lists them but cannot add or expire one; no credentials or an untrusted server
    certificate get nothing. A broken web config on reload keeps the running one."""
    web = tmp_path / "web.yml"
    web.write_text(yaml.safe_dump({
        "tls_server_config": {"cert_file": str(pki["server"].cert),
                              "key_file": str(pki["server"].key)},
        "basic_auth_users": {"noc": _hash("noc-pass"), "wall": _hash("wall-pass")}}))
    rules = tmp_path / "rules.yml"
    rules.write_text("groups: []\n")
    config = tmp_path / "alerter.yml"
    config.write_text(yaml.safe_dump({
        "prometheus": {"url": f"http://127.0.0.1:{free_port()}", "timeout": "1s"},
        "evaluation_interval": "1s", "rule_files": [str(rules)],
        "data_health": {"targets": "", "probe_timestamp": ""},
        "state_dir": str(tmp_path / "state"), "api": {"write_users": ["noc"]}}))
    port = free_port()
    alerter = Proc.python("alerter", "--config", str(config), "--web.listen-address",
                          f"127.0.0.1:{port}", "--web.config.file", str(web),
                          log=tmp_path / "alerter.log")

    def amtool(who: str | None, *args: str, ca: Path = pki["ca"].pair.cert
               ) -> subprocess.CompletedProcess[str]:
        http: dict[str, Any] = {"tls_config": {"ca_file": str(ca)}}
        if who:
            http["basic_auth"] = {"username": who, "password": f"{who}-pass"}
        http_file = tmp_path / f"amtool-{who}.yml"
        http_file.write_text(yaml.safe_dump(http))
        return subprocess.run(
            ["amtool", f"--alertmanager.url=https://127.0.0.1:{port}",
             f"--http.config.file={http_file}", *args],
            capture_output=True, text=True, timeout=30, check=False)

    try:
        wait_for(lambda: _ok(f"https://127.0.0.1:{port}/-/ready", pki,
                             {"username": "wall", "password": "wall-pass"}),
                 timeout=30, what="the alerter over TLS")
        added = amtool("noc", "silence", "add", "site=Poti", "--duration=1h",
                       "--author=noc", "--comment=fibre works")
        assert added.returncode == 0, added.stderr
        silence_id = added.stdout.strip()
        listed = amtool("wall", "silence", "query", "-q")
        assert listed.returncode == 0 and listed.stdout.split() == [silence_id], listed
        for args in (("silence", "expire", silence_id),
                     ("silence", "add", "site=Batumi", "--comment=x")):
            denied = amtool("wall", *args)
            assert denied.returncode != 0 and "403" in denied.stderr, denied
        anonymous = amtool(None, "silence", "query")
        assert anonymous.returncode != 0 and "401" in anonymous.stderr, anonymous
        untrusted = amtool("noc", "silence", "query", ca=pki["stranger"].cert)
        assert untrusted.returncode != 0 and "certificate" in untrusted.stderr, untrusted
        expired = amtool("noc", "silence", "expire", silence_id)
        assert expired.returncode == 0, expired.stderr
        assert amtool("wall", "silence", "query", "-q").stdout.split() == []
        metrics = requests.get(f"https://127.0.0.1:{port}/metrics", auth=("wall", "wall-pass"),
                               verify=str(pki["ca"].pair.cert), timeout=5).text
        assert _sample(metrics, 'wardops_alerter_api_requests_refused_total'
                                '{api="v2",reason="read_only"}') == 2
        assert "wall-pass" not in (tmp_path / "alerter.log").read_text()

        # a broken web config on reload: refused, the running one kept, and said so
        web.write_text("basic_auth_users: {noc: plain-password}\n")
        reloaded = requests.post(f"https://127.0.0.1:{port}/-/reload",
                                 auth=("noc", "noc-pass"), verify=str(pki["ca"].pair.cert),
                                 timeout=10)
        assert reloaded.status_code == 400 and "must be a bcrypt hash" in reloaded.text
        metrics = requests.get(f"https://127.0.0.1:{port}/metrics", auth=("wall", "wall-pass"),
                               verify=str(pki["ca"].pair.cert), timeout=5).text
        assert _sample(metrics, "wardops_alerter_web_config_last_reload_successful") == 0
        assert _sample(metrics, "wardops_alerter_config_last_reload_successful") == 0
    finally:
        alerter.stop()


def _served_serial(port: int, ca: Path) -> int:
    """The serial number of the certificate the server presents to a new connection."""
    context = ssl.create_default_context(cafile=str(ca))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def test_a_renewed_certificate_is_served_without_reload_and_a_bad_file_keeps_the_running_one(
        netns: None, tmp_path: Path, pki: dict[str, Any]) -> None:
    """Certificate renewal as a bank does it: the files are replaced in place, nobody
    reloads. The exporter serves the new certificate to new connections within seconds,
    on the same listener; a broken web config (or a key that does not match) keeps the
    running one, says so in the log and in
    wardops_exporter_web_config_last_reload_successful, and the next good file is used."""
    ca = pki["ca"]
    live = tmp_path / "live"
    live.mkdir()
    cert, key = live / "server.crt", live / "server.key"
    shutil.copy(pki["server"].cert, cert)
    shutil.copy(pki["server"].key, key)
    web = tmp_path / "web.yml"
    good = {"tls_server_config": {"cert_file": str(cert), "key_file": str(key)},
            "basic_auth_users": {"prometheus": _hash(PASSWORD)}}
    web.write_text(yaml.safe_dump(good))
    inventory = tmp_path / "devices.yml"
    inventory.write_text("sites: {Poti: {}}\ndevices:\n"
                         "  - {name: Poti-R1, address: 127.0.0.1, site: Poti}\n")
    port = free_port()
    log = tmp_path / "exporter.log"
    exporter = Proc.python("exporter", "--config", str(inventory), "--web.listen-address",
                           f"127.0.0.1:{port}", "--web.config.file", str(web),
                           "--state-file", "", log=log)
    auth = {"username": "prometheus", "password": PASSWORD}

    def reload_ok() -> float:
        text = requests.get(f"https://127.0.0.1:{port}/metrics", verify=str(ca.pair.cert),
                            auth=(auth["username"], auth["password"]), timeout=5).text
        return _sample(text, "wardops_exporter_web_config_last_reload_successful")

    try:
        wait_for(lambda: _ok(f"https://127.0.0.1:{port}/-/healthy", pki, auth), timeout=30,
                 what="the exporter over TLS")
        first = _served_serial(port, ca.pair.cert)
        assert first == x509.load_pem_x509_certificate(cert.read_bytes()).serial_number
        kept = requests.Session()  # a connection opened before the renewal
        kept.get(f"https://127.0.0.1:{port}/-/healthy", verify=str(ca.pair.cert),
                 auth=(auth["username"], auth["password"]), timeout=5).raise_for_status()

        renewed = ca.issue("renewed", server=True)
        shutil.copy(renewed.key, key)   # not atomic: for a moment key and cert disagree
        shutil.copy(renewed.cert, cert)
        new_serial = x509.load_pem_x509_certificate(cert.read_bytes()).serial_number
        wait_for(lambda: _served_serial(port, ca.pair.cert) == new_serial, timeout=15,
                 what="the renewed certificate served")
        assert reload_ok() == 1
        kept.get(f"https://127.0.0.1:{port}/-/healthy", verify=str(ca.pair.cert),
                 auth=(auth["username"], auth["password"]), timeout=5).raise_for_status()

        web.write_text("tls_server_config: {cert_file: [\n")  # saved half-way
        wait_for(lambda: reload_ok() == 0, timeout=15, what="the bad file reported")
        assert _served_serial(port, ca.pair.cert) == new_serial  # still serving, as before
        assert "web config reload failed; keeping the running one" in log.read_text()

        good["basic_auth_users"]["grafana"] = _hash("grafana-pass")
        web.write_text(yaml.safe_dump(good))
        wait_for(lambda: reload_ok() == 1, timeout=15, what="the fixed file used")
        assert requests.get(f"https://127.0.0.1:{port}/metrics", verify=str(ca.pair.cert),
                            auth=("grafana", "grafana-pass"), timeout=5).status_code == 200
    finally:
        exporter.stop()
