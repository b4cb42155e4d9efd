"""Small helpers every part of the chaos driver uses: logging, polling, retrying Redis."""

import sys
import time

import redis

# BusyLoadingError is a ConnectionError; ReadOnlyError comes from a primary just turned replica
# (scenario e), and a Sentinel client then asks again.
REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError, redis.exceptions.ReadOnlyError)


def log(message):
    print(f"\033[1m==>\033[0m {message}", file=sys.stderr, flush=True)


def wait_until(predicate, timeout, interval=0.05, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if predicate():
                return True
        except Exception:
            pass
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def with_retry(fn, timeout=90.0, what="redis command"):
    """Runs fn, retrying while Redis is down or loading (scenario b), for at most `timeout` s."""
    end = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except REDIS_ERRORS:
            if time.monotonic() > end:
                raise RuntimeError(f"{what}: Redis unreachable for {timeout:.0f} s")
            time.sleep(0.1)
