"""Helpers the Python scripts under scripts/ share: a free loopback port, and waiting for a
server's first answer."""

import socket
import time
import urllib.request


class ScriptFailure(Exception):
    """What a script reports and exits on (its message says what to fix)."""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, deadline=60):
    """The body of the first answer from `url`, retried every 0.2 s for `deadline` seconds."""
    end = time.time() + deadline
    while time.time() < end:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read().decode()
        except Exception:
            time.sleep(0.2)
    raise ScriptFailure(f"{url} did not answer within {deadline} s")
