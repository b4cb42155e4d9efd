"""Every metric name the operations files use is one the code exports.

Starts the provider simulator, a worker and a gateway (the cervella binary given) on a Redis
given by URL, sends requests that produce every outcome the rules and the dashboard read
(answered, a low-confidence fallback answered by Claude, a cache hit), scrapes both /metrics
pages, and compares the names found there with the `cervella_*` names in the files given.
"""

import json
import os
import re
import subprocess
import sys
import time
import urllib.request


from scriptlib import ScriptFailure, free_port, wait_http  # noqa: E402 (scripts/ is on sys.path)


def exported_names(text):
    names = set()
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
        names.add(name)
        # A histogram is referenced by its base name too (and its _bucket/_sum/_count series).
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix):
                names.add(name[: -len(suffix)])
    return names


def main():
    binary, redis_url, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    sim_port, worker_port, gateway_port = free_port(), free_port(), free_port()
    sim = f"http://127.0.0.1:{sim_port}"
    env = dict(os.environ, REDIS_URL=redis_url, QWEN3_ENDPOINT=sim, DEEPSEEK_ENDPOINT=sim, CLAUDE_ENDPOINT=sim,
               CLAUDE_API_KEY="sim-key", CERVELLA_API_KEYS="check-key", CERVELLA_KEY_PREFIX=f"checkops{os.getpid()}")
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    processes = [
        subprocess.Popen([binary, "sim", "--port", str(sim_port)], **quiet),
        subprocess.Popen([binary, "worker", "--metrics-port", str(worker_port)], **quiet),
        subprocess.Popen([binary, "gateway", "--port", str(gateway_port)], **quiet),
    ]
    try:
        try:
            wait_http(f"http://127.0.0.1:{gateway_port}/healthz")
            wait_http(f"http://127.0.0.1:{worker_port}/metrics")
        except ScriptFailure as error:
            sys.exit(f"check-ops: {error}")
        tag = str(time.time())
        for message in [f"Summarize {tag}.", f"Summarize {tag}.", f"#sim openai logprob=-2.5\nSummarize {tag}, unsure."]:
            request = urllib.request.Request(
                f"http://127.0.0.1:{gateway_port}/api/chat", method="POST",
                data=json.dumps({"message": message}).encode(),
                headers={"authorization": "Bearer check-key", "content-type": "application/json"})
            with urllib.request.urlopen(request, timeout=60) as response:
                metadata = json.loads(response.read()).get("metadata", {})
            print(f"check-ops: sent a request: tier {metadata.get('tier')}, fallback {metadata.get('fallback')}, "
                  f"cache hit {metadata.get('cache_hit')}")
        time.sleep(1)
        exported = set()
        for url in (f"http://127.0.0.1:{worker_port}/metrics", f"http://127.0.0.1:{gateway_port}/metrics"):
            request = urllib.request.Request(url, headers={"authorization": "Bearer check-key"})
            with urllib.request.urlopen(request, timeout=5) as response:
                exported |= exported_names(response.read().decode())
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()

    missing = []
    referenced = 0
    for path in files:
        with open(path) as handle:
            used = set(re.findall(r"\bcervella_[a-z0-9_]+", handle.read()))
        referenced += len(used)
        missing += [f"{path}: {name}" for name in sorted(used) if name not in exported]
    if missing:
        print("check-ops: these metric names are not exported by the gateway or a worker:", *missing, sep="\n  ")
        print("exported:", " ".join(sorted(n for n in exported if n.startswith("cervella_"))))
        sys.exit(1)
    print(f"check-ops: all {referenced} metric names used in {len(files)} files are exported")


main()
