"""Timing and sizing of the chaos scenarios."""

# Heartbeat and reaper settings: the shipped defaults (worker.toml). A killed worker is seen
# by its closed Redis connections within seconds; only a stopped (SIGSTOP) one waits for the
# heartbeat TTL.
HEARTBEAT_INTERVAL_S = 3.0
HEARTBEAT_TTL_S = 15
REAPER_INTERVAL_S = 2.0
# The reaper lease (`SET … NX PX`, Sources/WorkerPool/Reaper.swift) lasts one reaper interval.
REAPER_LEASE_S = REAPER_INTERVAL_S
# Tier-1 provider timeout (FALLBACK_TIMEOUT_MS): low in c so that hangs fall back quickly; the
# default elsewhere, so that a 2 s simulated answer is not turned into a timeout fallback.
FALLBACK_TIMEOUT_MS = {"c": 1500}
DEFAULT_FALLBACK_TIMEOUT_MS = 10000
JOB_DEADLINE_S = 120.0
WORKERS = 4
CONCURRENCY = 32
