"""The child processes of a scenario: redis-server, the provider simulator and the workers.

Every pid the driver starts is appended to `<work>/pids`, which scripts/chaos's exit trap reads
to kill whatever the driver could not stop itself.
"""

import os
import signal
import subprocess
import threading
import time
import urllib.request

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from scriptlib import free_port  # scripts/, the driver's folder, is on sys.path

from .common import wait_until
from .settings import CONCURRENCY, FALLBACK_TIMEOUT_MS, WORKERS


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


class ScenarioProcesses:
    """Starting and stopping one scenario's redis-server, simulator and workers (a mixin of
    scenarios.Scenario, whose __init__ sets the attributes used here)."""

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
        if self.topology:
            return self.topology.client()
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
        redis_location = ({"REDIS_SENTINELS": self.topology.addresses, "REDIS_SENTINEL_MASTER": self.topology.MASTER}
                          if self.topology else {"REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0"})
        env.update(redis_location)
        env.update({
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
heartbeat_interval_seconds = {self.timing.heartbeat_interval_s}
heartbeat_ttl_seconds = {self.timing.heartbeat_ttl_s}
drain_timeout_seconds = 5.0
reaper_interval_seconds = {self.timing.reaper_interval_s}

[fallback]
timeout_ms = {FALLBACK_TIMEOUT_MS.get(self.name, self.timing.default_fallback_timeout_ms)}

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
        if self.name == "e":
            from .sentinel import SentinelTopology  # only scenario e needs redis.sentinel
            self.topology = SentinelTopology(self.procs, self.dir)
            self.topology.start()
            self.redis_port = self.topology.primary_port
        else:
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
        if self.topology:
            self.topology.stop()
