"""The scenarios: a producer thread enqueues jobs at a steady rate while a chaos thread does the
damage (a: worker SIGKILLs, b: a Redis crash and restart, c: a failing tier-1 provider, d: frozen
workers, e: the Redis primary killed under Sentinel); `run` then waits for every job to be resolved and reconciles."""

import collections
import json
import os
import random
import signal
import threading
import time

from .common import REDIS_ERRORS, log, with_retry
from .processes import Processes, ScenarioProcesses
from .reconcile import Reconciler
from .settings import JOB_DEADLINE_S

NAMES = ("a", "b", "c", "d", "e")

# Scenario e's enqueue: the job and its marker in one step, as the pool's own producer does
# (an EVALSHA followed by WAIT on the same connection).
ENQUEUE = "redis.call('SADD', KEYS[1], ARGV[1]) return redis.call('LPUSH', KEYS[2], ARGV[2])"
# WAIT for one replica, at most this long (the pool's default replica_ack_timeout_ms is 100).
WAIT_MS = 100


class Scenario(ScenarioProcesses, Reconciler):
    """One scenario: its processes (ScenarioProcesses), its producer and chaos threads (here) and
    its collector and reconciliation (Reconciler)."""

    def __init__(self, name, args, procs, rng, timing):
        self.name = name
        self.timing = timing  # settings.Timing: the pool's heartbeat, reaper and fallback settings
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
        self.topology = None  # scenario e: sentinel.SentinelTopology
        self.unreplicated = set()  # scenario e: ids whose enqueue no replica acknowledged in time

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
                if self.topology:
                    # Acknowledged only once a replica holds it: what survives a failover.
                    pipe = r.pipeline(transaction=False)
                    pipe.eval(ENQUEUE, 2, self.marker, queue, job_id, payload)
                    pipe.execute_command("WAIT", 1, WAIT_MS)
                    _, replicas = pipe.execute()
                    if replicas < 1:
                        self.unreplicated.add(job_id)
                    return
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
                if self.topology:
                    self.unreplicated.add(job_id)  # its WAIT never answered
                return
            self.retried_pushes.append((job_id, "pushed again"))

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

    def chaos_e(self):
        """SIGKILL the Redis primary mid-run; the Sentinels promote the replica; the old primary
        is restarted as the new one's replica once they have."""
        time.sleep(0.4 * self.enqueue_window())
        with self.lock:
            in_flight = {i for i in self.enqueued if not self.replies.get(i)}
        t = time.time()
        old_port, old_pid = self.topology.primary_port, self.topology.servers[self.topology.primary_port].pid
        failover, new_port = self.topology.kill_primary_and_fail_over()
        self.redis_port = new_port
        back = time.time()
        self.events.append({"kind": "primary SIGKILL", "t": t, "pid": old_pid, "held": in_flight, "t_end": back,
                            "failover": failover,
                            "note": f":{old_port}; Sentinel named :{new_port} after {failover:.1f} s, "
                                    f"old primary back as its replica after {back - t:.1f} s"})

    def chaos_c(self):
        """Nothing to kill: the failures are in the jobs' directives."""

    def chaos_d(self):
        """SIGSTOP for three heartbeat periods, then a stop long enough for the reaper to reclaim."""
        r = self.client()
        window = self.enqueue_window()
        start = time.monotonic()
        timing = self.timing
        long_stop = timing.heartbeat_ttl_s + timing.reaper_lease_s + 2 * timing.reaper_interval_s + 1.5
        plan = [(0.15, 3 * timing.heartbeat_interval_s, "3 heartbeat periods"), (0.45, long_stop, "TTL + reaper lease + margin")]
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

    # ---------------------------------------------------------------- run

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
