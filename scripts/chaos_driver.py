#!/usr/bin/env python3
"""Chaos suite driver for Cervella (run through scripts/chaos, which builds the binary and
provides a Python with redis-py).

Every scenario gets its own redis-server on a free loopback port, its own provider simulator,
its own key prefix and four workers. A producer thread enqueues jobs at a steady rate, a
collector thread reads replies (LRANGE, never popping), and a chaos thread does the damage:

  a  workers SIGKILLed every few seconds and restarted (four always running)
  b  redis-server SIGKILLed and restarted on the same port and --dir (AOF, appendfsync always)
  c  tier-1 provider failing: 30% 5xx, 10% hang, 10% garbage (directives scoped to openai)
  d  a worker SIGSTOPped for three heartbeat periods, then SIGCONT; then another one stopped
     long enough (heartbeat TTL + reaper lease + margin) that the reaper takes its jobs while
     it is still alive, so that the stale worker finishes them a second time
  e  Redis behind Sentinel (a primary, a replica, three Sentinels): the primary SIGKILLed
     mid-run, the replica promoted, the old primary restarted as its replica; the workers
     and the driver find the primary through the Sentinels only

Then every enqueued id is reconciled against its reply list and the dead letter list; a job
with neither is lost, and is located (queue, processing list of a live or dead worker, done key).
Exit status 1 when any scenario lost a job, wrote a duplicate reply or could not enqueue a job.
"""

import argparse
import json
import os
import random
import signal
import sys
import time

from chaoslib import settings
from chaoslib.common import log
from chaoslib.processes import Processes
from chaoslib.reconcile import print_reports, verdict
from chaoslib.scenarios import NAMES, Scenario


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True, help="path of the cervella executable")
    parser.add_argument("--work", required=True, help="scratch directory (logs, redis dirs)")
    parser.add_argument("--short", action="store_true", help="300 jobs per scenario; under 3 minutes in all")
    parser.add_argument("--scenarios", default="a,b,c,d,e", help="comma-separated subset of a,b,c,d,e")
    parser.add_argument("--jobs", type=int, help="jobs per scenario (default 2000, short 300)")
    parser.add_argument("--rate", type=float, help="jobs enqueued per second (default 40, short 25)")
    parser.add_argument("--seed", type=int, default=20260110)
    parser.add_argument("--redis-downtime", type=float, default=1.0, help="seconds redis-server stays down in b")
    parser.add_argument("--stall-seconds", type=float, default=30.0, help="give up waiting after this long without progress")
    parser.add_argument("--quiesce-seconds", type=float, default=15.0,
                        help="at the end, wait at most this long for every queue and processing list to empty")
    parser.add_argument("--settle-seconds", type=float, default=2.0,
                        help="how long queues and processing lists must stay empty before the final sweep")
    parser.add_argument("--worker-log-level", default="info", help="workers' --log-level (debug logs every job)")
    parser.add_argument("--json", help="also write the reports to this file")
    args = parser.parse_args()
    args.jobs = args.jobs or (300 if args.short else 2000)
    args.rate = args.rate or (25.0 if args.short else 40.0)
    # The pool's heartbeat, reaper and fallback settings, from the code's defaults; no guess.
    try:
        timing = settings.load()
    except settings.SettingsError as error:
        sys.exit(f"chaos driver: {error}")
    log(f"pool timings: {timing.describe()}")

    def terminate(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)
    procs = Processes(os.path.join(args.work, "pids"))
    reports = []
    started = time.monotonic()
    try:
        for index, name in enumerate(s.strip() for s in args.scenarios.split(",") if s.strip()):
            if name not in NAMES:
                parser.error(f"unknown scenario {name!r}")
            scenario = Scenario(name, args, procs, random.Random(args.seed * 10 + index), timing)
            try:
                scenario.setup()
                t0 = time.time()
                report = scenario.run()
                report["t0"] = t0
                reports.append(report)
            finally:
                scenario.teardown()
            rep = reports[-1]
            log(f"scenario {name}: {rep['answered']} answered, {sum(rep['errors'].values())} errors, "
                f"{len(rep['lost'])} lost, {len(rep['duplicates'])} duplicate replies ({rep['duration']:.0f} s)")
    finally:
        procs.stop_all()
    total = time.monotonic() - started
    print_reports(reports, total, "short" if args.short else "full")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(reports, f, default=lambda o: sorted(o) if isinstance(o, set) else str(o), indent=1)
    return verdict(reports)


if __name__ == "__main__":
    sys.exit(main())
