"""Checks made before anything starts, so bad input ends in one line that names the setting."""

from __future__ import annotations

import socket
from dataclasses import dataclass


class StackError(Exception):
    """A problem the person running the command can fix; its message is the whole story."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    setting: str  # the CAMPAIGNS_* name that chose this port

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_address(address: str, setting: str) -> Endpoint:
    """``host:port`` (as in ``CAMPAIGNS_TEMPORAL_ADDRESS``) or a clear error naming the setting."""
    host, separator, port_text = address.rpartition(":")
    if not separator or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise StackError(f"{setting}: expected host:port, got {address!r}")
    return Endpoint(host.strip("[]"), int(port_text), setting)


def port_in_use(host: str, port: int) -> bool:
    # SO_REUSEADDR like the servers themselves, so a port in TIME_WAIT is not reported busy.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def ensure_ports_free(endpoints: list[Endpoint]) -> None:
    """Fail before starting anything if two settings share a port or a port is already taken."""
    seen: dict[int, Endpoint] = {}
    for endpoint in endpoints:
        other = seen.get(endpoint.port)
        if other is not None:
            raise StackError(
                f"port {endpoint.port} is set twice: {other.setting} and {endpoint.setting}"
            )
        seen[endpoint.port] = endpoint
    for endpoint in endpoints:
        if port_in_use(endpoint.host, endpoint.port):
            raise StackError(
                f"port {endpoint.port} on {endpoint.host} is already in use "
                f"(set {endpoint.setting} to a free port, or stop what is using it)"
            )
