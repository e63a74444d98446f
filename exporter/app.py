"""The running exporter: wires inventory, scheduler, probes, state, collector and web.

A probe result flows one way: the scheduler decides when -> ``probe_device`` resolves
and asks the ICMP engine -> ``StateStore.record`` -> the collector renders a snapshot.
The probes run on one asyncio loop in the main thread; HTTP is served by cheroot
threads that only read snapshots (a reload request is handed to the loop).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.process_collector import ProcessCollector

from exporter.alignment import ScrapeLog
from exporter.collector import (
    DeviceMetrics,
    ExporterCollector,
    ExporterStatus,
    GuardedCollectors,
    IcmpCollector,
    render_metrics,
)
from exporter.config import (
    ConfigError,
    Device,
    Inventory,
    IspPath,
    load_inventory,
    select_shard,
)
from exporter.gzipbody import Deflated, GzipStream, gzipped
from exporter.icmp import IcmpProber
from exporter.latency import rendered_bounds
from exporter.maintenance import MaintenanceCollector, device_windows
from exporter.probing import ProbeErrors, launch_probe, probe_device, probe_paths
from exporter.scheduler import Scheduler
from exporter.snmp.poller import SnmpPoller
from exporter.state import DOWN, UNKNOWN, UP, DeviceState, ProbeResult, StateStore
from exporter.web import DeviceRow, PageLinks, PathRow, create_app
from wardops_common.webconfig import WebConfig
from wardops_common.webserver import WebServer

log = logging.getLogger("exporter")

RELOAD_TIMEOUT = 30.0
#: Seconds between saves of the state file when no device changed between up and down.
#: Such a save only refreshes hysteresis counts and last-probe times; writing 10,000
#: devices every 10 s interval was a tenth of the exporter's CPU.
SAVE_EVERY = 60.0
#: After an up/down change the state file is saved at once, unless the last save was
#: recent: saving takes at most this share of the time. A 100,000-device save costs about
#: a second; in the first cycle, when every device changes, saves ran back to back, took
#: half the process's CPU and, holding the GIL, doubled the cycle. The cost: a change is
#: on disk at most 1 / SAVE_DUTY + 1 save times after it happened (40 ms at 1,000 devices).
SAVE_DUTY = 0.25


def bind(app: object, listen: tuple[str, int], web: WebConfig | None = None,
         on_refused: Callable[[str], None] = lambda reason: None,
         on_web_reload: Callable[[bool], None] = lambda ok: None) -> WebServer:
    """Bind the HTTP listener, or raise :class:`ListenError` naming the address."""
    host, port = listen
    return WebServer(app, f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
                     ident="wardops-exporter", threads=4, web=web, on_refused=on_refused,
                     on_web_reload=on_web_reload)


def load(path: str, shard: tuple[int, int] | None) -> Inventory:
    """Load the inventory and keep this exporter's shard of it."""
    return select_shard(load_inventory(path), shard)


def _path_row(path: IspPath, state: DeviceState | None) -> PathRow:
    """A path's row of the landing page (unknown until its state exists)."""
    if state is None:
        return PathRow(path.isp, path.address, "unknown")
    return PathRow(path.isp, path.address, state.status,
                   rtt=state.rtt if state.status == UP else None, loss=state.loss,
                   down_since=state.down_since if state.status == DOWN else 0.0)


def settle_gc() -> None:
    """Take what is loaded so far (the inventory, its label texts) out of the cyclic
    garbage collector's sight, and let it run less often.

    Probing allocates no reference cycles, but every probe replaces a state object, so
    the collector ran often and walked the whole inventory each time: a tenth of the
    process's CPU at 10,000 devices. Frozen objects are still freed by reference counting.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(_GC_THRESHOLD, 20, 20)


#: allocations between young collections (CPython's default is 700)
_GC_THRESHOLD = 20_000


class Exporter:
    """One exporter process: owns the loop-side objects and serves the web view."""

    def __init__(self, config_path: str, inventory: Inventory, *, listen: tuple[str, int],
                 state_file: str | None, shard: tuple[int, int] | None,
                 prober: IcmpProber | None = None, web: WebConfig | None = None,
                 lifecycle: bool = True, links: PageLinks | None = None) -> None:
        self.config_path = config_path
        self.lifecycle = lifecycle
        self.links = links
        self.web = web or WebConfig()
        self.server: WebServer | None = None
        self.inventory = inventory
        self.listen = listen
        self.state_file = state_file
        self.shard = shard
        self.prober = prober or IcmpProber(spacing=inventory.probe.spacing)
        self.store = StateStore()
        self.errors = ProbeErrors()
        self.status = ExporterStatus(reload_success_timestamp=time.time(),
                                     icmp_mode=self.prober.mode)
        self.state_errors = {"save": 0, "load": 0, "load_entry": 0}
        self.device_metrics = DeviceMetrics()
        self.scrapes = ScrapeLog()  # /metrics arrivals, for probe.align_to_scrapes
        self._render_lock = threading.Lock()
        # the last gzip scrape's per-device part, under (states' generation, inventory
        # version)
        self._rendered: tuple[tuple[int, int], Deflated] | None = None
        self.scheduler: Scheduler | None = None
        self.poller: SnmpPoller | None = None
        self.registry = CollectorRegistry()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._save_now: asyncio.Event | None = None
        self._by_key: dict[tuple[str, str], Device] = {}
        self._reload_task: asyncio.Future[tuple[bool, str]] | None = None
        self._crashed: BaseException | None = None

    # -- the web view ------------------------------------------------------------------

    @property
    def icmp_mode(self) -> str:
        """The ICMP engine's socket mode, "raw" (root) or "datagram" (unprivileged)."""
        return self.prober.mode

    def metrics(self, scraper: str = "", gzip: bool = False) -> Iterable[bytes] | GzipStream:
        """The /metrics body from a snapshot of the states, gzip-compressed if ``gzip``;
        ``scraper`` (source address and User-Agent) notes the scrape's arrival for the
        scheduler's alignment."""
        if scraper:
            self.scrapes.note(scraper, time.monotonic())
        if not gzip:
            return render_metrics(self.device_metrics, self.store.snapshot(), self.registry)
        head = self._device_part()  # first: the registry then reports this render's time
        return GzipStream(gzipped([generate_latest(self.registry)], head=head))

    def _device_part(self) -> Deflated:
        """The per-device families, compressed: served as they are while no state and
        not the inventory changed since the last render (the second Prometheus of an HA
        pair, a scrape between cycles with no device down); else only the blocks of
        rows whose lines changed are rendered again (:meth:`DeviceMetrics.deflated`)."""
        with self._render_lock:  # a second scrape waits for the render and shares it
            kept = self._rendered
            key = (self.store.generation, self.device_metrics.version)
            if kept is not None and kept[0] == key:
                self.status.device_renders["kept"] += 1
                return kept[1]
            self._rendered = None  # not held twice while the new one is made
            # the version first: a render that races a reload is kept under the older
            # version and so is never served again
            version = self.device_metrics.version
            generation, states = self.store.versioned_snapshot()
            started = time.perf_counter()
            part = self.device_metrics.deflated(states)
            self.status.device_render_seconds = time.perf_counter() - started
            self.status.device_renders["rendered"] += 1
            made, kept_pieces = self.device_metrics.pieces
            self.status.device_pieces["made"] += made
            self.status.device_pieces["kept"] += kept_pieces
            self._rendered = ((generation, version), part)
            return part

    def ready(self) -> bool:
        """True once the first full probe cycle is done."""
        return self.scheduler is not None and self.scheduler.first_cycle_done.is_set()

    def reload(self) -> tuple[bool, str]:
        """Reload from a web thread: runs on the loop and waits for the outcome."""
        if self._loop is None:
            return False, "not running"
        future = asyncio.run_coroutine_threadsafe(self.reload_async(), self._loop)
        return future.result(RELOAD_TIMEOUT)

    def page(self) -> list[DeviceRow]:
        """Every device's state for the landing page, with its current probe error and
        whether its last probe is older than the schedule allows (two intervals and a
        probe: the scheduler or the engine has stopped for it)."""
        states = self.store.snapshot()
        errors = self.errors.current()
        probe = self.inventory.probe
        stale_before = time.time() - 2 * probe.interval - probe.longest_probe
        rows = []
        now = time.time()
        sites = self.inventory.sites

        def is_down(key: tuple[str, str]) -> bool:
            parent = states.get(key)
            return parent is not None and parent.status == DOWN

        # with --shard, a parent may be another shard's: its state is not known here
        mine = {d.key for d in self.inventory.devices} if self.shard else None

        for device in self.inventory.devices:
            state = states.get(device.key)
            if state is None:
                continue  # added by a reload a moment ago
            rows.append(DeviceRow(
                device.name, device.address, device.site, device.type, state.status,
                error=errors.get(device.key, ""),
                stale=state.status == UP and state.last_probe < stale_before,
                rtt=state.rtt if state.status == UP else None, loss=state.loss,
                down_since=state.down_since if state.status == DOWN else 0.0,
                last_probe=state.last_probe, paths=tuple(
                    _path_row(path, states.get(device.path_key(path)))
                    for path in device.paths),
                region=dict(device.labels).get("region", ""), parents=device.parents,
                # cut off: down behind parents this exporter sees down (a parent in another
                # shard is not known here: the page says so, and the rules decide)
                parent_down=(state.status == DOWN and bool(device.parents)
                             and all(is_down(key) for key in device.parents)),
                parents_elsewhere=(tuple(k for k in device.parents if k not in mine)
                                   if mine is not None else ()),
                maintenance=tuple(device_windows(device, sites, now))))
        return rows

    # -- the loop side -----------------------------------------------------------------

    async def run(self) -> None:
        """Run until SIGTERM/SIGINT (or :meth:`stop`)."""
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._save_now = asyncio.Event()
        # Bind first: a port in use fails before any ICMP socket opens or state loads.
        server = self.server = bind(create_app(self, lifecycle=self.lifecycle,
                                                  links=self.links), self.listen,
                                    self.web, on_refused=self._refused,
                                    on_web_reload=self._web_reloaded)
        try:
            await self._serve(server)
        finally:
            server.close()

    async def _serve(self, server: WebServer) -> None:
        assert self._loop is not None and self._stop is not None
        self._apply(self.inventory)
        self._restore_state()
        settle_gc()
        await self.prober.start()
        # The engine may settle its mode only when it opens its sockets.
        self.status.icmp_mode = self.prober.mode
        log.info("ICMP sockets open", extra={"mode": self.prober.mode})
        self.scheduler = Scheduler(self.inventory.devices, self.inventory.probe,
                                   self._probe_and_record, self.errors.count,
                                   scrapes=self.scrapes, is_down=self._is_down)
        self.poller = SnmpPoller(self.inventory.devices, icmp_up=self._icmp_up)
        self.registry.register(ExporterCollector(
            scheduler=self.scheduler, errors=self.errors, status=self.status,
            state_errors=self.state_errors,
            states=self._device_statuses))
        self.registry.register(IcmpCollector(self.prober))
        self.registry.register(MaintenanceCollector(
            lambda: (self.inventory.sites, self.inventory.devices)))
        self.registry.register(GuardedCollectors({"snmp": self.poller}))
        ProcessCollector(registry=self.registry)
        server.start()
        log.info("listening", extra={"address": f"{self.listen[0]}:{self.listen[1]}",
                                     "devices": len(self.inventory.devices)})
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._loop.add_signal_handler(sig, self._stop.set)
        self._loop.add_signal_handler(signal.SIGHUP, self._reload_from_signal)
        tasks = [asyncio.create_task(self.scheduler.run(), name="scheduler"),
                 asyncio.create_task(self.poller.run(), name="snmp"),
                 asyncio.create_task(self._save_loop(), name="state-saver"),
                 asyncio.create_task(self._log_first_cycle(), name="first-cycle")]
        for task in tasks:
            task.add_done_callback(self._task_ended)
        try:
            await self._stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.prober.close()
            self._save()
            log.info("stopped")
        if self._crashed is not None:
            raise self._crashed

    def _device_statuses(self) -> list[str]:
        """Every device's status (its paths' left out)."""
        return [s.status for k, s in self.store.snapshot().items() if len(k) == 2]

    async def _log_first_cycle(self) -> None:
        """One line once the first cycle has probed every device: how many are up."""
        assert self.scheduler is not None
        await self.scheduler.first_cycle_done.wait()
        counts = Counter(self._device_statuses())
        log.info("first probe cycle done", extra={
            "seconds": round(self.scheduler.last_cycle_seconds or 0.0, 2), "up": counts[UP],
            "down": counts[DOWN], "unknown": counts[UNKNOWN]})

    def _task_ended(self, task: asyncio.Task[None]) -> None:
        """A background task must not die quietly: a crash stops the exporter loudly."""
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            log.debug("task finished", extra={"task": task.get_name()})
            return
        log.error("task crashed, stopping", exc_info=exc, extra={"task": task.get_name()})
        self._crashed = exc
        self.stop()

    def stop(self) -> None:
        """Ask :meth:`run` to finish (from the loop thread)."""
        if self._stop is not None:
            self._stop.set()

    def _probe_and_record(self, device: Device) -> Awaitable[None]:
        """The scheduler's probe: a future completed from the engine's callback (no task
        per probe) when the device's addresses are IP literals; a coroutine otherwise."""
        assert self._loop is not None
        future: asyncio.Future[None] = self._loop.create_future()

        def done(result: ProbeResult, path_results: list[ProbeResult]) -> None:
            if future.cancelled():
                return  # stopping
            try:
                self._record_all(device, result, path_results)
            except Exception as exc:  # the scheduler counts and logs it
                future.set_exception(exc)
                return
            future.set_result(None)

        if launch_probe(device, self.prober, self.inventory.probe, self.errors, done):
            return future
        return self._probe_names(device)

    async def _probe_names(self, device: Device) -> None:
        settings = self.inventory.probe
        if not device.paths:
            result = await probe_device(device, self.prober, settings, self.errors)
            self._record_all(device, result, [])
        else:
            self._record_all(device, *await probe_paths(device, self.prober, settings,
                                                        self.errors))

    def _record_all(self, device: Device, result: ProbeResult,
                    path_results: list[ProbeResult]) -> None:
        for path, path_result in zip(device.paths, path_results):
            self._record(device, device.path_key(path), path_result, path.isp)
        self._record(device, device.key, result, "")

    def _record(self, device: Device, key: tuple[str, ...], result: ProbeResult,
                isp: str) -> None:
        """Fold a result into the state of ``key`` (the device's or one of its paths');
        a change of state is logged and saved at once."""
        settings = self.inventory.probe
        change = self.store.record(key, result, settings.down_after, settings.up_after)
        if change is None:
            return
        before, after = change
        if before.status != after.status:
            extra = {"device": device.name, "address": device.address, "site": device.site,
                     "was": before.status, "down_since": after.down_since or None}
            if isp:
                extra["isp"] = isp
            # A first result of "up" for a device never known, or known up before a
            # restart, is no news: logged at debug during the first cycle, which ends with
            # one summary line (100,000 devices logged 100,000 "device up" lines).
            routine = (after.status == UP and before.last_known in ("", UP)
                       and self.scheduler is not None
                       and not self.scheduler.first_cycle_done.is_set())
            log.log(logging.DEBUG if routine else logging.INFO,
                    f"{'path' if isp else 'device'} {after.status}", extra=extra)
            assert self._save_now is not None
            self._save_now.set()

    def _is_down(self, device: Device) -> bool:
        state = self.store.get(device.key)
        return state is not None and state.status == DOWN

    def _icmp_up(self, device: Device) -> bool | None:
        state = self.store.get(device.key)
        if state is None or state.status not in (UP, DOWN):
            return None
        return state.status == UP

    def _apply(self, inventory: Inventory) -> None:
        """Make ``inventory`` the running one: kept devices keep their state."""
        self.inventory = inventory
        self._by_key = {d.key: d for d in inventory.devices}
        paths = [d.path_key(p) for d in inventory.devices for p in d.paths]
        self.store.set_keys([*self._by_key, *paths], inventory.probe.rtt_buckets)
        self.prober.retain_routes({p.route for d in inventory.devices for p in d.paths})
        self.errors.retain(set(self._by_key))
        probe = inventory.probe
        self.device_metrics.set_devices(inventory.devices, rendered_bounds(
            probe.rtt_buckets, probe.timeout) if probe.rtt_buckets else None)
        if self.scheduler is not None:
            self.scheduler.set_devices(inventory.devices, inventory.probe)
        if self.poller is not None:
            self.poller.set_devices(inventory.devices)

    def _web_reloaded(self, ok: bool) -> None:
        self.status.web_reload_successful = ok

    def _refused(self, reason: str) -> None:
        self.status.http_refused[reason] = self.status.http_refused.get(reason, 0) + 1

    async def reload_async(self) -> tuple[bool, str]:
        """Load the inventory (and ``--web.config.file``) again; on error keep the running
        ones."""
        try:
            inventory = await asyncio.to_thread(load, self.config_path, self.shard)
            if self.server is not None:
                await asyncio.to_thread(self.server.reload_web_file)
        except Exception as exc:  # any failure is reported as one
            self.status.reload_successful = False
            message = str(exc) if isinstance(exc, ConfigError) else (
                f"{self.config_path}: cannot load ({type(exc).__name__}: {exc})")
            log.error("reload failed, keeping the running inventory", extra={"error": message},
                      exc_info=not isinstance(exc, ConfigError))
            return False, f"reload failed: {message}"
        if not inventory.devices and self._by_key:
            # a file saved half-way (or emptied by mistake) must not end all monitoring:
            # the alerter would take "left the inventory" as every alert's resolve
            self.status.reload_successful = False
            message = (f"{self.config_path}: the new inventory has no devices (running with "
                       f"{len(self._by_key)}); keeping them. To watch none, restart with it")
            log.error("reload failed, keeping the running inventory", extra={"error": message})
            return False, f"reload failed: {message}"
        old = set(self._by_key)
        self._apply(inventory)
        settle_gc()
        new = set(self._by_key)
        self.status.reload_successful = True
        self.status.reload_success_timestamp = time.time()
        message = (f"reloaded: {len(new)} devices ({len(new - old)} added, "
                   f"{len(old - new)} removed)")
        log.info(message)
        return True, message

    def _reload_from_signal(self) -> None:
        task = asyncio.ensure_future(self.reload_async())
        # Keep a reference until done; the outcome is logged and shown in the metrics.
        self._reload_task = task

    # -- state file --------------------------------------------------------------------

    def _restore_state(self) -> None:
        if not self.state_file:
            return
        path = Path(self.state_file)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            log.info("no state file yet", extra={"path": str(path)})
            return
        except OSError as exc:
            self.state_errors["load"] += 1
            log.error("cannot read state file; starting with every device unknown",
                      extra={"path": str(path), "error": str(exc)})
            return
        try:
            taken, refused = self.store.load(data)
        except ValueError as exc:
            self.state_errors["load"] += 1
            log.error("state file is not usable; starting with every device unknown",
                      extra={"path": str(path), "error": str(exc)})
            return
        self.state_errors["load_entry"] += len(refused)
        for problem in refused[:20]:
            log.error("state file entry not usable; that device starts unknown",
                      extra={"path": str(path), "error": problem})
        log.info("state restored", extra={"path": str(path), "devices": taken,
                                          "refused": len(refused)})

    async def _save_loop(self) -> None:
        """Save after up/down changes and otherwise every interval, at most every
        :data:`SAVE_EVERY` seconds (if anything moved). A save after a change starts at
        once unless the last one started less than its duration / :data:`SAVE_DUTY` ago;
        then it waits until then, and the changes meanwhile go into it: saves take at
        most a quarter of the time, and a change is on disk within five save times."""
        assert self._save_now is not None
        last_start, last_took = -float("inf"), 0.0
        while True:
            try:
                await asyncio.wait_for(self._save_now.wait(),
                                       max(self.inventory.probe.interval, SAVE_EVERY))
            except TimeoutError:
                pass
            rest = last_start + last_took / SAVE_DUTY - time.monotonic()
            if rest > 0:
                await asyncio.sleep(rest)  # changes meanwhile go into this save
            self._save_now.clear()
            last_start = time.monotonic()
            await asyncio.to_thread(self._save)
            last_took = time.monotonic() - last_start

    def _save(self) -> None:
        if not self.state_file:
            return
        started = time.monotonic()
        try:
            if self.store.save(self.state_file):
                self.status.state_save_timestamp = time.time()
                self.status.state_save_seconds = time.monotonic() - started
        except OSError as exc:
            self.state_errors["save"] += 1
            log.error("cannot save state file", extra={"path": self.state_file,
                                                       "error": str(exc)})
