"""A real Debian ``snmpd`` for tests and benchmarks, on a loopback address and UDP port.

Configured from its own file (``-C -c``) with a v2c read community, a read-write
community (for SETs of ifAlias), and SNMPv3 users created in the config (``createUser``):
``wardops`` (SHA/AES, authPriv), ``wardops-auth`` (SHA, authNoPriv), ``wardops-noauth``
(noAuthNoPriv) and one authPriv user per protocol pair in :data:`V3_PROTOCOL_USERS`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

from tests.support import Proc, wait_for

COMMUNITY = "public-test"
RW_COMMUNITY = "private-test"
V3_USER = "wardops"
V3_AUTH_ONLY_USER = "wardops-auth"
AUTH_KEY = "auth-key-123"
PRIV_KEY = "priv-key-456"
V3_NOAUTH_USER = "wardops-noauth"
# user -> (net-snmp auth, net-snmp priv); the same names without "-" in wardops settings
V3_PROTOCOL_USERS = {"wardops-md5-des": ("MD5", "DES"),
                     "wardops-sha256-aes256": ("SHA-256", "AES-256"),
                     "wardops-sha512-aes": ("SHA-512", "AES")}


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port nobody listens on right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class Snmpd:
    """``snmpd -f`` with a private config and persistent dir under ``workdir``."""

    def __init__(self, workdir: Path, address: str = "127.0.0.1", port: int | None = None,
                 extra_config: str = "") -> None:
        self.address = address
        self.port = port or free_udp_port(address)
        self.dir = workdir / f"snmpd-{address}-{self.port}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / "snmpd.conf"
        protocol_users = "\n".join(
            f'createUser {user} {auth} "{AUTH_KEY}" {priv} "{PRIV_KEY}"\nrouser {user} priv'
            for user, (auth, priv) in V3_PROTOCOL_USERS.items())
        self.endpoint = (f"udp6:[{address}]:{self.port}" if ":" in address
                         else f"udp:{address}:{self.port}")
        self.conf.write_text(f"""\
agentAddress {self.endpoint}
rocommunity {COMMUNITY} 127.0.0.0/8
rwcommunity {RW_COMMUNITY} 127.0.0.0/8
rocommunity6 {COMMUNITY} ::1/128
rwcommunity6 {RW_COMMUNITY} ::1/128
createUser {V3_USER} SHA "{AUTH_KEY}" AES "{PRIV_KEY}"
rouser {V3_USER} priv
createUser {V3_AUTH_ONLY_USER} SHA "{AUTH_KEY}"
rouser {V3_AUTH_ONLY_USER} auth
createUser {V3_NOAUTH_USER}
rouser {V3_NOAUTH_USER} noauth
{protocol_users}
{extra_config}
""")
        self.proc: Proc | None = None

    def start(self) -> Snmpd:
        """Start snmpd and wait until it answers a GET of sysUpTime."""
        env = dict(os.environ, SNMP_PERSISTENT_DIR=str(self.dir / "persist"), MIBS="",
                   MIBDIRS=str(self.dir))
        # -f -Lo: foreground, log to stdout (our log file); -C -c: only our config file;
        # -I -smux,...: modules we don't need.
        self.proc = Proc(["snmpd", "-f", "-Lo", "-C", "-c", str(self.conf),
                          "-I", "-smux,mteTrigger,mteTriggerConf", "-p", str(self.dir / "pid")],
                         log=self.dir / "snmpd.log", env=env)
        wait_for(lambda: self.get("1.3.6.1.2.1.1.3.0") is not None, timeout=15,
                 what=f"snmpd on {self.address}:{self.port}")
        return self

    def _cmd(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([tool, "-v2c", "-c", RW_COMMUNITY, "-On", "-Oq", "-t", "1", "-r", "1",
                               "-M", str(self.dir), self.endpoint, *args],
                              capture_output=True, text=True, timeout=10)

    def get(self, oid: str) -> str | None:
        """One value with snmpget (the tools, not pysnmp); None on failure."""
        out = self._cmd("snmpget", oid)
        if out.returncode != 0:
            return None
        return out.stdout.strip().split(" ", 1)[1] if " " in out.stdout.strip() else ""

    def walk(self, oid: str) -> dict[str, str]:
        """``{oid: value}`` for a subtree, with snmpwalk."""
        out = self._cmd("snmpwalk", oid)
        out.check_returncode()
        rows = {}
        for line in out.stdout.splitlines():
            name, _, value = line.partition(" ")
            rows[name.lstrip(".")] = value.strip().strip('"')
        return rows

    def ifindex(self, ifdescr: str) -> int:
        """The ifIndex of the interface named ``ifdescr``."""
        for oid, value in self.walk("1.3.6.1.2.1.2.2.1.2").items():
            if value == ifdescr:
                return int(oid.rsplit(".", 1)[1])
        raise AssertionError(f"snmpd has no interface {ifdescr}")

    def set_alias(self, ifindex: int, alias: str) -> None:
        """SET ifAlias over SNMP (writable in net-snmp with the rw community)."""
        self._cmd("snmpset", f"1.3.6.1.2.1.31.1.1.1.18.{ifindex}", "s", alias).check_returncode()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None


def have_snmpd() -> bool:
    return shutil.which("snmpd") is not None and shutil.which("snmpget") is not None


def ip(*args: str) -> None:
    """Run ``ip`` (inside the test's private namespace)."""
    subprocess.run(["ip", *args], check=True, capture_output=True)
