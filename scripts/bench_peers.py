"""No-op end-to-end throughput of RQ and Celery on a given Redis, for scripts/bench-peers.

Each run starts its workers (2 processes, as many as the machine has cores), waits until
they are ready, then times N no-op jobs from the first enqueue to the last result in hand,
and prints one JSON line: {"queue", "version", "jobs", "seconds", "jobs_per_second"}.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

TASKS = '''
from celery import Celery
app = Celery("bench_peers_tasks", broker=BROKER, backend=BROKER)
app.conf.update(worker_prefetch_multiplier=4, task_acks_late=False, result_expires=600,
                broker_connection_retry_on_startup=True, worker_hijack_root_logger=False)

@app.task
def noop():
    return None
'''

RQ_TASKS = '''
def noop():
    return None
'''


def report(queue, version, jobs, seconds):
    print(json.dumps({"queue": queue, "version": version, "jobs": jobs, "seconds": round(seconds, 3),
                      "jobs_per_second": round(jobs / seconds, 1)}), flush=True)


def stop(processes):
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def run_rq(url, jobs, workers):
    import redis
    import rq
    from rq import Queue
    connection = redis.Redis.from_url(url)
    directory = tempfile.mkdtemp(prefix="bench-rq-")
    with open(os.path.join(directory, "bench_rq_tasks.py"), "w") as handle:
        handle.write(RQ_TASKS)
    queue_name = "bench-peers-rq"
    env = dict(os.environ, PYTHONPATH=directory)
    bin_dir = os.path.dirname(sys.executable)
    processes = [subprocess.Popen([os.path.join(bin_dir, "rq"), "worker", "--url", url, "--quiet", queue_name],
                                  cwd=directory, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for _ in range(workers)]
    try:
        deadline = time.time() + 60
        while len(rq.Worker.all(connection=connection)) < workers:
            if time.time() > deadline:
                sys.exit("rq workers did not register within 60 s")
            time.sleep(0.1)
        sys.path.insert(0, directory)
        import bench_rq_tasks
        queue = Queue(queue_name, connection=connection)
        started = time.time()
        enqueued = [queue.enqueue(bench_rq_tasks.noop, result_ttl=600) for _ in range(jobs)]
        for job in enqueued:
            while True:
                status = job.get_status(refresh=True)
                if status == "finished":
                    break
                if status == "failed":
                    sys.exit("an rq job failed")
                time.sleep(0.002)
        report("rq", rq.__version__ if hasattr(rq, "__version__") else rq.VERSION, jobs, time.time() - started)
    finally:
        stop(processes)


def run_celery(url, jobs, workers):
    import celery
    directory = tempfile.mkdtemp(prefix="bench-celery-")
    with open(os.path.join(directory, "bench_peers_tasks.py"), "w") as handle:
        handle.write("BROKER = %r\n" % url + TASKS)
    env = dict(os.environ, PYTHONPATH=directory)
    bin_dir = os.path.dirname(sys.executable)
    process = subprocess.Popen([os.path.join(bin_dir, "celery"), "-A", "bench_peers_tasks", "worker", "--pool", "prefork",
                                "--concurrency", str(workers), "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
                                "--without-heartbeat"], cwd=directory, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        sys.path.insert(0, directory)
        import bench_peers_tasks
        deadline = time.time() + 60
        while not bench_peers_tasks.app.control.ping(timeout=0.5):
            if time.time() > deadline:
                sys.exit("the celery worker did not answer a ping within 60 s")
        started = time.time()
        results = [bench_peers_tasks.noop.delay() for _ in range(jobs)]
        for result in results:
            result.get(timeout=120)
        report("celery", celery.__version__, jobs, time.time() - started)
    finally:
        stop([process])


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] not in ("rq", "celery"):
        sys.exit("usage: bench_peers.py rq|celery REDIS_URL JOBS WORKERS")
    kind, url, count, workers = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    (run_rq if kind == "rq" else run_celery)(url, count, workers)
