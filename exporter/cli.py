"""``wardops-exporter``: run the exporter, or check-config / probe-once an inventory.

Exit status: 0 fine; 1 probe-once found a device down, or a runtime failure; 2 bad
command line or bad inventory; 3 probe-once could not probe some device (and found none
down: a device down wins, it is the news).
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import prometheus_client

from exporter import __version__
from exporter.app import Exporter
from exporter.config import (
    ConfigError,
    Device,
    Inventory,
    load_inventory,
    parse_shard,
    select_shard,
)
from exporter.icmp import IcmpProber
from exporter.probing import ProbeErrors, probe_device, probe_paths
from exporter.state import DOWN, UNKNOWN, UP, DeviceState, ProbeResult, record
from exporter.web import PageLinks
from wardops_common.durations import format_milliseconds
from wardops_common.examplecerts import make_certs
from wardops_common.logsetup import add_log_flags, setup_logging
from wardops_common.webconfig import load_web_config
from wardops_common.webserver import ListenError, parse_listen_address
from wardops_data import write_out

log = logging.getLogger("exporter")

DEFAULT_LISTEN = ":9469"
DEFAULT_STATE_FILE = "data/exporter-state.json"
# probe-once's exit statuses beyond 0 (all up) and 2 (bad input)
EXIT_DOWN = 1
EXIT_NOT_PROBED = 3
# probe-once shows progress on stderr from this many devices on.
PROGRESS_FROM = 200


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wardops-exporter",
        description="Probe network devices over ICMP (and SNMP) and serve /metrics.")
    parser.add_argument("--version", action="version", version=f"wardops-exporter {__version__}")
    parser.add_argument("--config", metavar="FILE", help="inventory file (YAML)")
    parser.add_argument("--web.listen-address", dest="listen", default=DEFAULT_LISTEN,
                        metavar="HOST:PORT", help=f"where to serve HTTP (default {DEFAULT_LISTEN})")
    parser.add_argument("--web.config.file", dest="web_config", default="", metavar="FILE",
                        help="TLS and basic auth for the HTTP endpoints, in Prometheus's "
                             "exporter-toolkit format (re-read on reload)")
    parser.add_argument("--web.enable-lifecycle", dest="lifecycle", action="store_true",
                        help="allow POST /-/reload (as Prometheus; SIGHUP always reloads)")
    parser.add_argument("--web.grafana-url", dest="grafana_url", default="", metavar="URL",
                        help="Grafana with the wardops dashboards, linked from the / page "
                             "(default: the page's host, port 3000)")
    parser.add_argument("--web.alerter-url", dest="alerter_url", default="", metavar="URL",
                        help="the alerter's page, linked from the / page (default: the "
                             "page's host, port 9470)")
    parser.add_argument("--state-file", default=DEFAULT_STATE_FILE, metavar="PATH",
                        help="device states survive restarts here; '' to keep none "
                             f"(default {DEFAULT_STATE_FILE})")
    add_log_flags(parser)
    _add_shard(parser, default=None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    check = sub.add_parser("check-config", help="validate an inventory and print a summary")
    once_help = ("probe every device once and print a table; exit 1 if any is down, else 3 "
                 "if any could not be probed, else 0")
    once = sub.add_parser("probe-once", help=once_help, description=once_help)
    init = sub.add_parser(
        "init", help="write the shipped rules, dashboards, example configs, prometheus.yml "
                     "and docs into DIR (existing files are kept unless --force)")
    init.add_argument("dir", metavar="DIR")
    init.add_argument("--force", action="store_true", help="overwrite existing files")
    certs = sub.add_parser(
        "make-certs", help="write example certificates into DIR: a CA, one server "
                           "certificate per --server name, one client certificate per "
                           "--client name; valid ones are kept (for a stack without a PKI)")
    certs.add_argument("dir", metavar="DIR")
    certs.add_argument("--server", action="append", default=[], metavar="NAME")
    certs.add_argument("--client", action="append", default=[], metavar="NAME")
    for command in (check, once):
        # Given after the command too; SUPPRESS keeps a --shard given before it.
        _add_shard(command, default=argparse.SUPPRESS)
        command.add_argument("file", help="inventory: YAML, or a CSV file on its own "
                                          "(default probe settings)")
    return parser


def _add_shard(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument("--shard", metavar="K/N", default=default,
                        help="only share K of N of the inventory (stable hash of name "
                             "and address), e.g. 1/3")


# glibc's mallopt parameters: the size from which allocations get their own mapping, and
# how many arenas the threads share.
_M_MMAP_THRESHOLD = -3
_MMAP_FROM = 128 * 1024
_M_ARENA_MAX = -8
_ARENAS = 2


def return_large_allocations() -> None:
    """Make glibc give every large allocation its own mapping, returned at free.

    A /metrics body with RTT histograms is tens of MB at 10,000 devices, built from
    multi-MB strings. glibc raises its mmap threshold after the first such free, so later
    ones come from the heap, which cannot shrink below the long-lived device states
    allocated meanwhile: the resident size grew with every scrape (163 MB after three
    scrapes of 10,000 devices, against 143 MB, then flat, with the threshold fixed).
    Not glibc (musl): nothing to do.
    """
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_FROM)
    except (OSError, AttributeError):
        log.debug("mallopt not available; large allocations follow the allocator's policy")


def share_allocator_arenas() -> None:
    """Make glibc's threads share two malloc arenas, unless ``MALLOC_ARENA_MAX`` is set
    (then glibc follows that).

    By default each thread that allocates gets an arena of its own, up to eight per core,
    and an arena keeps the memory freed in it. The web threads that render /metrics and
    the state saver kept what they freed in arenas of their own: at 100,000 devices the
    resident size between scrapes was 382-393 MiB with an arena per thread and 359-369
    MiB with two (``MALLOC_ARENA_MAX=2``, the usual setting for threaded servers), peak
    427 and 401 MiB. Not glibc: nothing to do.
    """
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_ARENA_MAX, _ARENAS)
    except (OSError, AttributeError):
        log.debug("mallopt not available; threads use the allocator's arenas")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``wardops-exporter`` and ``python -m exporter``."""
    parser = _parser()
    args = parser.parse_args(argv)
    setup_logging(args.log_level, args.log_format)
    # Our collectors build metric families without creation times, but client_python's
    # Counter/Histogram objects would add a `*_created` series nobody queries: off, as in
    # the alerter, so /metrics stays what docs/exporter.md documents (tested).
    prometheus_client.disable_created_metrics()
    try:
        shard = parse_shard(args.shard) if args.shard else None
        listen = parse_listen_address(args.listen)
    except ValueError as exc:
        parser.error(str(exc))
    if args.command == "init":
        written = write_out(Path(args.dir), overwrite=args.force)
        print(f"wrote {len(written)} files into {args.dir}"
              + ("" if written else " (all there already; --force overwrites)"))
        return 0
    if args.command == "make-certs":
        made = make_certs(Path(args.dir), args.server, args.client)
        print(f"make-certs: {len(made)} certificates written into {args.dir}"
              + ("" if made else " (all still valid)"))
        return 0
    path = args.file if args.command else args.config
    if not path:
        parser.error("--config FILE is required")
    try:
        whole = load_inventory(path)
    except ConfigError as exc:
        print(f"wardops-exporter: {exc}", file=sys.stderr)
        return 2
    inventory = select_shard(whole, shard)
    if args.command == "check-config":
        print(summary(whole, shard))
        return 0
    if args.command == "probe-once":
        return asyncio.run(probe_once(inventory))
    try:
        web = load_web_config(args.web_config)
    except ConfigError as exc:
        print(f"wardops-exporter: {exc}", file=sys.stderr)
        return 2
    exporter = Exporter(path, inventory, listen=listen, state_file=args.state_file or None,
                        shard=shard, web=web, lifecycle=args.lifecycle,
                        links=PageLinks(grafana=args.grafana_url, alerter=args.alerter_url))
    return_large_allocations()
    share_allocator_arenas()  # before the web, saver and resolver threads start
    try:
        asyncio.run(exporter.run())
    except ListenError as exc:
        print(f"wardops-exporter: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        log.error("exporter failed", extra={"error": str(exc)})
        return 1
    return 0


def summary(whole: Inventory, shard: tuple[int, int] | None = None) -> str:
    """check-config's report: devices, sites and types, with counts; for a shard, its
    share, with the whole inventory's totals beside the device and site counts."""
    inventory = select_shard(whole, shard)
    devices = inventory.devices
    sites = Counter(d.site for d in devices)
    types = Counter(d.type for d in devices)
    probe = inventory.probe
    of_devices = of_sites = ""
    if shard:
        of_devices = f" (shard {shard[0]}/{shard[1]} of {len(whole.devices)})"
        of_sites = f" (of {len({d.site for d in whole.devices})})"
    lines = [
        f"{inventory.path}: OK",
        f"files: {len(inventory.files)}",
        f"devices: {len(devices)}{of_devices}"
        + (f", {inventory.disabled} disabled" if inventory.disabled else ""),
        f"sites: {len(sites)}{of_sites}",
        "types: " + ", ".join(f"{t or '(none)'} {n}" for t, n in sorted(types.items())),
        f"dns names: {sum(1 for d in devices if d.ip is None)}",
        f"with snmp: {sum(1 for d in devices if d.snmp is not None)}",
        f"with paths: {sum(1 for d in devices if d.paths)} "
        f"({sum(len(d.paths) for d in devices)} paths)",
        f"behind parents: {sum(1 for d in devices if d.parents)} "
        f"({sum(len(d.parents) for d in devices)} dependencies)",
        f"maintenance windows: {sum(len(s.maintenance) for s in inventory.sites.values())} "
        f"of sites, {sum(len(d.maintenance) for d in devices)} of devices",
        (f"probe: interval {probe.interval:g}s, timeout {probe.timeout:g}s, count {probe.count}, "
         f"down_after {probe.down_after}, up_after {probe.up_after}"
         + (" (defaults: list the CSV under inventory_files: in a YAML file to set them)"
            if Path(inventory.path).suffix.lower() == ".csv" else "")),
    ]
    return "\n".join(lines)


async def probe_once(inventory: Inventory) -> int:
    """One sweep of every device at once; print a table; 1 if any is down or unprobed."""
    prober = IcmpProber(spacing=inventory.probe.spacing)
    await prober.start()
    errors = ProbeErrors()
    devices = inventory.devices
    done = 0

    async def one(device: Device) -> tuple[ProbeResult, list[ProbeResult]]:
        nonlocal done
        if device.paths:
            result, paths = await probe_paths(device, prober, inventory.probe, errors)
        else:
            result, paths = await probe_device(device, prober, inventory.probe, errors), []
        done += 1
        return result, paths

    progress = None
    if len(devices) >= PROGRESS_FROM:
        print(f"probe-once: probing {len(devices)} devices (count {inventory.probe.count}, "
              f"timeout {inventory.probe.timeout:g}s)", file=sys.stderr, flush=True)
        progress = asyncio.create_task(_progress(lambda: done, len(devices)))
    started = time.monotonic()
    try:
        results = await asyncio.gather(*(one(d) for d in devices))
    finally:
        if progress is not None:
            progress.cancel()
        await prober.close()
    elapsed = time.monotonic() - started
    rows = []
    with_paths = any(d.paths for d in devices)
    for device, (result, path_results) in zip(devices, results):
        status, rtt, loss = _shown_result(result)
        row: tuple[str, ...] = (device.name, device.address, device.site or "-", status, rtt,
                                loss)
        if with_paths:  # "Magti up 12.1ms, Silknet down": each ISP path on its own
            row += (", ".join(f"{path.isp} {' '.join(_shown_result(r)[:2]).rstrip(' -')}"
                              for path, r in zip(device.paths, path_results)) or "-",)
        rows.append(row)
    header: tuple[str, ...] = ("DEVICE", "ADDRESS", "SITE", "STATE", "RTT", "LOSS")
    if with_paths:
        header += ("PATHS",)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    out = [("  ".join(str(c).ljust(w) for c, w in zip(r, widths))).rstrip()
           for r in [header, *rows]]
    print("\n".join(out))
    counts = Counter(DOWN if r[3] == DOWN else (UP if r[3] == UP else UNKNOWN) for r in rows)
    print(f"probe-once: {len(rows)} devices in {elapsed:.2f}s: {counts[UP]} up, "
          f"{counts[DOWN]} down, {counts[UNKNOWN]} not probed (errors)", file=sys.stderr)
    return EXIT_DOWN if counts[DOWN] else EXIT_NOT_PROBED if counts[UNKNOWN] else 0


def _shown_result(result: ProbeResult) -> tuple[str, str, str]:
    """State, RTT and loss of one probe as probe-once prints them."""
    state = record(DeviceState(), result, down_after=1, up_after=1)
    status = state.status if result.error is None else f"error:{result.error}"
    rtt = format_milliseconds(state.rtt) if state.rtt is not None else "-"
    loss = f"{state.loss:.0%}" if state.loss is not None else "-"
    return status, rtt, loss


async def _progress(done: Callable[[], int], total: int) -> None:
    while True:
        await asyncio.sleep(1.0)
        print(f"probe-once: {done()}/{total} probed", file=sys.stderr, flush=True)
