"""Runs llama.cpp's OpenAI-compatible server (the xllamacpp wheel) until SIGTERM or SIGINT.

Used by scripts/llm-server; run it with the private venv's Python. xllamacpp compiles
llama.cpp's own tools/server into a Python extension: the same HTTP endpoints and JSON as the
llama-server binary (/health, /v1/models, /v1/chat/completions with logprobs, streaming).
"""

import argparse
import os
import signal
import sys
import threading

import xllamacpp as xlc


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--alias", default="tiny-qwen3")
    parser.add_argument("--ctx", type=int, default=4096)
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--exit-with-parent", action="store_true", help="exit when the parent process dies")
    args = parser.parse_args()
    parent = os.getppid()

    params = xlc.CommonParams()
    params.model.path = args.model
    params.model_alias = {args.alias}  # a set of names in this llama.cpp
    params.hostnames = [args.host]
    params.port = args.port
    params.n_ctx = args.ctx * args.parallel  # llama.cpp splits the context between the slots
    params.n_parallel = args.parallel
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.n_gpu_layers = 0
    params.ui = False
    params.warmup = False

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server = xlc.Server(params)  # listens on host:port until the object is released
    print(f"llm_serve: listening on {args.host}:{args.port}", file=sys.stderr, flush=True)
    while not stop.wait(0.5):
        # A test that crashed leaves no engine behind: orphans are re-parented.
        if args.exit_with_parent and os.getppid() != parent:
            break
    del server


if __name__ == "__main__":
    main()
