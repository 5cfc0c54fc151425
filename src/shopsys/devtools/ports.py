"""TCP ports on 127.0.0.1 for local servers."""

from __future__ import annotations

import socket

HOST = "127.0.0.1"


def free_port(exclude: frozenset[int] = frozenset()) -> int:
    """A currently free TCP port on 127.0.0.1 (not in `exclude`)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            port = int(sock.getsockname()[1])
        if port not in exclude:
            return port


def port_is_free(port: int) -> bool:
    """True if a server could bind `port` on 127.0.0.1 now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def port_open(port: int, timeout: float = 0.5) -> bool:
    """True if something accepts connections on `port` on 127.0.0.1."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False
