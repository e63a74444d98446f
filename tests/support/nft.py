"""Take loopback "devices" down and up with nftables, inside the test's private netns.

Requests to a dropped address are discarded on input, so the prober sees a real
timeout (not a send error). Blackholing (``ip route add blackhole``) gives the
immediate-error path instead.
"""

from __future__ import annotations

import ipaddress
import subprocess

TABLE = "wardops_test"


def _nft(script: str) -> None:
    subprocess.run(["nft", "-f", "-"], input=script.encode(), check=True)


class Firewall:
    """An nftables table with sets of dropped IPv4 and IPv6 addresses."""

    def __init__(self) -> None:
        _nft(f"""
table inet {TABLE} {{
  set down4 {{ type ipv4_addr; }}
  set down6 {{ type ipv6_addr; }}
  chain input {{
    type filter hook input priority 0; policy accept;
    ip daddr @down4 drop
    ip6 daddr @down6 drop
  }}
}}
""")

    def _set(self, address: str) -> str:
        return "down6" if ipaddress.ip_address(address).version == 6 else "down4"

    def drop(self, *addresses: str) -> None:
        """Make ``addresses`` stop answering (requests to them are dropped)."""
        for addr in addresses:
            _nft(f"add element inet {TABLE} {self._set(addr)} {{ {addr} }}")

    def restore(self, *addresses: str) -> None:
        """Let ``addresses`` answer again."""
        for addr in addresses:
            _nft(f"delete element inet {TABLE} {self._set(addr)} {{ {addr} }}")

    def close(self) -> None:
        subprocess.run(["nft", "delete", "table", "inet", TABLE], check=False,
                       stderr=subprocess.DEVNULL)
