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

Then every enqueued id is reconciled against its reply list and the dead letter list; a job
with neither is lost, and is located (queue, processing list of a live or dead worker, done key).
Exit status 1 when any scenario lost a job, wrote a duplicate reply or could not enqueue a job.
"""

import argparse
import collections
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError)  # BusyLoadingError is a ConnectionError

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


def log(message):
    print(f"\033[1m==>\033[0m {message}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


class Processes:
    """Every child process this driver starts; pids also go to a file for scripts/chaos's trap."""

    def __init__(self, pidfile):
        self.pidfile = pidfile
        self.children = []
        self.lock = threading.Lock()

    def spawn(self, argv, log_path, env=None):
        logf = open(log_path, "ab")
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT, env=env)
        logf.close()
        with self.lock:
            self.children.append(proc)
            with open(self.pidfile, "a") as f:
                f.write(f"{proc.pid}\n")
        return proc

    # Processes this driver sent a terminating signal to; any other exit is unexpected.
    terminated = set()

    @staticmethod
    def signal(proc, sig):
        if sig in (signal.SIGKILL, signal.SIGTERM):
            Processes.terminated.add(proc.pid)
        if proc.poll() is None:
            try:
                os.kill(proc.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, proc, grace=8.0):
        """SIGCONT (it may be stopped), SIGTERM, then SIGKILL after `grace` seconds."""
        if proc.poll() is not None:
            return
        self.signal(proc, signal.SIGCONT)
        self.signal(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.signal(proc, signal.SIGKILL)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def stop_all(self, grace=2.0):
        with self.lock:
            children = list(self.children)
        for proc in children:
            if proc.poll() is None:
                self.signal(proc, signal.SIGCONT)
                self.signal(proc, signal.SIGTERM)
        end = time.monotonic() + grace
        for proc in children:
            try:
                proc.wait(timeout=max(0.05, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.signal(proc, signal.SIGKILL)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass


class Scenario:
    def __init__(self, name, args, procs, rng):
        self.name = name
        self.args = args
        self.procs = procs
        self.rng = rng  # jobs (producer thread)
        self.chaos_rng = random.Random(rng.random())  # victims and timings (chaos thread)
        self.dir = os.path.join(args.work, name)
        os.makedirs(self.dir, exist_ok=True)
        self.prefix = f"chaos-{name}-{os.getpid()}-{rng.randrange(1 << 30):x}"
        self.marker = f"{self.prefix}-chaos:enqueued"
        self.jobs = args.jobs
        self.rate = args.rate
        self.lock = threading.Lock()
        self.enqueued = {}  # id -> {"t": enqueue time, "latency_ms": simulated, "kind": str}
        self.replies = collections.defaultdict(list)  # id -> [(observed time, result dict)]
        self.dead_ids = collections.Counter()
        self.dead_entries = []
        self.events = []  # chaos events: {"kind", "t", "pid", "held", "t_end", "note"}
        self.producer_done = threading.Event()
        self.stop_collector = threading.Event()
        self.failures = []  # driver-side problems (not pool bugs)
        self.workers = []
        self.watchers = []
        self.retried_pushes = []  # (id, outcome) of enqueues cut off by a Redis crash
        self.redis_proc = None
        self.sim_proc = None
        self.sim_port = None
        self.redis_port = None
        self.redis_restarts = 0

    # ---------------------------------------------------------------- processes

    def redis_argv(self):
        argv = ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
                "--dir", os.path.join(self.dir, "redis"), "--daemonize", "no", "--loglevel", "warning",
                "--maxmemory-policy", "noeviction"]
        if self.name == "b":
            argv += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            argv += ["--appendonly", "no"]
        return argv

    def start_redis(self):
        os.makedirs(os.path.join(self.dir, "redis"), exist_ok=True)
        self.redis_proc = self.procs.spawn(self.redis_argv(), os.path.join(self.dir, "redis.log"))
        probe = redis.Redis(host="127.0.0.1", port=self.redis_port, socket_timeout=1, socket_connect_timeout=1)
        wait_until(lambda: probe.ping(), 20, what=f"redis-server on :{self.redis_port}")
        probe.close()

    def client(self):
        # No silent retries inside redis-py (its default retries a command after a dropped
        # connection): a retried LPUSH whose first reply was lost queues the job twice. Every
        # retry here is explicit, and reads of replies are non-destructive (LRANGE).
        return redis.Redis(host="127.0.0.1", port=self.redis_port, socket_timeout=10, socket_connect_timeout=2,
                           retry=Retry(NoBackoff(), 0))

    def worker_env(self):
        # Nothing from the caller's environment may override the scenario's settings.
        overrides = ("CERVELLA_", "CLAUDE_", "DEEPSEEK_", "QWEN3_", "REDIS_", "TIER_", "FALLBACK_", "ENABLE_FALLBACK",
                     "ROLLOUT_PHASE", "POC_VALIDATED", "DEFAULT_TIER", "DAILY_COST_ALERT_USD", "MONTHLY_BUDGET_USD")
        env = {k: v for k, v in os.environ.items() if not k.startswith(overrides)}
        env.update({
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "CERVELLA_KEY_PREFIX": self.prefix,
            "QWEN3_ENDPOINT": f"http://127.0.0.1:{self.sim_port}",
            "DEEPSEEK_ENDPOINT": f"http://127.0.0.1:{self.sim_port}",
            "CLAUDE_ENDPOINT": f"http://127.0.0.1:{self.sim_port}",
            "CLAUDE_API_KEY": "chaos-simulated-key",
        })
        return env

    def write_config(self):
        self.config = os.path.join(self.dir, "worker.toml")
        with open(self.config, "w") as f:
            f.write(f"""[redis]
# Replies must outlive the scenario: the reconciler reads them (without popping) at the end.
reply_ttl_seconds = 900

[worker]
queues = ["fallback", "tier1", "tier3"]
concurrency = {CONCURRENCY}
block_timeout_seconds = 1.0
heartbeat_interval_seconds = {HEARTBEAT_INTERVAL_S}
heartbeat_ttl_seconds = {HEARTBEAT_TTL_S}
drain_timeout_seconds = 5.0
reaper_interval_seconds = {REAPER_INTERVAL_S}

[fallback]
timeout_ms = {FALLBACK_TIMEOUT_MS.get(self.name, DEFAULT_FALLBACK_TIMEOUT_MS)}

[tier2]
enabled = false
""")

    def start_worker(self, wait=True):
        n = len(self.workers) + 1
        proc = self.procs.spawn([self.args.bin, "worker", "--config", self.config, "--log-level", self.args.worker_log_level],
                                os.path.join(self.dir, f"worker-{n}.log"), env=self.worker_env())
        self.workers.append(proc)
        if wait:
            r = self.client()
            wait_until(lambda: any(True for _ in r.scan_iter(match=f"{self.prefix}:worker:*:{proc.pid}", count=1000)),
                       30, interval=0.1, what=f"worker {proc.pid} heartbeat")
            r.close()
        return proc

    def live_workers(self):
        return [w for w in self.workers if w.poll() is None]

    def setup(self):
        self.redis_port = free_port()
        self.start_redis()
        self.sim_port = free_port()
        self.sim_proc = self.procs.spawn([self.args.bin, "sim", "--port", str(self.sim_port), "--log-level", "warning"],
                                         os.path.join(self.dir, "sim.log"))
        wait_until(lambda: urllib.request.urlopen(f"http://127.0.0.1:{self.sim_port}/health", timeout=1).status == 200,
                   30, interval=0.1, what="simulator")
        self.write_config()
        for _ in range(WORKERS):
            self.start_worker(wait=False)
        r = self.client()
        wait_until(lambda: sum(1 for _ in r.scan_iter(match=f"{self.prefix}:worker:*", count=1000)) >= WORKERS,
                   60, interval=0.1, what="four worker heartbeats")
        r.close()

    def teardown(self):
        live = self.live_workers()
        for w in live:
            Processes.signal(w, signal.SIGCONT)
            Processes.signal(w, signal.SIGTERM)
        for w in live:
            self.procs.stop(w, grace=8.0)
        if self.sim_proc:
            self.procs.stop(self.sim_proc, grace=5.0)
        if self.redis_proc:
            self.procs.stop(self.redis_proc, grace=5.0)

    # ---------------------------------------------------------------- jobs

    def job_text(self, job_id, index):
        """The last user message, with the per-job #sim directives; returns (text, latency_ms, kind)."""
        base = f"Summarize: chaos scenario {self.name}, job {index} ({job_id}). Redis lists make durable queues."
        if self.name == "c":
            latency = self.rng.randint(200, 1000)
            draw = self.rng.random()
            if draw < 0.30:
                kind, line = "5xx", f"#sim openai status={self.rng.choice([500, 502, 503, 504])}"
            elif draw < 0.40:
                kind, line = "hang", "#sim openai hang"
            elif draw < 0.50:
                kind, line = "garbage", "#sim openai garbage"
            else:
                kind, line = "ok", None
            text = f"{base}\n#sim latency_ms={latency}" + (f"\n{line}" if line else "")
            return text, latency, kind
        latency = self.rng.randint(200, 2000)
        return f"{base}\n#sim latency_ms={latency}", latency, "ok"

    def produce(self):
        r = self.client()
        queue = f"{self.prefix}:queue:tier1"
        start = time.monotonic()
        try:
            for index in range(self.jobs):
                due = start + index / self.rate
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                job_id = f"{self.name}-{index:05d}-{self.rng.randrange(1 << 32):08x}"
                text, latency, kind = self.job_text(job_id, index)
                now = time.time()
                job = {
                    "v": 1, "id": job_id, "reply_to": f"{self.prefix}:reply:{job_id}",
                    "created_at": now, "deadline_at": now + JOB_DEADLINE_S, "attempt": 0,
                    "messages": [{"role": "user", "content": text}],
                    "params": {"max_tokens": 200, "temperature": 0.2},
                    "tier_hint": "auto", "force_model": None, "enable_fallback": True, "cache": True,
                    "route": {"tier": 1, "model": "qwen3-4b", "reason": "chaos"},
                    "fallback_from": None, "metadata": {"chaos": self.name, "kind": kind},
                }
                payload = json.dumps(job)
                self.push(r, queue, job_id, payload)
                with self.lock:
                    self.enqueued[job_id] = {"t": now, "latency_ms": latency, "kind": kind}
        except Exception as error:  # noqa: BLE001 - reported, not swallowed
            self.failures.append(f"producer: {error!r}")
        finally:
            self.producer_done.set()
            r.close()

    def push(self, r, queue, job_id, payload):
        """LPUSH with an atomic marker, so a push cut off by a Redis crash is retried only if it did not land."""
        end = time.monotonic() + 90
        while True:
            try:
                pipe = r.pipeline(transaction=True)
                pipe.sadd(self.marker, job_id)
                pipe.lpush(queue, payload)
                pipe.execute()
                return
            except REDIS_ERRORS:
                if time.monotonic() > end:
                    raise
            # The reply was lost: the push may or may not have landed. Ask (until Redis answers)
            # before pushing again, or the job would be queued twice.
            landed = with_retry(lambda: r.sismember(self.marker, job_id), timeout=max(1.0, end - time.monotonic()),
                                what=f"checking whether {job_id} was enqueued")
            if landed:
                self.retried_pushes.append((job_id, "landed"))
                return
            self.retried_pushes.append((job_id, "pushed again"))

    # ---------------------------------------------------------------- replies

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

    # ---------------------------------------------------------------- chaos

    def held_by(self, r, pid):
        """Job ids in the processing lists of worker `pid`."""
        held = set()
        for key in r.scan_iter(match=f"{self.prefix}:processing:*:{pid}", count=1000):
            for raw in r.lrange(key, 0, -1):
                try:
                    held.add(json.loads(raw)["id"])
                except (ValueError, KeyError, TypeError):
                    held.add(f"<unreadable in {key.decode()}>")
        return held

    def watch_release(self, event):
        """Records in event["t_released"] when none of the jobs the victim held is left in its
        processing lists (moved back to the queue by the reaper, or finished by the victim itself
        after SIGCONT). Polls every 0.1 s for at most 90 s."""
        def run():
            r = self.client()
            end = time.monotonic() + 90
            try:
                while time.monotonic() < end:
                    try:
                        if not (self.held_by(r, event["pid"]) & event["held"]):
                            event["t_released"] = time.time()
                            return
                    except REDIS_ERRORS:
                        pass
                    time.sleep(0.1)
            finally:
                r.close()
        thread = threading.Thread(target=run, name=f"watch-{event['pid']}", daemon=True)
        thread.start()
        self.watchers.append(thread)

    def chaos(self):
        try:
            getattr(self, f"chaos_{self.name}")()
        except Exception as error:  # noqa: BLE001
            self.failures.append(f"chaos thread: {error!r}")

    def enqueue_window(self):
        return self.jobs / self.rate

    def chaos_a(self):
        """SIGKILL a random worker every 2-4 s while jobs are being enqueued; restart it at once."""
        r = self.client()
        time.sleep(1.5)
        while not self.producer_done.is_set():
            victim = self.chaos_rng.choice(self.live_workers())
            t = time.time()
            Processes.signal(victim, signal.SIGKILL)
            victim.wait(timeout=10)
            held = with_retry(lambda: self.held_by(r, victim.pid))
            event = {"kind": "SIGKILL", "t": t, "pid": victim.pid, "held": held}
            self.events.append(event)
            self.watch_release(event)
            self.start_worker(wait=False)
            self.producer_done.wait(self.chaos_rng.uniform(2.0, 4.0))
        r.close()

    def chaos_b(self):
        """SIGKILL redis-server once (short) or twice (full) mid-run; restart it on the same port and dir."""
        window = self.enqueue_window()
        moments = [0.4] if self.args.short else [0.3, 0.7]
        start = time.monotonic()
        for fraction in moments:
            delay = start + fraction * window - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            with self.lock:
                in_flight = {i for i in self.enqueued if not self.replies.get(i)}
            t = time.time()
            victim_pid = self.redis_proc.pid
            Processes.signal(self.redis_proc, signal.SIGKILL)
            self.redis_proc.wait(timeout=10)
            time.sleep(self.args.redis_downtime)
            self.start_redis()
            self.redis_restarts += 1
            back = time.time()
            self.events.append({"kind": "redis SIGKILL", "t": t, "pid": victim_pid, "held": in_flight,
                                "t_end": back, "note": f"down {back - t:.1f} s, restarted as pid {self.redis_proc.pid}"})

    def chaos_c(self):
        """Nothing to kill: the failures are in the jobs' directives."""

    def chaos_d(self):
        """SIGSTOP for three heartbeat periods, then a stop long enough for the reaper to reclaim."""
        r = self.client()
        window = self.enqueue_window()
        start = time.monotonic()
        long_stop = HEARTBEAT_TTL_S + REAPER_LEASE_S + 2 * REAPER_INTERVAL_S + 1.5
        plan = [(0.15, 3 * HEARTBEAT_INTERVAL_S, "3 heartbeat periods"), (0.45, long_stop, "TTL + reaper lease + margin")]
        used = set()
        for fraction, duration, why in plan:
            delay = start + fraction * window - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            victim = self.chaos_rng.choice([w for w in self.live_workers() if w.pid not in used])
            used.add(victim.pid)
            t = time.time()
            Processes.signal(victim, signal.SIGSTOP)
            held = with_retry(lambda: self.held_by(r, victim.pid))
            event = {"kind": "SIGSTOP", "t": t, "pid": victim.pid, "held": set(held), "note": f"{duration:.1f} s ({why})"}
            self.events.append(event)
            self.watch_release(event)
            time.sleep(duration)
            # Redis still completes a BLMOVE for a stopped client: count what landed meanwhile.
            event["held"] |= with_retry(lambda: self.held_by(r, victim.pid))
            Processes.signal(victim, signal.SIGCONT)
            event["t_end"] = time.time()
        r.close()

    # ---------------------------------------------------------------- run and reconcile

    def run(self):
        t0 = time.monotonic()
        log(f"scenario {self.name}: redis :{self.redis_port}, sim :{self.sim_port}, prefix {self.prefix}, "
            f"{self.jobs} jobs at {self.rate:g}/s")
        producer = threading.Thread(target=self.produce, name="producer", daemon=True)
        collector = threading.Thread(target=self.collect, name="collector", daemon=True)
        chaos = threading.Thread(target=self.chaos, name="chaos", daemon=True)
        collector.start()
        producer.start()
        chaos.start()
        producer.join(timeout=self.enqueue_window() * 3 + 180)
        chaos.join(timeout=120)
        # Wait for every job to be resolved; give up after a stall (no progress) or the deadline.
        hard_end = time.monotonic() + JOB_DEADLINE_S + 30
        last_progress, last_count = time.monotonic(), -1
        while time.monotonic() < hard_end:
            left = len(self.unresolved())
            if left == 0 and self.producer_done.is_set():
                break
            if left != last_count:
                last_progress, last_count = time.monotonic(), left
            elif time.monotonic() - last_progress > self.args.stall_seconds:
                log(f"scenario {self.name}: no progress for {self.args.stall_seconds:.0f} s with {left} jobs unresolved")
                break
            time.sleep(0.25)
        if self.unresolved():
            self.diagnose()
        for thread in self.watchers:
            thread.join(timeout=max(0.0, hard_end - time.monotonic()))
        # Late finishers (a continued worker and the fallback copies it pushes) may still write:
        # wait until every queue and processing list has stayed empty for settle_seconds (at most
        # quiesce_seconds in all), then sweep everything.
        r = self.client()
        quiet_end = time.monotonic() + self.args.quiesce_seconds
        empty_since = None
        while time.monotonic() < quiet_end:
            try:
                busy = [k for k in r.scan_iter(match=f"{self.prefix}:*", count=1000)
                        if (b":queue:" in k or b":processing:" in k) and r.llen(k)]
            except REDIS_ERRORS:
                busy = ["?"]
            if busy:
                empty_since = None
            elif empty_since is None:
                empty_since = time.monotonic()
            elif time.monotonic() - empty_since >= self.args.settle_seconds:
                break
            time.sleep(0.1)
        r.close()
        self.stop_collector.set()
        collector.join(timeout=30)
        r = self.client()
        with_retry(lambda: self.poll_replies(r, list(self.enqueued)), what="final reply sweep")
        with_retry(lambda: self.poll_dead(r), what="dead letter read")
        self.duration = time.monotonic() - t0
        report = self.reconcile(r)
        r.close()
        return report

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
            recoveries.append({**event, "to_answer": to_answer, "open": open_ids, "dead": dead_ids,
                               "to_release": None if released is None else released - event["t"]})
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
    names = {"a": "a worker SIGKILL", "b": "b redis SIGKILL", "c": "c provider 5xx/hang/garbage", "d": "d worker SIGSTOP"}
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
    print("Jobs that ended as poison_job are left out of 'answered' and listed per event.")
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
                  + (f", {len(e['open'])} never answered" if e["open"] else ""))
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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True, help="path of the cervella executable")
    parser.add_argument("--work", required=True, help="scratch directory (logs, redis dirs)")
    parser.add_argument("--short", action="store_true", help="300 jobs per scenario; under 3 minutes in all")
    parser.add_argument("--scenarios", default="a,b,c,d", help="comma-separated subset of a,b,c,d")
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

    def terminate(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)
    procs = Processes(os.path.join(args.work, "pids"))
    reports = []
    started = time.monotonic()
    try:
        for index, name in enumerate(s.strip() for s in args.scenarios.split(",") if s.strip()):
            if name not in ("a", "b", "c", "d"):
                parser.error(f"unknown scenario {name!r}")
            scenario = Scenario(name, args, procs, random.Random(args.seed * 10 + index))
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
    bad = [r["scenario"] for r in reports if r["lost"] or r["duplicates"] or r["jobs"] != r["planned"]]
    if bad:
        print(f"\nFAILED: scenarios {', '.join(bad)} lost jobs, wrote duplicate replies, or did not enqueue every job")
        return 1
    print("\nOK: no job lost, no duplicate reply")
    return 0


if __name__ == "__main__":
    sys.exit(main())
