"""Reading the results back: reply lists (never popped), the dead letter list, the workers'
stats hashes and the simulator's call counts; the per-scenario report, the printed table and
the verdict (the exit status)."""

import collections
import json
import os
import time
import urllib.request

from .common import REDIS_ERRORS
from .processes import Processes


class Reconciler:
    """The collector and the reconciliation of one scenario (a mixin of scenarios.Scenario)."""

    def poll_replies(self, r, ids):
        """Reads the reply lists of `ids` without popping them (a pop whose reply a Redis crash
        swallowed would lose the result), so the list length is the number of replies written.
        Keeps the time each reply was first seen."""
        for offset in range(0, len(ids), 500):
            chunk = ids[offset:offset + 500]
            pipe = r.pipeline(transaction=False)
            for job_id in chunk:
                pipe.lrange(f"{self.prefix}:reply:{job_id}", 0, -1)
            answers = pipe.execute()
            observed = time.time()
            with self.lock:
                for job_id, items in zip(chunk, answers):
                    known = self.replies[job_id] if job_id in self.replies else []
                    items = list(reversed(items or []))  # LPUSHed: oldest last
                    if 0 < len(items) < len(known):
                        self.failures.append(f"reply list of {job_id} shrank from {len(known)} to {len(items)}")
                        continue
                    for raw in items[len(known):]:
                        try:
                            result = json.loads(raw)
                        except ValueError:
                            result = {"ok": False, "error": {"code": "unparsable_reply"}, "raw": raw[:200].decode("utf-8", "replace")}
                        known.append((observed, result))
                    if known:
                        self.replies[job_id] = known

    def poll_dead(self, r):
        entries = r.lrange(f"{self.prefix}:dead", 0, -1)
        with self.lock:
            self.dead_entries = []
            self.dead_ids = collections.Counter()
            for raw in entries:
                try:
                    entry = json.loads(raw)
                except ValueError:
                    entry = {"id": None, "reason": "unparsable dead entry"}
                self.dead_entries.append(entry)
                self.dead_ids[entry.get("id")] += 1

    def unresolved(self):
        with self.lock:
            return [i for i in self.enqueued if not self.replies.get(i) and i not in self.dead_ids]

    def collect(self):
        r = self.client()
        last_dead = 0.0
        while not self.stop_collector.is_set():
            try:
                pending = self.unresolved()
                if pending:
                    self.poll_replies(r, pending)
                if time.monotonic() - last_dead > 1.0:
                    self.poll_dead(r)
                    last_dead = time.monotonic()
            except REDIS_ERRORS:
                pass  # scenario b: Redis is down for a moment
            except Exception as error:  # noqa: BLE001
                self.failures.append(f"collector: {error!r}")
            self.stop_collector.wait(0.2)
        r.close()

    def diagnose(self):
        """Jobs are missing: record what the workers and their Redis connections are doing."""
        lines = []
        try:
            r = self.client()
            beats = {k.decode().split(":worker:", 1)[1]: r.ttl(k) for k in r.scan_iter(match=f"{self.prefix}:worker:*", count=1000)}
            lines.append(f"heartbeat keys (ttl): {beats}")
            for c in r.client_list():
                lines.append(f"client {c.get('name') or '-':24} addr={c.get('addr')} age={c.get('age')} idle={c.get('idle')} "
                             f"cmd={c.get('cmd')} flags={c.get('flags')}")
            r.close()
        except Exception as error:  # noqa: BLE001
            lines.append(f"redis unreadable: {error!r}")
        for w in self.workers:
            try:
                with open(f"/proc/{w.pid}/stat") as f:
                    state = f.read().split(") ", 1)[1].split()[0]
                threads = len(os.listdir(f"/proc/{w.pid}/task"))
                lines.append(f"worker pid {w.pid}: state {state}, {threads} threads")
            except OSError:
                lines.append(f"worker pid {w.pid}: exited ({w.poll()})")
        path = os.path.join(self.dir, "diagnosis.txt")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.failures.append(f"jobs unresolved at the end; worker/connection state in {path}")

    def locate(self, r, job_id):
        """Where a job without a reply is now, for the diagnosis of a lost job."""
        places = []
        for key in r.scan_iter(match=f"{self.prefix}:*", count=1000):
            key = key.decode()
            if ":queue:" not in key and ":processing:" not in key:
                continue
            for raw in r.lrange(key, 0, -1):
                if job_id.encode() in raw:
                    if ":processing:" in key:
                        owner = key.split(":processing:", 1)[1].split(":", 1)[1]
                        alive = r.exists(f"{self.prefix}:worker:{owner}")
                        places.append(f"{key} (worker {owner} {'alive: heartbeat present' if alive else 'has no heartbeat'})")
                    else:
                        places.append(key)
        done = r.get(f"{self.prefix}:done:{job_id}")
        if done is not None:
            places.append(f"done key set by {done.decode()}")
        return places or ["nowhere (not in any queue or processing list, no done key)"]

    def reconcile(self, r):
        answered, errors, dead, lost, duplicates = 0, collections.Counter(), 0, [], []
        fallbacks = collections.Counter()
        by_kind = collections.defaultdict(collections.Counter)  # directive kind -> outcome
        first_answer = {}
        hops = {}
        for job_id in self.enqueued:
            got = self.replies.get(job_id, [])
            if len(got) > 1:
                duplicates.append(job_id)
            if job_id in self.dead_ids:
                dead += 1
            if not got:
                if job_id not in self.dead_ids:
                    lost.append(job_id)
                continue
            observed, result = got[0]
            # When the producer could see it: the collector polls every 0.2 s. (The result's
            # latency_ms is not used: a worker may hold a finished answer while Redis is down.)
            first_answer[job_id] = observed
            if result.get("id") != job_id:
                self.failures.append(f"reply for {job_id} carries id {result.get('id')!r}")
            meta = result.get("metadata") or {}
            outcome = (("fallback:" + str(meta.get("fallback_reason"))) if meta.get("fallback") else "direct") \
                if result.get("ok") else "error:" + str((result.get("error") or {}).get("code"))
            by_kind[self.enqueued[job_id]["kind"]][outcome] += 1
            if result.get("ok"):
                answered += 1
                if meta.get("fallback"):
                    fallbacks[meta.get("fallback_reason")] += 1
                hops[job_id] = 2 if meta.get("fallback") else 1
            else:
                code = (result.get("error") or {}).get("code", "?")
                errors[code] += 1
                hops[job_id] = 0 if code in ("deadline_exceeded", "invalid_job", "poison_job") else 2
        stats = collections.Counter()
        for key in r.scan_iter(match=f"{self.prefix}:stats:*", count=1000):
            for field, value in r.hgetall(key).items():
                try:
                    stats[field.decode()] += float(value)
                except ValueError:
                    pass
        try:
            sim = json.load(urllib.request.urlopen(f"http://127.0.0.1:{self.sim_port}/sim/stats", timeout=5))
        except Exception as error:  # noqa: BLE001
            sim = {"total": None, "error": repr(error)}
        needed = sum(hops.values())
        # Scenario e: a job whose enqueue no replica acknowledged may be lost with the primary
        # (docs/RELIABILITY.md, "Redis high availability"); it is reported, not failed.
        lost_unreplicated = [i for i in lost if i in self.unreplicated]
        lost = [i for i in lost if i not in self.unreplicated]
        # Recovery, per chaos event: when the victim's jobs left its processing lists (measured by
        # the watcher), and the longest time from the event to the answer of a job it held.
        recoveries = []
        for event in self.events:
            to_answer, open_ids, dead_ids = None, [], []
            for job_id in event["held"]:
                if job_id in self.dead_ids:
                    dead_ids.append(job_id)  # poison: its error came at a later recovery
                    continue
                if job_id not in first_answer:
                    open_ids.append(job_id)
                    continue
                elapsed = first_answer[job_id] - event["t"]
                to_answer = elapsed if to_answer is None else max(to_answer, elapsed)
            released = event.get("t_released")
            # When the pool answered again: the first answer seen after the event.
            after = [seen for seen in first_answer.values() if seen > event["t"]]
            recoveries.append({**event, "to_answer": to_answer, "open": open_ids, "dead": dead_ids,
                               "to_release": None if released is None else released - event["t"],
                               "to_first_answer": min(after) - event["t"] if after else None})
        # A child that exited without the driver killing it: a crash, or someone else's kill.
        for proc, what in [(w, "worker") for w in self.workers] + [(self.sim_proc, "simulator"), (self.redis_proc, "redis-server")]:
            if proc is not None and proc.poll() is not None and proc.pid not in Processes.terminated:
                self.failures.append(f"{what} pid {proc.pid} exited on its own with status {proc.returncode}"
                                     + (f" (signal {-proc.returncode})" if proc.returncode < 0 else ""))
        leftovers = collections.Counter()
        for key in r.scan_iter(match=f"{self.prefix}:*", count=1000):
            key = key.decode()
            if ":queue:" in key or ":processing:" in key:
                leftovers[key] += r.llen(key)
        latencies = sorted(first_answer[i] - self.enqueued[i]["t"] for i in first_answer)
        report = {
            "scenario": self.name, "jobs": len(self.enqueued), "planned": self.jobs, "answered": answered,
            "errors": errors, "dead": dead, "lost": lost, "duplicates": duplicates,
            "unreplicated_enqueues": len(self.unreplicated), "lost_unreplicated": lost_unreplicated,
            "duplicate_provider_calls": int(stats.get("duplicate_provider_calls", 0)),
            "recovered": int(stats.get("recovered", 0)), "fallbacks": fallbacks, "by_kind": by_kind,
            "sim_endpoints": sim.get("endpoints"),
            "sim_calls": sim.get("total"), "needed_calls": needed, "recoveries": recoveries,
            "leftovers": {k: v for k, v in leftovers.items() if v}, "duration": self.duration,
            "latency_p50": latencies[len(latencies) // 2] if latencies else None,
            "latency_max": latencies[-1] if latencies else None,
            "failures": list(self.failures), "redis_restarts": self.redis_restarts,
            "retried_pushes": list(self.retried_pushes),
            "lost_where": {i: self.locate(r, i) for i in lost[:20]},
            "duplicate_detail": {i: [res for _, res in self.replies[i]] for i in duplicates[:5]},
            "dir": self.dir, "prefix": self.prefix,
        }
        return report


def fmt_s(value):
    return "-" if value is None else f"{value:.1f} s"


def print_reports(reports, total_seconds, mode):
    head = ["scenario", "jobs", "answered", "errors (codes)", "dead", "lost", "dup replies", "dup provider calls",
            "recovered", "worst recovery (requeued / answered)", "duration"]
    names = {"a": "a worker SIGKILL", "b": "b redis SIGKILL", "c": "c provider 5xx/hang/garbage", "d": "d worker SIGSTOP",
             "e": "e sentinel failover"}
    rows = []
    for rep in reports:
        errs = sum(rep["errors"].values())
        codes = ", ".join(f"{c}={n}" for c, n in rep["errors"].most_common()) if errs else ""
        events = rep["recoveries"]
        if events:
            released = [e["to_release"] for e in events if e["to_release"] is not None]
            answered = [e["to_answer"] for e in events if e["to_answer"] is not None]
            recovery = (f"{max(released):.1f} s" if released else "-") + " / " + (f"{max(answered):.1f} s" if answered else "-")
        else:
            recovery = "-"
        rows.append([names.get(rep["scenario"], rep["scenario"]), str(rep["jobs"]), str(rep["answered"]),
                     f"{errs}" + (f" ({codes})" if codes else ""), str(rep["dead"]), str(len(rep["lost"])),
                     str(len(rep["duplicates"])), str(rep["duplicate_provider_calls"]), str(rep["recovered"]),
                     recovery, f"{rep['duration']:.0f} s"])
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    print()
    print(f"chaos suite ({mode}), {total_seconds:.0f} s in all")
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
    print()
    print("worst recovery, over the scenario's chaos events: 'requeued' = from the SIGKILL/SIGSTOP until none of")
    print("the jobs the victim held is left in its processing lists (polled every 0.1 s: moved back by the reaper,")
    print("or finished by the victim after SIGCONT); 'answered' = from the event until the last of those jobs was")
    print("answered (seen by the producer's collector, which polls every 0.2 s). For redis: the jobs unanswered at the kill.")
    print("Jobs that ended as poison_job are left out of 'answered' and listed per event. For e (Sentinel): 'lost'")
    print("counts only jobs whose enqueue a replica acknowledged (WAIT); the others are reported on their own.")
    for rep in reports:
        print()
        print(f"[{rep['scenario']}] prefix {rep['prefix']}, enqueued {rep['jobs']}/{rep['planned']}, "
              f"end-to-end p50 {fmt_s(rep['latency_p50'])}, max {fmt_s(rep['latency_max'])}; "
              f"provider calls {rep['sim_calls']} (needed {rep['needed_calls']}, redone "
              f"{'-' if rep['sim_calls'] is None else rep['sim_calls'] - rep['needed_calls']})")
        if len(rep["by_kind"]) > 1:
            for kind, outcomes in sorted(rep["by_kind"].items()):
                print(f"    {kind} jobs ({sum(outcomes.values())}): " + ", ".join(f"{k}={v}" for k, v in outcomes.most_common()))
        elif rep["fallbacks"]:
            print("    fallbacks: " + ", ".join(f"{k}={v}" for k, v in rep["fallbacks"].most_common()))
        for e in rep["recoveries"]:
            print(f"    {e['kind']} pid {e['pid']} at +{e['t'] - rep['t0']:.1f} s{(' ' + e['note']) if e.get('note') else ''}: "
                  f"held {len(e['held'])} jobs, requeued {fmt_s(e['to_release'])}, answered {fmt_s(e['to_answer'])}"
                  + (f", poison {','.join(sorted(e['dead']))}" if e["dead"] else "")
                  + (f", {len(e['open'])} never answered" if e["open"] else "")
                  + (f"; first answer after it {fmt_s(e['to_first_answer'])}" if "failover" in e else ""))
        if rep["scenario"] == "e":
            print(f"    enqueues no replica acknowledged within the WAIT: {rep['unreplicated_enqueues']}; "
                  f"of those lost with the primary (the documented window): {len(rep['lost_unreplicated'])}")
        for job_id, outcome in rep["retried_pushes"]:
            print(f"    enqueue of {job_id} cut off by the Redis crash: {outcome}")
        if rep["leftovers"]:
            print(f"    still in queues/processing lists at the end: {rep['leftovers']}")
        for job_id, where in rep["lost_where"].items():
            print(f"    LOST {job_id}: {'; '.join(where)}")
        for job_id, results in rep["duplicate_detail"].items():
            print(f"    DUPLICATE {job_id}: " + " | ".join(
                f"worker={(x.get('metadata') or {}).get('worker')} ok={x.get('ok')}" for x in results))
        for failure in rep["failures"]:
            print(f"    driver problem: {failure}")


def verdict(reports):
    """Prints the verdict; returns the exit status: 1 when a scenario lost a job, wrote a
    duplicate reply or did not enqueue every job."""
    bad = [r["scenario"] for r in reports if r["lost"] or r["duplicates"] or r["jobs"] != r["planned"]]
    if bad:
        print(f"\nFAILED: scenarios {', '.join(bad)} lost jobs, wrote duplicate replies, or did not enqueue every job")
        return 1
    print("\nOK: no job lost, no duplicate reply")
    return 0
