"""Scenario e's Redis: a primary, one replica and three Sentinels, all real processes on free
loopback ports (Debian's redis-server and redis-sentinel). The pool and the driver reach the
primary only through the Sentinels."""

import os
import signal
import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from .common import wait_until
from .processes import Processes, free_port

MASTER = "cervella-chaos"
# Sentinel's own timings, short so that a failover takes seconds (1 s let a loaded 2-core machine
# fail over twice: a Sentinel judged the fresh primary down during its first sync): the primary is judged down
# after DOWN_AFTER_MS without an answer (by two of the three Sentinels), then a replica is promoted.
DOWN_AFTER_MS = 2000
FAILOVER_TIMEOUT_MS = 10000


class SentinelTopology:
    MASTER = MASTER

    def __init__(self, procs, directory):
        self.procs = procs
        self.dir = directory
        self.servers = {}  # port -> Popen of a redis-server (primary or replica)
        self.sentinels = []  # (port, Popen)

    def server_argv(self, port, replica_of=None):
        data = os.path.join(self.dir, f"redis-{port}")
        os.makedirs(data, exist_ok=True)
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", data, "--daemonize", "no", "--loglevel", "warning", "--maxmemory-policy", "noeviction",
                "--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"]
        if replica_of:
            argv += ["--replicaof", "127.0.0.1", str(replica_of)]
        return argv

    def start_server(self, port, replica_of=None):
        self.servers[port] = self.procs.spawn(self.server_argv(port, replica_of), os.path.join(self.dir, f"redis-{port}.log"))
        probe = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1, socket_connect_timeout=1)
        wait_until(lambda: probe.ping(), 20, what=f"redis-server on :{port}")
        if replica_of:
            wait_until(lambda: probe.info("replication").get("master_link_status") == "up", 30,
                       what=f"replica :{port} in sync with :{replica_of}")
        probe.close()

    def start(self):
        self.primary_port = free_port()
        replica_port = free_port()
        self.start_server(self.primary_port)
        self.start_server(replica_port, replica_of=self.primary_port)
        binary = "redis-sentinel" if any(os.access(os.path.join(p, "redis-sentinel"), os.X_OK)
                                         for p in os.environ.get("PATH", "").split(":")) else None
        for index in range(3):
            port = free_port()
            conf = os.path.join(self.dir, f"sentinel-{port}.conf")
            with open(conf, "w") as f:  # Sentinel rewrites its file: one each, writable
                f.write(f"port {port}\nbind 127.0.0.1\ndir {self.dir}\n"
                        f"sentinel monitor {MASTER} 127.0.0.1 {self.primary_port} 2\n"
                        f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}\n"
                        f"sentinel failover-timeout {MASTER} {FAILOVER_TIMEOUT_MS}\n"
                        f"sentinel parallel-syncs {MASTER} 1\n")
            argv = [binary, conf] if binary else ["redis-server", conf, "--sentinel"]
            self.sentinels.append((port, self.procs.spawn(argv, os.path.join(self.dir, f"sentinel-{index + 1}.log"))))
        # Every Sentinel knows the replica and the other Sentinels before anything fails.
        for port, _ in self.sentinels:
            probe = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1, socket_connect_timeout=1)
            wait_until(lambda: (probe.execute_command("SENTINEL", "MASTER", MASTER) or {}) and
                       self.master_field(probe, "num-slaves") >= 1 and self.master_field(probe, "num-other-sentinels") >= 2,
                       30, interval=0.2, what=f"Sentinel :{port} to see the replica and its peers")
            probe.close()

    @staticmethod
    def master_field(probe, name):
        reply = probe.execute_command("SENTINEL", "MASTER", MASTER)
        if isinstance(reply, dict):
            value = reply.get(name) or reply.get(name.encode())
        else:
            pairs = dict(zip(reply[::2], reply[1::2]))
            value = pairs.get(name) or pairs.get(name.encode())
        return int(value or 0)

    @property
    def addresses(self):
        return ",".join(f"127.0.0.1:{port}" for port, _ in self.sentinels)

    def client(self):
        # As ScenarioProcesses.client: no silent retries; each new connection asks the Sentinels.
        sentinel = Sentinel([("127.0.0.1", port) for port, _ in self.sentinels], socket_timeout=1)
        return sentinel.master_for(MASTER, socket_timeout=10, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0))

    def named_primary(self):
        """The primary's port as the first Sentinel that answers names it, or None."""
        for port, _ in self.sentinels:
            try:
                probe = redis.Redis(host="127.0.0.1", port=port, socket_timeout=0.5, socket_connect_timeout=0.5)
                host_port = probe.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER)
                probe.close()
                if host_port:
                    return int(host_port[1])
            except redis.RedisError:
                continue
        return None

    def kill_primary_and_fail_over(self):
        """SIGKILLs the primary; returns (seconds until the Sentinels named the new primary, its port).
        Then restarts the old one as the new primary's replica, as an operator would."""
        old = self.primary_port
        t = time.time()
        Processes.signal(self.servers[old], signal.SIGKILL)
        self.servers[old].wait(timeout=10)
        new = None
        end = time.monotonic() + 60
        while time.monotonic() < end:
            named = self.named_primary()
            if named and named != old:
                new = named
                break
            time.sleep(0.05)
        failover = time.time() - t
        if new is None:
            raise RuntimeError("the Sentinels named no new primary within 60 s of the kill")
        self.primary_port = new
        self.start_server(old, replica_of=new)
        return failover, new

    def stop(self):
        for _, proc in self.sentinels:
            self.procs.stop(proc, grace=5.0)
        for proc in self.servers.values():
            self.procs.stop(proc, grace=5.0)
