"""Timing and sizing of the chaos scenarios.

The pool's own timings (heartbeat interval and TTL, reaper interval and lease, tier-1 provider
timeout) are not copied here: `load()` reads them at start from the repository's worker.toml,
which writes every key out with the built-in default (CervellaSettings() in
Sources/Settings/CervellaSettings.swift); the test
WorkerTOMLTests.repositoryWorkerTOMLShowsTheBuiltInDefaultsExceptTheEndpoints holds the two
equal, so a changed default reaches the suite without an edit here. A missing key or file
stops the driver: there is no built-in fallback.

(`cervella admin config` is not the source: it prints the live flags and each tier's model,
endpoints and threshold, Sources/ControlPlane/ConfigReport.swift, but nothing of [worker] or
[fallback] timeout_ms, and it needs a reachable Redis.)

A killed worker is seen by its closed Redis connections within seconds; only a stopped
(SIGSTOP) one waits for the heartbeat TTL.
"""

import dataclasses
import os

# The repository's worker.toml: scripts/chaoslib/settings.py -> the repository root.
DEFAULTS_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                             "worker.toml")

# Tier-1 provider timeout (FALLBACK_TIMEOUT_MS): low in c so that hangs fall back quickly; the
# default (Timing.default_fallback_timeout_ms) elsewhere, so that a 2 s simulated answer is not
# turned into a timeout fallback.
FALLBACK_TIMEOUT_MS = {"c": 1500}
JOB_DEADLINE_S = 120.0
WORKERS = 4
CONCURRENCY = 32


class SettingsError(RuntimeError):
    """The pool's timings could not be read; the suite cannot run without them."""


@dataclasses.dataclass(frozen=True)
class Timing:
    """The pool's shipped heartbeat, reaper and fallback settings, as read by `load()`."""

    heartbeat_interval_s: float      # [worker] heartbeat_interval_seconds
    heartbeat_ttl_s: int             # [worker] heartbeat_ttl_seconds
    reaper_interval_s: float         # [worker] reaper_interval_seconds
    default_fallback_timeout_ms: int  # [fallback] timeout_ms
    source: str                      # the file they came from

    @property
    def reaper_lease_s(self):
        # Not a setting: the reaper lease (`SET … NX PX`) lasts one reaper interval, at least
        # 200 ms, in whole milliseconds (Reaper.run and Reaper.sweepIfLeaseHolder in
        # Sources/WorkerPool/Reaper.swift).
        return max(200, int(self.reaper_interval_s * 1000)) / 1000

    def describe(self):
        return (f"heartbeat every {self.heartbeat_interval_s:g} s (TTL {self.heartbeat_ttl_s} s), "
                f"reaper every {self.reaper_interval_s:g} s (lease {self.reaper_lease_s:g} s), "
                f"tier-1 provider timeout {self.default_fallback_timeout_ms} ms; from {self.source}")


def load(path=DEFAULTS_FILE):
    """Reads the pool's timings from `path`; raises SettingsError naming what is missing."""
    try:
        import tomllib  # Python 3.11+
    except ImportError as error:
        raise SettingsError(f"reading {path} needs Python 3.11 or later (tomllib): {error}") from None
    try:
        with open(path, "rb") as f:
            document = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise SettingsError(f"cannot read the pool's timings from {path}: {error}") from None

    def value(table, key, kind):
        section = document.get(table)
        raw = section.get(key) if isinstance(section, dict) else None
        # TOML integers are accepted where the code reads a Double, as the code does.
        ok = (isinstance(raw, (int, float)) if kind is float else isinstance(raw, int)) and not isinstance(raw, bool)
        if not ok or raw <= 0:
            raise SettingsError(f"{path}: [{table}] {key} is {'missing' if raw is None else repr(raw)}; "
                                f"expected a positive {'number' if kind is float else 'integer'}")
        return kind(raw)

    return Timing(
        heartbeat_interval_s=value("worker", "heartbeat_interval_seconds", float),
        heartbeat_ttl_s=value("worker", "heartbeat_ttl_seconds", int),
        reaper_interval_s=value("worker", "reaper_interval_seconds", float),
        default_fallback_timeout_ms=value("fallback", "timeout_ms", int),
        source=path,
    )
