"""Inventory loading: the example, the bank's CSV export, merging rules, and bad inputs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from exporter import config
from exporter.config import ConfigError, load_inventory, normalize_type, select_shard, shard_index
from exporter.icmp import Route

REPO = Path(__file__).resolve().parents[2]
TESTDATA = REPO / "tests" / "testdata" / "exporter"
CREDOBANK = REPO / "tests" / "data" / "credobank-devices.csv"

# Every invalid-*.yml with its exact message; {dir} is the testdata directory.
INVALID = {
    "unknown-top-key": "{dir}/invalid-unknown-top-key.yml: devicez: unknown key (known: "
                       "devices, inventory_files, path_defaults, probe, sites, snmp_defaults); did you mean "
                       "'devices'?",
    "unknown-device-key": "{dir}/invalid-unknown-device-key.yml: devices[0] (r1): adress: "
                          "unknown key (known: address, enabled, labels, latitude, longitude, "
                          "maintenance, name, parent, paths, site, snmp, type); did you mean 'address'?",
    "unknown-probe-key": "{dir}/invalid-unknown-probe-key.yml: probe: intervall: unknown key "
                         "(known: align_to_scrapes, count, down_after, interval, rtt_buckets, "
                         "timeout, up_after); did you mean 'interval'?",
    "path-interface": "{dir}/invalid-path-interface.yml: devices[0] (r1): paths[0] (Magti): "
                      "interface: no interface 'wan-magti0' on this host",
    "path-duplicate": "{dir}/invalid-path-duplicate.yml: devices[0] (r1): paths[1] (Magti): "
                      "isp: duplicate path name, also {dir}/invalid-path-duplicate.yml: "
                      "devices[0] (r1): paths[0]",
    "path-mark": "{dir}/invalid-path-mark.yml: path_defaults.router[0] (Silknet): mark: must "
                 "be a whole number from 0 to 0xffffffff (e.g. 16 or '0x10'), not 8589934591",
    "path-mark-text": "{dir}/invalid-path-mark-text.yml: devices[0] (r1): paths[0] (Silknet): "
                      "mark: must be a whole number from 0 to 0xffffffff (e.g. 16 or '0x10'), "
                      "not 'silknet'",
    "path-no-isp": "{dir}/invalid-path-no-isp.yml: devices[0] (r1): paths[0]: isp: missing "
                   "(the path's name, e.g. Magti)",
    "path-unknown-key": "{dir}/invalid-path-unknown-key.yml: devices[0] (r1): paths[0] (Magti): "
                        "adress: unknown key (known: address, enabled, interface, isp, mark, "
                        "source); did you mean 'address'?",
    "path-source-family": "{dir}/invalid-path-source-family.yml: devices[0] (r1): paths "
                          "(Magti): source: ::1 is not of the address family of 127.0.0.1",
    "csv-path-column": "{dir}/path-column.csv: line 1: column 'path_Magti_colour': path "
                       "columns are path_<isp>_<field> with field one of address, source, "
                       "interface, mark",
    "buckets-order": "{dir}/invalid-buckets-order.yml: probe.rtt_buckets: must be ascending "
                     "without repeats (0.01s then 0.005s)",
    "buckets-not-duration": "{dir}/invalid-buckets-not-duration.yml: probe.rtt_buckets[1]: "
                            "invalid duration 'fast' (use e.g. 500ms, 30s, 5m, 1h30m)",
    "buckets-not-list": "{dir}/invalid-buckets-not-list.yml: probe.rtt_buckets: must be a list "
                        "of durations (e.g. [1ms, 10ms, 100ms]), or [] for no histogram",
    "align-not-bool": "{dir}/invalid-align-not-bool.yml: probe.align_to_scrapes: must be true "
                      "or false, not 'yes please'",
    "missing-name": "{dir}/invalid-missing-name.yml: devices[0]: name: missing",
    "missing-address": "{dir}/invalid-missing-address.yml: devices[0] (r1): address: missing",
    "bad-address": "{dir}/invalid-bad-address.yml: devices[0] (r1): address: not an IP "
                   "address or host name: '10.1.2.300'",
    "bad-interval": "{dir}/invalid-bad-interval.yml: probe.interval: invalid duration "
                    "'30 seconds' (use e.g. 500ms, 30s, 5m, 1h30m)",
    "timeout-over-interval": "{dir}/invalid-timeout-over-interval.yml: probe.timeout: 2s must "
                             "be shorter than probe.interval 1s, or probes would overlap",
    "count-overruns-interval": "{dir}/invalid-count-overruns-interval.yml: probe.count: 3 "
                               "requests 0.1s apart plus probe.timeout 1900ms take 2.1s, which "
                               "must be shorter than probe.interval 2s, or probes would overlap",
    "default-timeout-over-interval": "{dir}/invalid-default-timeout-over-interval.yml: "
                                     "probe.timeout: 2s must be shorter than probe.interval 1s, "
                                     "or probes would overlap",
    "undeclared-site": "{dir}/invalid-undeclared-site.yml: devices[1] (Kharagauli-ATM): site: "
                       "'Kharagaui' is not declared under sites (did you mean 'Kharagauli'?)",
    "undeclared-new-site": "{dir}/invalid-undeclared-new-site.yml: devices[0] (Poti-ATM): site: "
                           "'Poti' is not declared under sites (declare it there, even as "
                           "'Poti: {{}}', if it is new)",
    "count-zero": "{dir}/invalid-count-zero.yml: probe.count: must be a whole number from 1 "
                  "to 100, not 0",
    "down-after-negative": "{dir}/invalid-down-after-negative.yml: probe.down_after: must be a "
                           "whole number from 1 to 1000, not -1",
    "duplicate-device": "{dir}/invalid-duplicate-device.yml: devices[1] (r1): duplicate "
                        "device: same name and address as {dir}/invalid-duplicate-device.yml: "
                        "devices[0] (r1)",
    "missing-include": "{dir}/invalid-missing-include.yml: inventory_files: nope.csv: no such "
                       "file",
    "csv-bad-row": "{dir}/bad-latitude.csv: line 3 (x): latitude: not a number: 'north'",
    "csv-missing-column": "{dir}/no-address.csv: line 1: missing column 'address'",
    "csv-unknown-column": "{dir}/unknown-column.csv: line 1: unknown column 'colour' (expected "
                          "name, address/ip, site/branch, type/device_type, region, vendor, "
                          "latitude, longitude, enabled, parent, label_<name> or path_<isp>_<field>)",
    "csv-field-count": "{dir}/field-count.csv: line 3 (y): has 2 fields, the header has 3",
    "csv-bad-enabled": "{dir}/bad-enabled.csv: line 2 (x): enabled: must be true or false, "
                       "not 'sometimes'",
    "csv-duplicate-of-yaml": "{dir}/duplicate.csv: line 3 (Marjanishvili): duplicate device: "
                             "same name and address as {dir}/invalid-csv-duplicate-of-yaml.yml: "
                             "devices[0] (Marjanishvili)",
    "reserved-label": "{dir}/invalid-reserved-label.yml: devices[0] (r1): labels.instance: "
                      "reserved label name (used by the exporter or Prometheus)",
    "snmp-label-clash": "{dir}/invalid-snmp-label-clash.yml: sites.Gldani: labels.isp: "
                        "reserved label name (set by the SNMP interface and system series)",
    "bad-label-name": "{dir}/invalid-bad-label-name.yml: devices[0] (r1): labels.bad-name: not "
                      "a valid Prometheus label name",
    "latitude-range": "{dir}/invalid-latitude-range.yml: sites.Kharagauli: latitude: 95.0 is "
                      "outside -90..90",
    "yaml-syntax": "{dir}/invalid-yaml-syntax.yml: line 3: invalid YAML: expected ',' or '}}', "
                   "but got '<stream end>'",
    "enabled-not-bool": "{dir}/invalid-enabled-not-bool.yml: devices[0] (r1): enabled: must be "
                        "true or false, not 'maybe'",
    "duplicate-site": "{dir}/include-site-a.yml: sites.A: duplicate site, also defined at "
                      "{dir}/invalid-duplicate-site.yml: sites.A",
    "devices-not-list": "{dir}/invalid-devices-not-list.yml: devices: must be a list",
    "include-unknown-key": "{dir}/include-with-probe.yml: probe: unknown key (known: "
                           "devices, sites)",
    "empty-type": "{dir}/invalid-empty-type.yml: devices[0] (r1): type: '--' has no letters "
                  "or digits",
    "csv-text": "{dir}/invalid-csv-text.yml: the file must be a mapping with probe, sites, "
                "devices (this looks like CSV: name the file *.csv to use it on its own, or list "
                "it under inventory_files: in a YAML file)",
    "top-level-list": "{dir}/invalid-top-level-list.yml: the file must be a mapping with probe, "
                      "sites, devices (a list of devices goes under devices:)",
    "parent-cycle": "{dir}/invalid-parent-cycle.yml: devices[0] (A-Router): parent: cycle of "
                    "dependencies: A-Router -> A-ATM -> A-Switch -> A-Router (the others: "
                    "{dir}/invalid-parent-cycle.yml: devices[2] (A-ATM); "
                    "{dir}/invalid-parent-cycle.yml: devices[1] (A-Switch))",
    "parent-unknown": "{dir}/invalid-parent-unknown.yml: devices[1] (A-ATM): parent: no device "
                      "named 'A-Swich' in the inventory (did you mean 'A-Switch'?)",
    "parent-ambiguous": "{dir}/invalid-parent-ambiguous.yml: devices[2] (A-ATM): parent: "
                        "'Marjanishvili' names 2 devices (127.0.1.2, 127.0.1.4); name it by its "
                        "address instead",
    "parent-self": "{dir}/invalid-parent-self.yml: devices[0] (A-ATM): parent: 'A-ATM' cannot "
                   "be its own parent",
    "parent-not-name": "{dir}/invalid-parent-not-name.yml: devices[0] (A-ATM): parent: must be a "
                       "device name (or address), a list of them, or [] for none, not "
                       "{{'name': 'x'}}",
}


def test_every_invalid_fixture_has_its_message() -> None:
    on_disk = {p.name[len("invalid-"):-len(".yml")] for p in TESTDATA.glob("invalid-*.yml")}
    assert on_disk == set(INVALID)
    assert len(on_disk) >= 15


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_inventory(name: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_inventory(TESTDATA / f"invalid-{name}.yml")
    assert str(err.value) == INVALID[name].format(dir=TESTDATA)
    assert "\n" not in str(err.value)


def test_paths_merge_defaults_device_entries_and_csv_columns() -> None:
    inv = load_inventory(TESTDATA / "paths-defaults.yml")
    by_name = {d.name: d for d in inv.devices}
    gori = by_name["Gori-Router"]
    # Magti: the default's source with the device's own address; Silknet dropped; Backup
    # added by the device
    assert [(p.isp, p.address, p.route) for p in gori.paths] == [
        ("Magti", "127.0.0.21", Route(source="127.0.0.10")),
        ("Backup", "127.0.0.20", Route(interface="lo"))]
    assert by_name["Gori-ATM"].paths == ()  # no defaults for atm
    # CSV: path_<isp>_<field> columns, the ISP's name as written; empty cells = not set
    r1 = by_name["r1"]
    assert [(p.isp, p.address, p.route) for p in r1.paths] == [
        ("Magti", "127.0.0.2", Route(source="127.0.0.10")),
        ("Silknet", "127.0.0.1", Route(mark=0x30))]
    assert [(p.isp, p.address, p.route) for p in by_name["r2"].paths] == [
        ("Magti", "127.0.0.5", Route(source="127.0.0.10")),
        ("Silknet", "127.0.0.5", Route(mark=16))]
    assert gori.path_key(gori.paths[0]) == ("Gori-Router", "127.0.0.20", "Magti")


def test_example_dual_isp_inventory() -> None:
    inv = load_inventory(REPO / "examples" / "dual-isp.yml")
    routers = [d for d in inv.devices if d.type == "router"]
    assert len(routers) == 4 and len(inv.devices) == 8
    for router in routers:  # two paths each, each to its own tunnel address
        assert [p.isp for p in router.paths] == ["Magti", "Silknet"]
        assert len({router.address, *(p.address for p in router.paths)}) == 3
    assert all(not d.paths for d in inv.devices if d.type == "atm")


def test_example_inventory() -> None:
    inv = load_inventory(REPO / "examples" / "devices.yml")
    assert len(inv.devices) == 18
    assert {d.type for d in inv.devices} == {"router", "switch", "access_point", "atm", "paybox",
                                             "nvr"}
    atm = next(d for d in inv.devices if d.name == "Kharagauli-ATM")
    # site labels and coordinates are inherited
    assert dict(atm.labels) == {"region": "Imereti"}
    assert (atm.latitude, atm.longitude) == (42.02, 43.2)
    assert inv.probe.interval == 10.0 and inv.probe.down_after == 2


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_credobank_export_loads_as_it_is(tmp_path: Path) -> None:
    main = write(tmp_path, "devices.yml", f"inventory_files: [{CREDOBANK}]\n")
    inv = load_inventory(main)
    # 875 rows, two of them enabled=false
    assert (len(inv.devices), inv.disabled) == (873, 2)
    marj = [d for d in inv.devices if d.name == "Marjanishvili"]
    # the same name at three addresses (one disabled): separate devices
    assert sorted(d.address for d in marj) == ["127.20.0.2", "127.20.1.132"]
    assert marj[0].type == "switch" and marj[0].site == "Marjanishvili"
    assert dict(marj[0].labels) == {"region": "Tbilisi"}  # empty vendor column: no label
    # one address behind two names: both kept
    shared = [d for d in inv.devices if d.address == "127.20.0.6"]
    assert len({d.name for d in shared}) == 2
    assert {d.type for d in inv.devices} == {
        "router", "paybox", "switch", "access_point", "nvr", "atm", "biostar", "core_router",
        "disaster_recovery"}
    # 140 branches in the file; one has only a disabled device
    assert len({d.site for d in inv.devices}) == 139


@pytest.mark.parametrize("label", ["ifindex", "ifname", "ifalias", "isp", "sysname", "sysdescr",
                                   "sysobjectid"])
def test_snmp_series_label_names_are_refused(tmp_path: Path, label: str) -> None:
    path = write(tmp_path, "devices.yml",
                 f"devices:\n  - {{name: r1, address: 127.0.0.1, labels: {{{label}: x}}}}\n")
    with pytest.raises(ConfigError, match=f"labels.{label}: reserved label name"):
        load_inventory(path)
    bank = write(tmp_path, "bank.csv", f"name,address,label_{label}\nr1,127.0.0.1,x\n")
    with pytest.raises(ConfigError, match=f"column 'label_{label}': '{label}' is not a usable"):
        load_inventory(bank)


def test_a_csv_file_is_an_inventory_on_its_own(tmp_path: Path) -> None:
    alone = load_inventory(CREDOBANK)
    included = load_inventory(write(tmp_path, "devices.yml", f"inventory_files: [{CREDOBANK}]\n"))
    assert alone.devices == included.devices and alone.disabled == 2
    assert alone.probe == config.ProbeSettings()
    assert alone.files == (str(CREDOBANK),)


def test_device_labels_override_site_labels_and_coordinates(tmp_path: Path) -> None:
    main = write(tmp_path, "devices.yml", """
sites:
  A: {labels: {region: Imereti, tier: gold}, latitude: 42.0, longitude: 43.0}
devices:
  - {name: r1, address: 127.0.0.1, site: A, type: Core Router,
     labels: {tier: silver, vendor: cisco}, latitude: 41.5}
  - {name: r2, address: 127.0.0.2, site: B, enabled: false}
  - {name: r3, address: "::1"}
  - {name: r4, address: localhost}
""")
    inv = load_inventory(main)
    r1, r3, r4 = inv.devices
    assert r1.type == "core_router"
    assert dict(r1.labels) == {"region": "Imereti", "tier": "silver", "vendor": "cisco"}
    assert (r1.latitude, r1.longitude) == (41.5, 43.0)
    assert (r3.ip, r3.site, r3.type) == ("::1", "", "")
    assert (r4.address, r4.ip) == ("localhost", None)
    assert inv.disabled == 1


def test_csv_columns_and_label_columns(tmp_path: Path) -> None:
    write(tmp_path, "more.csv", "name,address,site,type,vendor,label_rack,enabled\n"
                                "sw1,127.0.5.1,B,Access Point,ubnt,r7,yes\n"
                                "\n"
                                "sw2,127.0.5.2,B,switch,,,no\n")
    main = write(tmp_path, "devices.yml", "sites:\n  B: {labels: {region: Kakheti}}\n"
                                          "inventory_files: ['*.csv']\n")
    (sw1,) = load_inventory(main).devices
    assert sw1.type == "access_point"
    assert dict(sw1.labels) == {"rack": "r7", "region": "Kakheti", "vendor": "ubnt"}


@pytest.mark.parametrize("raw,expected", [("Access Point", "access_point"), ("NVR", "nvr"),
                                          ("PayBox", "paybox"), (" Core  Router ", "core_router"),
                                          ("Disaster-Recovery", "disaster_recovery")])
def test_normalize_type(raw: str, expected: str) -> None:
    assert normalize_type(raw) == expected


def test_snmp_settings_merge_type_defaults_then_site_then_device(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []

    def parse(raw, base_dir=None):  # type: ignore[no-untyped-def]
        seen.append(dict(raw))
        if raw.get("version") == "1":
            raise ValueError("version: must be 2c or 3")
        return ("parsed", dict(raw))

    monkeypatch.setattr(config, "parse_snmp_settings", parse)
    main = write(tmp_path, "devices.yml", """
snmp_defaults:
  Router: {version: 2c, port: 161, community_env: C}
sites:
  A: {snmp: {port: 1161}}
  B:
devices:
  - {name: r1, address: 127.0.0.1, site: A, type: router, snmp: {community_env: D}}
  - {name: r2, address: 127.0.0.2, site: B, type: router}
  - {name: s1, address: 127.0.0.3, site: B, type: switch}
""")
    r1, r2, s1 = load_inventory(main).devices
    assert r1.snmp == ("parsed", {"version": "2c", "port": 1161, "community_env": "D"})
    assert r2.snmp == ("parsed", {"version": "2c", "port": 161, "community_env": "C"})
    assert s1.snmp is None and len(seen) == 2
    bad = write(tmp_path, "bad.yml", "devices:\n  - {name: r9, address: 127.0.0.9, "
                                     "snmp: {version: '1'}}\n")
    with pytest.raises(ConfigError) as err:
        load_inventory(bad)
    assert str(err.value) == f"{bad}: devices[0] (r9): snmp.version: must be 2c or 3"


def test_shards_split_the_fleet_exactly_once(tmp_path: Path) -> None:
    main = write(tmp_path, "devices.yml", f"inventory_files: [{CREDOBANK}]\n")
    inv = load_inventory(main)
    everyone = sorted(d.key for d in inv.devices)
    for n in (1, 2, 3, 5):
        parts = [select_shard(inv, (k, n)).devices for k in range(1, n + 1)]
        assert sorted(d.key for part in parts for d in part) == everyone
        # a fair split: no shard more than 25% off its share
        assert all(abs(len(p) - len(everyone) / n) <= 0.25 * len(everyone) / n for p in parts)
    # stable: a device with the same name and address lands in the same shard elsewhere
    first = inv.devices[0]
    assert shard_index(first, 3) == shard_index(config.replace(first, site="elsewhere"), 3)


def test_a_probe_that_fits_its_interval_only_with_its_spacing_is_accepted(tmp_path: Path) -> None:
    # interval 3s, timeout 2s, count 3: the last request leaves 0.2 s after the first
    main = write(tmp_path, "devices.yml", "probe: {interval: 3s, timeout: 2s, count: 3}\n")
    probe = load_inventory(main).probe
    assert probe.longest_probe == pytest.approx(2.2)


def test_yaml_devices_may_use_sites_declared_later_or_named_by_csv_rows(tmp_path: Path) -> None:
    write(tmp_path, "branches.csv", "name,address,branch\nsw1,127.0.5.1,Marjanishvili\n"
                                    "sw2,127.0.5.2,Unlisted\n")
    write(tmp_path, "sites.yml", "sites:\n  Gldani: {labels: {region: Tbilisi}, latitude: 41.79}\n")
    main = write(tmp_path, "devices.yml", """
devices:
  - {name: r1, address: 127.0.0.1, site: Gldani}
  - {name: r2, address: 127.0.0.2, site: Marjanishvili}
  - {name: r3, address: 127.0.0.3}
  - {name: r4, address: 127.0.0.4, site: Typo, enabled: false}
inventory_files: [sites.yml, branches.csv]
""")
    inv = load_inventory(main)
    r1 = inv.devices[0]
    # the site's labels and coordinates reach a device listed before the site's file
    assert (r1.site, dict(r1.labels), r1.latitude) == ("Gldani", {"region": "Tbilisi"}, 41.79)
    # a CSV import names its branches without declaring them; YAML devices may join them
    assert [d.site for d in inv.devices] == ["Gldani", "Marjanishvili", "", "Marjanishvili",
                                             "Unlisted"]


def test_snmp_credential_files_are_read_from_the_inventory_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A relative community_file works whatever directory the exporter starts in."""
    conf = tmp_path / "conf"
    (conf / "secrets").mkdir(parents=True)
    (conf / "secrets" / "community").write_text("branch-ro\n")
    (conf / "devices.yml").write_text(
        "snmp_defaults:\n  router: {version: 2c, community_file: secrets/community}\n"
        "sites: {Gori: {}}\n"
        "devices:\n  - {name: Gori-R1, address: 127.0.0.1, site: Gori, type: router}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    inventory = load_inventory(conf / "devices.yml")
    assert inventory.devices[0].snmp.credentials.community.value == "branch-ro"


def test_parents_default_to_the_sites_routers_unless_configured(tmp_path: Path) -> None:
    """Within a site, devices other than routers are reached through all of its routers;
    ``parent`` (a name, an address, a list, or [] / "-" for none) overrides that, in YAML and
    in CSV."""
    inventory = write(tmp_path, "devices.yml", """
sites: {A: {}, B: {}}
devices:
  - {name: A-Router, address: 127.0.1.1, site: A, type: router}
  - {name: A-Core, address: 127.0.1.7, site: A, type: Core Router}
  - {name: A-Switch, address: 127.0.1.2, site: A, type: switch}
  - {name: A-ATM, address: 127.0.1.3, site: A, type: atm, parent: A-Switch}
  - {name: A-Cam, address: 127.0.1.4, site: A, type: nvr, parent: [127.0.1.2, A-Router]}
  - {name: A-Lone, address: 127.0.1.5, site: A, type: nvr, parent: []}
  - {name: B-ATM, address: 127.0.2.3, site: B, type: atm}
inventory_files: [more.csv]
""")
    write(tmp_path, "more.csv", "name,address,site,type,parent\n"
          "A-PayBox,127.0.1.8,A,paybox,A-ATM;A-Switch\n"
          "A-AP,127.0.1.9,A,access point,-\n"
          "A-NVR,127.0.1.10,A,nvr,\n")
    parents = {d.name: [name for name, _ in d.parents]
               for d in load_inventory(inventory).devices}
    assert parents == {
        "A-Router": [], "A-Core": [],  # routers have no default parent
        "A-Switch": ["A-Router", "A-Core"],
        "A-ATM": ["A-Switch"],
        "A-Cam": ["A-Switch", "A-Router"],
        "A-Lone": [],
        "B-ATM": [],  # a site without a router
        "A-PayBox": ["A-ATM", "A-Switch"],
        "A-AP": [],
        "A-NVR": ["A-Router", "A-Core"],
    }


def test_the_banks_export_gets_its_branch_routers_as_parents() -> None:
    inventory = load_inventory(CREDOBANK)
    with_parents = [d for d in inventory.devices if d.parents]
    assert len(with_parents) > 300
    by_key = {d.key: d for d in inventory.devices}
    for device in with_parents:
        assert all(by_key[k].site == device.site and by_key[k].type.endswith("router")
                   for k in device.parents), device


def test_a_device_key_is_made_once_and_follows_a_replace() -> None:
    """The store, the scheduler and /metrics each hold a device's key: one tuple, not
    one per use (three per device at 100,000 devices was 13 MiB more)."""
    inventory = load_inventory(REPO / "examples" / "devices.yml")
    device = inventory.devices[0]
    assert device.key == (device.name, device.address)
    assert device.key is device.key
    moved = replace(device, address="127.0.99.1")
    assert moved.key == (device.name, "127.0.99.1")
    assert moved != device and replace(moved, address=device.address) == device
    assert "key=" not in repr(device)
