"""Inventory loading and validation: one YAML file, plus included YAML and CSV files.

Everything that can be wrong with an inventory is found here, while it loads, and
reported as one :class:`ConfigError` line naming the file, the entry (``devices[3]
(name)`` or ``line 12 (name)``) and the field. The rest of the exporter only ever sees
a valid :class:`Inventory`.
"""

from __future__ import annotations

import csv
import difflib
import glob
import hashlib
import ipaddress
import math
import re
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from exporter.icmp import DEFAULT_ROUTE, DEFAULT_SPACING, Route
from exporter.latency import DEFAULT_BUCKETS, check_bounds
from exporter.maintenance import Window, parse_windows
from exporter.snmp.collector import IF_LABELS, INFO_LABELS
from exporter.snmp.settings import SnmpSettings, parse_snmp_settings
from wardops_common.durations import parse_duration
from wardops_common.readers import unknown_key
from wardops_common.text import text_problem
from wardops_common.yamlfile import ConfigError, read_yaml

# Labels every per-device series carries; extra labels may not reuse them, nor names
# Prometheus itself attaches at scrape time or the exporter's own label names.
CORE_LABELS = ("device", "address", "site", "type")
# The SNMP series' own labels (interface and system info), taken from the collector that
# sets them: a device label of the same name would be dropped from those series, so a
# dashboard grouping by it would silently miss every SNMP series of the device.
SNMP_LABELS = frozenset(IF_LABELS) | frozenset(INFO_LABELS)
RESERVED_LABELS = (frozenset(CORE_LABELS) | SNMP_LABELS
                   | {"latitude", "longitude", "reason", "state", "job", "instance"})
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")

_TOP_KEYS = {"probe", "sites", "devices", "inventory_files", "snmp_defaults", "path_defaults"}
_INCLUDE_KEYS = {"sites", "devices"}
_PROBE_KEYS = {"interval", "timeout", "count", "down_after", "up_after", "align_to_scrapes",
               "rtt_buckets"}
_SITE_KEYS = {"labels", "latitude", "longitude", "snmp", "maintenance"}
_DEVICE_KEYS = {"name", "address", "site", "type", "labels", "latitude", "longitude", "enabled",
                "snmp", "paths", "parent", "maintenance"}
_PATH_KEYS = {"isp", "address", "source", "interface", "mark", "enabled"}
_PATH_FIELDS = ("address", "source", "interface", "mark")  # also the CSV path_<isp>_<field>
MAX_PATHS = 8
_MAX_MARK = 0xFFFFFFFF
# CSV columns of wardops and the old system's export names for the same thing.
_CSV_ALIASES = {"ip": "address", "branch": "site", "device_type": "type"}
_CSV_COLUMNS = {"name", "address", "site", "type", "region", "vendor", "latitude", "longitude",
                "enabled", "parent"}
_TRUE = {"true", "yes", "1", "on", ""}
_FALSE = {"false", "no", "0", "off"}
MAX_COUNT = 100




@dataclass(frozen=True, slots=True)
class ProbeSettings:
    """How every device is probed (``probe:`` section)."""

    interval: float = 30.0
    timeout: float = 2.0
    count: int = 3
    down_after: int = 1
    up_after: int = 1
    #: end each cycle just before the next regular scrape (exporter.alignment); false:
    #: the even splay over the interval
    align_to_scrapes: bool = True
    spacing: float = DEFAULT_SPACING  # between one probe's requests; the engine's, not a key
    #: upper bounds of the RTT histogram (exporter.latency); () serves no histogram
    rtt_buckets: tuple[float, ...] = DEFAULT_BUCKETS

    @property
    def longest_probe(self) -> float:
        """Seconds one probe of a device that does not answer takes: its last request
        goes ``(count - 1) * spacing`` after the first, then waits ``timeout``."""
        return (self.count - 1) * self.spacing + self.timeout


@dataclass(frozen=True, slots=True)
class Site:
    """A branch or location; its labels and coordinates are inherited by its devices."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    latitude: float | None = None
    longitude: float | None = None
    snmp: Mapping[str, Any] | None = None
    maintenance: tuple[Window, ...] = ()  # applies to all of the site's devices


@dataclass(frozen=True, slots=True)
class IspPath:
    """One way to reach a device: through one ISP's uplink (``paths`` in the inventory).

    ``address`` is where its echo requests go (the device's own address unless the path
    has its own, e.g. the router's address on that ISP's tunnel); ``route`` is how they
    leave the exporter (source address, interface, firewall mark).
    """

    isp: str
    address: str
    ip: str | None
    route: Route = DEFAULT_ROUTE


@dataclass(frozen=True, slots=True)
class Device:
    """One probed device. ``name`` and ``address`` together identify it."""

    name: str
    address: str  # as configured: an IP literal or a DNS name
    site: str
    type: str  # lower_snake_case
    labels: tuple[tuple[str, str], ...] = ()  # extra labels, sorted by name
    latitude: float | None = None
    longitude: float | None = None
    snmp: SnmpSettings | None = None
    ip: str | None = None  # the address when it is an IP literal; None for DNS names
    source: str = ""  # "file: entry", for messages
    #: probed paths; empty: the device's own address over the default route
    paths: tuple[IspPath, ...] = ()
    #: keys of the devices it is reached through (``parent``; by default its site's
    #: routers): it is cut off only while all of them are down
    parents: tuple[tuple[str, str], ...] = ()
    maintenance: tuple[Window, ...] = ()  # its own windows (its site's are on the Site)
    #: The identity of the device across reloads and restarts: ``(name, address)``. Made
    #: once: the state store, the scheduler and /metrics each hold it, and a new tuple
    #: per use kept three alive per device (13 MiB more at 100,000 devices).
    key: tuple[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", (self.name, self.address))

    def path_key(self, path: IspPath) -> tuple[str, str, str]:
        """The identity of one of the device's paths (its state's key)."""
        return (self.name, self.address, path.isp)

    def label_pairs(self) -> tuple[tuple[str, str], ...]:
        """All labels of the device's per-device series, core labels first."""
        return (("device", self.name), ("address", self.address), ("site", self.site),
                ("type", self.type)) + self.labels


@dataclass(frozen=True, slots=True)
class Inventory:
    """A validated inventory."""

    path: str
    probe: ProbeSettings
    sites: Mapping[str, Site]
    devices: tuple[Device, ...]
    disabled: int = 0  # devices skipped with enabled: false
    files: tuple[str, ...] = ()  # every file read, main file first


def normalize_type(value: str) -> str:
    """``"Access Point"`` -> ``access_point``: a stable label value and snmp_defaults key."""
    return re.sub(r"[^a-z0-9]+", "_", value.strip().lower()).strip("_")


def parse_address(value: str) -> str | None:
    """Return the IP literal for ``value`` or None for a host name; ValueError if neither."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    name = value.removesuffix(".")
    labels = name.split(".")
    if (not name or len(name) > 253 or not all(_HOST_LABEL.match(p) for p in labels)
            or labels[-1].isdigit()):
        raise ValueError(f"not an IP address or host name: {value!r}")
    return None


def load_inventory(path: str | Path) -> Inventory:
    """Read and validate the inventory at ``path`` and everything it includes.

    Raises :class:`ConfigError` with a one-line message on the first problem.
    """
    return _Loader(Path(path)).load()


class _Loader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.sites: dict[str, Site] = {}
        self.site_origin: dict[str, str] = {}
        # Devices as read; their site's labels, coordinates and SNMP settings are merged in
        # at the end, when the sites of every file are known.
        self.devices: list[_RawDevice] = []
        self.csv_sites: set[str] = set()  # sites named by CSV rows (which cannot declare)
        self.seen: dict[tuple[str, str], str] = {}
        self.disabled = 0
        self.files: list[str] = [str(path)]
        self.snmp_defaults: dict[str, Mapping[str, Any]] = {}
        self.path_defaults: dict[str, list[dict[str, Any]]] = {}

    # -- top level ---------------------------------------------------------------------

    def load(self) -> Inventory:
        where = str(self.path)
        if self.path.suffix.lower() == ".csv":
            # An export from another tool, given on its own (`probe-once bank.csv`): its
            # devices with the default probe settings. Settings need a YAML file that
            # lists the CSV under inventory_files.
            self._add_csv(self.path)
            return self._inventory(ProbeSettings())
        doc = _read_yaml(self.path)
        if doc is None:
            doc = {}
        if not isinstance(doc, Mapping):
            raise ConfigError(f"{where}: the file must be a mapping with probe, sites, devices"
                              f"{_not_a_mapping_hint(doc)}")
        _check_keys(doc, _TOP_KEYS, f"{where}")
        probe = _parse_probe(doc.get("probe"), where)
        self.snmp_defaults = _parse_snmp_defaults(doc.get("snmp_defaults"), where)
        self.path_defaults = _parse_path_defaults(doc.get("path_defaults"), where)
        self._add_yaml_doc(doc, where)
        for include in _expand_includes(doc.get("inventory_files"), self.path, where):
            self.files.append(str(include))
            if include.suffix.lower() == ".csv":
                self._add_csv(include)
            else:
                inc_doc = _read_yaml(include)
                if inc_doc is None:
                    continue
                if not isinstance(inc_doc, Mapping):
                    raise ConfigError(f"{include}: an included file must be a mapping with "
                                      "sites and/or devices")
                _check_keys(inc_doc, _INCLUDE_KEYS, str(include))
                self._add_yaml_doc(inc_doc, str(include))
        return self._inventory(probe)

    def _inventory(self, probe: ProbeSettings) -> Inventory:
        """The inventory of everything read so far, checked and merged."""
        self._check_sites()
        devices = tuple(self._with_snmp(self._device(raw), raw.snmp) for raw in self.devices)
        devices = resolve_parents(devices, [raw.parent for raw in self.devices])
        return Inventory(path=str(self.path), probe=probe, sites=dict(self.sites),
                         devices=devices, disabled=self.disabled, files=tuple(self.files))

    def _add_yaml_doc(self, doc: Mapping[str, Any], where: str) -> None:
        sites = doc.get("sites")
        if sites is not None:
            if not isinstance(sites, Mapping):
                raise ConfigError(f"{where}: sites: must be a mapping of site name to settings")
            for name, body in sites.items():
                self._add_site(_parse_site(name, body, where), f"{where}: sites.{_shown(name)}")
        devices = doc.get("devices")
        if devices is None:
            return
        if not isinstance(devices, list):
            raise ConfigError(f"{where}: devices: must be a list")
        for index, entry in enumerate(devices):
            label = f"devices[{index}]"
            if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
                label += f" ({_shown(entry['name'])})"
            self._add_device(_device_from_yaml(entry, f"{where}: {label}"), from_csv=False)

    def _add_site(self, site: Site, origin: str) -> None:
        if site.name in self.site_origin:
            raise ConfigError(f"{origin}: duplicate site, also defined at "
                              f"{self.site_origin[site.name]}")
        self.sites[site.name] = site
        self.site_origin[site.name] = origin

    def _add_device(self, raw: _RawDevice | None, from_csv: bool) -> None:
        if raw is None:
            self.disabled += 1
            return
        key = (raw.name, raw.address)
        if key in self.seen:
            raise ConfigError(f"{raw.source}: duplicate device: same name and address as "
                              f"{self.seen[key]}")
        self.seen[key] = raw.source
        raw.from_csv = from_csv
        if from_csv and raw.site:
            self.csv_sites.add(raw.site)
        self.devices.append(raw)

    def _check_sites(self) -> None:
        """A YAML device's site must be declared under ``sites`` (in any file) or be one a
        CSV file uses: an unknown name there is most likely a typo, which would split
        a branch in two (site alerts, labels and coordinates would miss the device).
        CSV rows may name any site: imports of other tools' exports declare none."""
        known = set(self.sites) | self.csv_sites
        for raw in self.devices:
            if raw.from_csv or not raw.site or raw.site in known:
                continue
            close = difflib.get_close_matches(raw.site, sorted(known), n=1)
            hint = (f"did you mean {close[0]!r}?" if close else
                    f"declare it there, even as '{raw.site}: {{}}', if it is new")
            raise ConfigError(f"{raw.source}: site: {raw.site!r} is not declared under "
                              f"sites ({hint})")

    def _device(self, raw: _RawDevice) -> Device:
        """The device with its site's labels and coordinates (its own take precedence)."""
        site = self.sites.get(raw.site) if raw.site else None
        labels: dict[str, str] = dict(site.labels) if site else {}
        labels.update(raw.labels)
        latitude = raw.latitude if raw.latitude is not None else (site.latitude if site else None)
        longitude = raw.longitude if raw.longitude is not None else (
            site.longitude if site else None)
        return Device(name=raw.name, address=raw.address, site=raw.site, type=raw.type,
                      labels=tuple(sorted(labels.items())), latitude=latitude,
                      longitude=longitude, ip=raw.ip, source=raw.source,
                      paths=self._paths(raw), maintenance=raw.maintenance)

    def _paths(self, raw: _RawDevice) -> tuple[IspPath, ...]:
        """``path_defaults[type]`` with the device's own ``paths`` merged in by ``isp``
        (field by field; ``enabled: false`` drops a default path)."""
        merged: dict[str, dict[str, Any]] = {
            entry["isp"]: dict(entry) for entry in self.path_defaults.get(raw.type, ())}
        for entry in raw.paths:
            merged.setdefault(entry["isp"], {}).update(entry)
        paths = []
        for isp, body in merged.items():
            if not body.get("enabled", True):
                continue
            address = body.get("address") or raw.address
            ip = body["ip"] if body.get("address") else raw.ip
            source = body.get("source", "")
            if source and ip and (":" in source) != (":" in ip):
                raise ConfigError(f"{raw.source}: paths ({_shown(isp)}): source: {source} is "
                                  f"not of the address family of {address}")
            paths.append(IspPath(isp=isp, address=address, ip=ip, route=Route(
                source=source, interface=body.get("interface", ""), mark=body.get("mark"))))
        if len(paths) > MAX_PATHS:
            raise ConfigError(f"{raw.source}: paths: at most {MAX_PATHS} paths per device, "
                              f"not {len(paths)}")
        return tuple(paths)

    def _with_snmp(self, device: Device, own: Mapping[str, Any] | None) -> Device:
        """Merge ``snmp_defaults[type]`` < site ``snmp`` < device ``snmp`` and validate."""
        merged: dict[str, Any] = {}
        defaults = self.snmp_defaults.get(device.type)
        site = self.sites.get(device.site)
        for layer in (defaults, site.snmp if site else None, own):
            if layer:
                merged.update(layer)
        if not merged:
            return device
        try:
            # Relative *_file paths are read from the main config's folder, as Prometheus
            # does, so the exporter finds them whatever directory it was started from.
            settings = parse_snmp_settings(merged, base_dir=self.path.parent)
        except ValueError as exc:
            raise ConfigError(f"{device.source}: snmp.{exc}") from None
        return replace(device, snmp=settings)

    # -- CSV ---------------------------------------------------------------------------

    def _add_csv(self, path: Path) -> None:
        try:
            with open(path, newline="", encoding="utf-8-sig") as handle:
                reader = csv.reader(handle)
                header = next(reader, None)
                if header is None:
                    return
                columns = [_csv_column(name, path) for name in header]
                for required in ("name", "address"):
                    if required not in columns:
                        raise ConfigError(f"{path}: line 1: missing column {required!r}")
                dupes = {c for c in columns if columns.count(c) > 1}
                if dupes:
                    raise ConfigError(f"{path}: line 1: column {min(dupes)!r} appears "
                                      "twice (with its alias?)")
                for row in reader:
                    if not any(cell.strip() for cell in row):
                        continue
                    line = reader.line_num
                    name_at = columns.index("name")
                    name = row[name_at].strip() if name_at < len(row) else ""
                    entry = f"{path}: line {line}" + (f" ({_shown(name)})" if name else "")
                    if len(row) != len(columns):
                        raise ConfigError(f"{entry}: has {len(row)} fields, the header has "
                                          f"{len(columns)}")
                    self._add_csv_row(dict(zip(columns, (c.strip() for c in row))), entry)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
        except (UnicodeDecodeError, csv.Error) as exc:
            raise ConfigError(f"{path}: not a readable CSV file: {exc}") from None

    def _add_csv_row(self, row: dict[str, str], entry: str) -> None:
        enabled = row.pop("enabled", "").lower()
        if enabled not in _TRUE | _FALSE:
            raise ConfigError(f"{entry}: enabled: must be true or false, not {enabled!r}")
        body: dict[str, Any] = {"enabled": enabled in _TRUE}
        labels = {}
        paths: dict[str, dict[str, str]] = {}
        for column, value in row.items():
            if column.startswith("path:"):
                _, isp, key = column.split(":", 2)
                if value:
                    paths.setdefault(isp, {"isp": isp})[key] = value
            elif column.startswith("label_"):
                labels[column[len("label_"):]] = value
            elif column in ("region", "vendor"):
                labels[column] = value
            elif column in ("latitude", "longitude"):
                if value:
                    body[column] = value
            elif column == "parent":
                # "a;b": two parents; "-": none; empty: the default (the site's routers)
                if value == "-":
                    body["parent"] = []
                elif value:
                    body["parent"] = [name.strip() for name in value.split(";")]
            else:
                body[column] = value
        # Empty cells mean "no such label", as an absent key would in YAML.
        body["labels"] = {k: v for k, v in labels.items() if v}
        if paths:
            body["paths"] = list(paths.values())
        self._add_device(_device_from_mapping(body, entry), from_csv=True)


@dataclass(slots=True)
class _RawDevice:
    name: str
    address: str
    ip: str | None
    site: str
    type: str
    labels: dict[str, str]
    latitude: float | None
    longitude: float | None
    snmp: Mapping[str, Any] | None
    source: str
    paths: list[dict[str, Any]] = field(default_factory=list)  # checked, not merged yet
    from_csv: bool = False
    parent: list[str] | None = None  # as written; None: the default (the site's routers)
    maintenance: tuple[Window, ...] = ()


def _read_yaml(path: Path) -> Any:
    return read_yaml(path)


def _not_a_mapping_hint(doc: Any) -> str:
    """Why a main file is not a mapping, when it can be guessed."""
    if isinstance(doc, list):
        return " (a list of devices goes under devices:)"
    if isinstance(doc, str) and "," in doc.split(" ", 1)[0]:
        return (" (this looks like CSV: name the file *.csv to use it on its own, or list it "
                "under inventory_files: in a YAML file)")
    return ""


def _check_keys(body: Mapping[str, Any], allowed: set[str], where: str) -> None:
    for key in body:
        if key not in allowed:
            raise ConfigError(f"{where}: {key}: {unknown_key(key, allowed)}")


def _parse_probe(raw: Any, where: str) -> ProbeSettings:
    if raw is None:
        return ProbeSettings()
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: probe: must be a mapping")
    _check_keys(raw, _PROBE_KEYS, f"{where}: probe")
    values: dict[str, Any] = {}
    for key in ("interval", "timeout"):
        if key in raw:
            try:
                values[key] = parse_duration(raw[key])
            except ValueError as exc:
                raise ConfigError(f"{where}: probe.{key}: {exc}") from None
            if values[key] <= 0:
                raise ConfigError(f"{where}: probe.{key}: must be greater than 0")
    for key, low, high in (("count", 1, MAX_COUNT), ("down_after", 1, 1000),
                           ("up_after", 1, 1000)):
        if key in raw:
            value = raw[key]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(f"{where}: probe.{key}: must be a whole number from {low} "
                                  f"to {high}, not {value!r}")
            values[key] = value
    if "align_to_scrapes" in raw:
        if not isinstance(raw["align_to_scrapes"], bool):
            raise ConfigError(f"{where}: probe.align_to_scrapes: must be true or false, not "
                              f"{raw['align_to_scrapes']!r}")
        values["align_to_scrapes"] = raw["align_to_scrapes"]
    if "rtt_buckets" in raw:
        values["rtt_buckets"] = _parse_buckets(raw["rtt_buckets"], f"{where}: probe.rtt_buckets")
    probe = ProbeSettings(**values)
    # The numbers as the user wrote them, or the defaults in the same form.
    interval = raw.get("interval", f"{probe.interval:g}s")
    timeout = raw.get("timeout", f"{probe.timeout:g}s")
    if probe.timeout >= probe.interval:
        raise ConfigError(f"{where}: probe.timeout: {timeout} must be shorter than "
                          f"probe.interval {interval}, or probes would overlap")
    if probe.longest_probe >= probe.interval:
        # A device that does not answer would still be probed when its next turn comes:
        # every other turn skipped, every cycle overrun.
        raise ConfigError(
            f"{where}: probe.count: {probe.count} requests {probe.spacing:g}s apart plus "
            f"probe.timeout {timeout} take "
            f"{probe.longest_probe:g}s, which must be shorter than probe.interval {interval}, "
            "or probes would overlap")
    return probe


def _parse_buckets(raw: Any, where: str) -> tuple[float, ...]:
    """``probe.rtt_buckets``: a list of durations (``1ms``, ``0.2s`` or seconds)."""
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: must be a list of durations (e.g. [1ms, 10ms, 100ms]), "
                          "or [] for no histogram")
    bounds = []
    for index, item in enumerate(raw):
        try:
            bounds.append(parse_duration(item))
        except ValueError as exc:
            raise ConfigError(f"{where}[{index}]: {exc}") from None
    problem = check_bounds(bounds)
    if problem:
        raise ConfigError(f"{where}: {problem}")
    return tuple(bounds)


def _parse_path_defaults(raw: Any, where: str) -> dict[str, list[dict[str, Any]]]:
    """``path_defaults``: {device type: [path, ...]}, each path checked on its own."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: path_defaults: must be a mapping of device type to a "
                          "list of paths")
    return {normalize_type(str(type_name)): _parse_paths(
        body, f"{where}: path_defaults.{_shown(type_name)}") for type_name, body in raw.items()}


def _parse_paths(raw: Any, where: str) -> list[dict[str, Any]]:
    """A ``paths`` list: each entry checked, ``isp`` names unique."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: must be a list of paths ({{isp: Magti, address: ...}})")
    seen: dict[str, int] = {}
    paths = []
    for index, body in enumerate(raw):
        entry = _parse_path(body, f"{where}[{index}]")
        if entry["isp"] in seen:
            raise ConfigError(f"{where}[{index}] ({_shown(entry['isp'])}): isp: duplicate path "
                              f"name, also {where}[{seen[entry['isp']]}]")
        seen[entry["isp"]] = index
        paths.append(entry)
    return paths


def _parse_path(body: Any, where: str) -> dict[str, Any]:
    """One path entry as checked fields (``isp`` and the keys it sets)."""
    if not isinstance(body, Mapping):
        raise ConfigError(f"{where}: must be a mapping with isp and address, source, "
                          "interface or mark")
    isp = body.get("isp")
    if not isinstance(isp, str) or not isp.strip():
        raise ConfigError(f"{where}: isp: missing (the path's name, e.g. Magti)")
    isp = _checked_text(isp.strip(), f"{where}: isp")
    where = f"{where} ({_shown(isp)})"
    _check_keys(body, _PATH_KEYS, where)
    entry: dict[str, Any] = {"isp": isp}
    if "enabled" in body:
        if not isinstance(body["enabled"], bool):
            raise ConfigError(f"{where}: enabled: must be true or false, not "
                              f"{body['enabled']!r}")
        entry["enabled"] = body["enabled"]
    for key in ("address", "source", "interface"):
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where}: {key}: must be a non-empty string, not {value!r}")
        entry[key] = value.strip()
    if "address" in entry:
        try:
            entry["ip"] = parse_address(entry["address"])
        except ValueError as exc:
            raise ConfigError(f"{where}: address: {exc}") from None
    if "source" in entry:
        try:
            entry["source"] = str(ipaddress.ip_address(entry["source"]))
        except ValueError:
            raise ConfigError(f"{where}: source: not an IP address: "
                              f"{entry['source']!r}") from None
    if "interface" in entry:
        try:
            socket.if_nametoindex(entry["interface"])
        except OSError:
            raise ConfigError(f"{where}: interface: no interface {entry['interface']!r} on "
                              "this host") from None
    if "mark" in body:
        entry["mark"] = _parse_mark(body["mark"], where)
    return entry


def _parse_mark(raw: Any, where: str) -> int:
    """A firewall mark: a whole number 0..0xFFFFFFFF, or its text (``"0x10"``)."""
    value: int | None = None
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif isinstance(raw, str):
        try:
            value = int(raw.strip(), 0)
        except ValueError:
            value = None
    if value is None or not 0 <= value <= _MAX_MARK:
        raise ConfigError(f"{where}: mark: must be a whole number from 0 to 0xffffffff "
                          f"(e.g. 16 or '0x10'), not {raw!r}")
    return value


def _parse_snmp_defaults(raw: Any, where: str) -> dict[str, Mapping[str, Any]]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: snmp_defaults: must be a mapping of device type to settings")
    result: dict[str, Mapping[str, Any]] = {}
    for type_name, body in raw.items():
        if not isinstance(body, Mapping):
            raise ConfigError(f"{where}: snmp_defaults.{type_name}: must be a mapping")
        result[normalize_type(str(type_name))] = body
    return result


def _parse_labels(raw: Any, where: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: labels: must be a mapping of label name to value")
    labels = {}
    for key, value in raw.items():
        key = str(key)
        if not _LABEL_NAME.match(key) or key.startswith("__"):
            raise ConfigError(f"{where}: labels.{key}: not a valid Prometheus label name")
        if key in SNMP_LABELS:
            raise ConfigError(f"{where}: labels.{key}: reserved label name (set by the SNMP "
                              "interface and system series)")
        if key in RESERVED_LABELS:
            raise ConfigError(f"{where}: labels.{key}: reserved label name (used by the exporter "
                              "or Prometheus)")
        if isinstance(value, (Mapping, list)) or value is None:
            raise ConfigError(f"{where}: labels.{key}: must be a string")
        labels[key] = _checked_text(str(value), f"{where}: labels.{key}")
    return labels


def _parse_coordinate(raw: Any, name: str, limit: float, where: str) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw) if not isinstance(raw, bool) else float("nan")
    except (TypeError, ValueError):
        value = float("nan")
    if math.isnan(value):  # not a number, or a YAML boolean
        raise ConfigError(f"{where}: {name}: not a number: {raw!r}")
    if not -limit <= value <= limit:
        raise ConfigError(f"{where}: {name}: {value} is outside -{limit:g}..{limit:g}")
    return value


def _checked_text(value: str, what: str) -> str:
    """``value`` if it is acceptable as a name or label value (wardops_common.text)."""
    problem = text_problem(value)
    if problem:
        raise ConfigError(f"{what}: {value!r} {problem}")
    return value


def _shown(value: object) -> str:
    """A name as it can be shown inside a one-line message."""
    text = str(value)
    return text if text_problem(text) is None else repr(text)


def _parse_site(name: Any, body: Any, where: str) -> Site:
    entry = f"{where}: sites.{_shown(name)}"
    _checked_text(str(name), f"{entry}: site name")
    if body is None:
        body = {}
    if not isinstance(body, Mapping):
        raise ConfigError(f"{entry}: must be a mapping")
    _check_keys(body, _SITE_KEYS, entry)
    snmp = body.get("snmp")
    if snmp is not None and not isinstance(snmp, Mapping):
        raise ConfigError(f"{entry}: snmp: must be a mapping")
    return Site(name=str(name), labels=_parse_labels(body.get("labels"), entry),
                latitude=_parse_coordinate(body.get("latitude"), "latitude", 90, entry),
                longitude=_parse_coordinate(body.get("longitude"), "longitude", 180, entry),
                snmp=snmp, maintenance=parse_windows(body.get("maintenance"), entry))


def _device_from_yaml(entry: Any, where: str) -> _RawDevice | None:
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where}: must be a mapping with name and address")
    _check_keys(entry, _DEVICE_KEYS, where)
    return _device_from_mapping(entry, where)


def _device_from_mapping(body: Mapping[str, Any], where: str) -> _RawDevice | None:
    for key in ("name", "address"):
        value = body.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise ConfigError(f"{where}: {key}: missing")
        if not isinstance(value, str):
            raise ConfigError(f"{where}: {key}: must be a string, not {value!r}")
    enabled = body.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{where}: enabled: must be true or false, not {enabled!r}")
    name = body["name"].strip()
    address = body["address"].strip()
    try:
        ip = parse_address(address)
    except ValueError as exc:
        raise ConfigError(f"{where}: address: {exc}") from None
    site = body.get("site") or ""
    type_raw = body.get("type") or ""
    for key, value in (("site", site), ("type", type_raw)):
        if not isinstance(value, str):
            raise ConfigError(f"{where}: {key}: must be a string, not {value!r}")
    for key, value in (("name", name), ("site", site), ("type", type_raw)):
        _checked_text(value, f"{where}: {key}")
    type_name = normalize_type(type_raw)
    if type_raw.strip() and not type_name:
        raise ConfigError(f"{where}: type: {type_raw!r} has no letters or digits")
    snmp = body.get("snmp")
    if snmp is not None and not isinstance(snmp, Mapping):
        raise ConfigError(f"{where}: snmp: must be a mapping")
    labels = _parse_labels(body.get("labels"), where)
    paths = _parse_paths(body.get("paths"), f"{where}: paths")
    latitude = _parse_coordinate(body.get("latitude"), "latitude", 90, where)
    longitude = _parse_coordinate(body.get("longitude"), "longitude", 180, where)
    parent = _parse_parent(body.get("parent", _DEFAULT), where)
    maintenance = parse_windows(body.get("maintenance"), where)
    if not enabled:
        return None
    return _RawDevice(name=name, address=address, ip=ip, site=site.strip(), type=type_name,
                      labels=labels, latitude=latitude, longitude=longitude, snmp=snmp,
                      source=where, paths=paths, parent=parent, maintenance=maintenance)


_DEFAULT = object()  # no parent key at all (an explicit null or [] means "no parent")


def _parse_parent(raw: Any, where: str) -> list[str] | None:
    """``parent``: a device name (or address), a list of them, or null/[] for none.

    In CSV the cell holds the names separated by ``;``; an empty cell is the default.
    """
    if raw is _DEFAULT:
        return None
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else [raw]
    names = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ConfigError(f"{where}: parent: must be a device name (or address), a list "
                              f"of them, or [] for none, not {raw!r}")
        names.append(_checked_text(item.strip(), f"{where}: parent"))
    return names


def is_router(type_name: str) -> bool:
    """Whether a device of this type is a default parent of its site's other devices."""
    return type_name == "router" or type_name.endswith("_router")


def resolve_parents(devices: tuple[Device, ...],
                    written: list[list[str] | None]) -> tuple[Device, ...]:
    """``devices`` with their parents' keys set: the ``parent`` names as ``written`` (one
    entry per device; None: the default, the routers of the device's site).

    A name must name one device (or, if no device has that name, be one device's
    address); a device cannot be its own ancestor. Both are :class:`ConfigError` messages
    naming the entries.
    """
    by_name: dict[str, list[Device]] = {}
    by_address: dict[str, list[Device]] = {}
    routers: dict[str, list[Device]] = {}
    for device in devices:
        by_name.setdefault(device.name, []).append(device)
        by_address.setdefault(device.address, []).append(device)
        if device.site and is_router(device.type):
            routers.setdefault(device.site, []).append(device)
    # the default parents' keys, once per site: 100,000 devices load a second sooner
    router_keys = {site: tuple(dict.fromkeys(r.key for r in found))
                   for site, found in routers.items()}
    resolved = []
    for device, names in zip(devices, written, strict=True):
        if names is None:  # a router has no default parent; a router is never its own
            default = () if is_router(device.type) else router_keys.get(device.site, ())
            resolved.append(replace(device, parents=default) if default else device)
            continue
        parents = [_parent_device(name, device, by_name, by_address) for name in names]
        keys = tuple(dict.fromkeys(p.key for p in parents if p.key != device.key))
        if names and any(p.key == device.key for p in parents):
            raise ConfigError(f"{device.source}: parent: {device.name!r} cannot be its own "
                              "parent")
        resolved.append(replace(device, parents=keys) if keys else device)
    _check_cycles(resolved)
    return tuple(resolved)


def _parent_device(name: str, device: Device, by_name: Mapping[str, list[Device]],
                   by_address: Mapping[str, list[Device]]) -> Device:
    found = by_name.get(name) or by_address.get(name) or []
    if len(found) == 1:
        return found[0]
    if not found:
        close = difflib.get_close_matches(name, sorted(by_name), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"{device.source}: parent: no device named {name!r} in the "
                          f"inventory{hint}")
    raise ConfigError(f"{device.source}: parent: {name!r} names {len(found)} devices ("
                      + ", ".join(d.address for d in found[:5])
                      + "); name it by its address instead")


def _check_cycles(devices: list[Device]) -> None:
    """A device must not be reached through itself: report the first cycle, entry by
    entry."""
    by_key = {d.key: d for d in devices}
    done: set[tuple[str, str]] = set()
    for start in devices:
        if start.key in done:
            continue
        # iterative depth-first search; `path` is the chain from `start`
        path: list[tuple[str, str]] = [start.key]
        on_path = {start.key}
        stack = [iter(start.parents)]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                key = path.pop()
                on_path.discard(key)
                done.add(key)
                continue
            if nxt in on_path:
                cycle = path[path.index(nxt):] + [nxt]
                first = by_key[cycle[0]]
                raise ConfigError(
                    f"{first.source}: parent: cycle of dependencies: "
                    + " -> ".join(by_key[k].name for k in cycle) + " (the others: "
                    + "; ".join(by_key[k].source for k in cycle[1:-1]) + ")")
            if nxt in done:
                continue
            path.append(nxt)
            on_path.add(nxt)
            stack.append(iter(by_key[nxt].parents))


def _csv_column(name: str, path: Path) -> str:
    column = _CSV_ALIASES.get(name.strip().lower(), name.strip().lower())
    if column.startswith("path_"):
        # path_<isp>_<field>: the ISP's name as written (it is a label value)
        isp, _, key = name.strip()[len("path_"):].rpartition("_")
        if isp and key.lower() in _PATH_FIELDS:
            return f"path:{isp}:{key.lower()}"
        raise ConfigError(f"{path}: line 1: column {name!r}: path columns are "
                          f"path_<isp>_<field> with field one of {', '.join(_PATH_FIELDS)}")
    if column in _CSV_COLUMNS or column.startswith("label_"):
        if column.startswith("label_"):
            label = column[len("label_"):]
            if not _LABEL_NAME.match(label) or label in RESERVED_LABELS:
                raise ConfigError(f"{path}: line 1: column {name!r}: {label!r} is not a usable "
                                  "label name")
        return column
    raise ConfigError(f"{path}: line 1: unknown column {name!r} (expected name, address/ip, "
                      "site/branch, type/device_type, region, vendor, latitude, longitude, "
                      "enabled, parent, label_<name> or path_<isp>_<field>)")


def _expand_includes(raw: Any, main: Path, where: str) -> Iterable[Path]:
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(p, str) for p in raw):
        raise ConfigError(f"{where}: inventory_files: must be a list of paths or glob patterns")
    paths: list[Path] = []
    for pattern in raw:
        full = pattern if Path(pattern).is_absolute() else str(main.parent / pattern)
        if glob.has_magic(pattern):
            matches = sorted(Path(p) for p in glob.glob(full))
        else:
            matches = [Path(full)]
            if not matches[0].exists():
                raise ConfigError(f"{where}: inventory_files: {pattern}: no such file")
        for match in matches:
            if match.suffix.lower() not in (".yml", ".yaml", ".csv"):
                raise ConfigError(f"{where}: inventory_files: {match}: not a .yml, .yaml or "
                                  ".csv file")
            if match.resolve() == main.resolve() or match in paths:
                continue
            paths.append(match)
    return paths


def parse_shard(value: str) -> tuple[int, int]:
    """``"2/3"`` -> (2, 3): this exporter's share K of N (1 <= K <= N)."""
    k, sep, n = value.partition("/")
    if not sep or not k.isdigit() or not n.isdigit() or not 1 <= int(k) <= int(n):
        raise ValueError(f"invalid shard {value!r} (use K/N with 1 <= K <= N, e.g. 1/3)")
    return int(k), int(n)


def shard_index(device: Device, shards: int) -> int:
    """The shard (1..shards) that owns ``device``: a stable SHA-1 of name and address.

    Stable across processes, machines and Python versions (unlike ``hash()``), so
    several exporters given the same inventory split it without overlap or gaps.
    """
    digest = hashlib.sha1(f"{device.name}\0{device.address}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % shards + 1


def select_shard(inventory: Inventory, shard: tuple[int, int] | None) -> Inventory:
    """The part of ``inventory`` that shard ``(K, N)`` probes; all of it for None."""
    if shard is None:
        return inventory
    k, n = shard
    return replace(inventory, devices=tuple(d for d in inventory.devices
                                            if shard_index(d, n) == k))
