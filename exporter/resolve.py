"""Turn a device's configured address into the IP literal to probe, every cycle.

IP literals pass straight through. DNS names are looked up on every probe, so a
renumbered device is followed without a reload; a name that does not resolve is a
probe error (reason ``dns``), which says nothing about the device being up or down.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass

#: Reasons a lookup fails (``Resolved.error``).
RESOLVE_ERROR_REASONS = ("dns",)


@dataclass(frozen=True, slots=True)
class Resolved:
    """The address to probe, or why there is none."""

    ip: str | None
    error: str | None = None  # "dns" when the name did not resolve
    detail: str = ""


async def resolve(address: str, ip: str | None, timeout: float) -> Resolved:
    """Resolve ``address`` (``ip`` is its IP literal when it is one) within ``timeout``.

    IPv4 answers are preferred over IPv6 ones so the probed address is stable from one
    cycle to the next when a name has both.
    """
    if ip is not None:
        return Resolved(ip)
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(address, None, type=socket.SOCK_DGRAM), timeout)
    except TimeoutError:
        return Resolved(None, "dns", f"lookup of {address} timed out after {timeout:g}s")
    except (socket.gaierror, UnicodeError, OSError) as exc:
        return Resolved(None, "dns", f"lookup of {address} failed: {exc}")
    addresses = sorted({(info[0] != socket.AF_INET, str(info[4][0])) for info in infos})
    if not addresses:
        return Resolved(None, "dns", f"lookup of {address} returned no addresses")
    return Resolved(addresses[0][1])
