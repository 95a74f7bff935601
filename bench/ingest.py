"""Ingest throughput: acknowledged events per second through POST /api/v1/ingest.

Starts what it needs (embedded PostgreSQL and Redis in a fresh folder under bench/ unless DATABASE_URL /
REDIS_URL are set, migrations, a project and key, gunicorn with 2 workers), then a separate
client process pre-builds realistic ~1 KB events in batches of 500 and sends them from 4
concurrent senders over keep-alive connections. The last line is events/s.

    .venv/bin/python bench/ingest.py [--batches 240] [--senders 4] [--batch-size 500]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODELS = [("openai", "gpt-4o-mini"), ("openai", "gpt-4.1"), ("anthropic", "claude-sonnet-4-5-20250929"),
          ("google", "gemini-2.5-flash"), ("mistral", "mistral-small-2603"), ("deepseek", "deepseek-chat"),
          ("acme", "in-house-llm")]
WORDS = ("the order shipment refund account password invoice delivery weather summary translate "
         "explain code error timeout customer policy discount premium support question answer").split()


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def build_bodies(batches: int, batch_size: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    bodies = []
    for _ in range(batches):
        events = []
        for _ in range(batch_size):
            provider, model = rng.choice(MODELS)
            tokens_in = rng.randint(50, 4000)
            events.append({
                "type": "call", "id": uuid.uuid4().hex, "trace_id": uuid.uuid4().hex[:16],
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - rng.randint(0, 86400))),
                "latency_ms": round(rng.lognormvariate(6.5, 0.6), 1), "provider": provider, "model": model,
                "input": [{"role": "system", "content": "You are a helpful support assistant."},
                          {"role": "user", "content": _text(rng, 45)}],
                "output": _text(rng, 60),
                "usage": {"input_tokens": tokens_in, "output_tokens": rng.randint(10, 800),
                          "cached_input_tokens": rng.choice([0, 0, tokens_in // 2])},
                "user_id": f"user-{rng.randint(1, 5000)}", "session_id": f"s-{rng.randint(1, 20000)}",
                "feature": rng.choice(["chat", "search", "summarize", "email"]),
                "environment": "production", "prompt": {"name": "support", "version": rng.randint(1, 6)},
                "tags": rng.sample(["beta", "eu", "us", "mobile", "web"], 2),
                "params": {"temperature": 0.2, "max_tokens": 1024},
            })
        bodies.append(json.dumps({"events": events}).encode())
    return bodies


def client_main(args: argparse.Namespace) -> None:
    """Runs in its own process: pre-build bodies, then send them and report events/s."""
    bodies = build_bodies(args.batches, args.batch_size)
    avg = sum(len(b) for b in bodies) / (len(bodies) * args.batch_size)
    print(f"client: {len(bodies)} batches of {args.batch_size} events, {avg:.0f} bytes/event", flush=True)
    host, port = args.target.split(":")
    lock = threading.Lock()
    queue = list(range(len(bodies)))
    acked = [0]
    failures: list[str] = []

    def sender() -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        while True:
            with lock:
                if not queue:
                    break
                index = queue.pop()
            conn.request("POST", "/api/v1/ingest", body=bodies[index],
                         headers={"Authorization": f"Bearer {args.key}", "Content-Type": "application/json"})
            response = conn.getresponse()
            payload = response.read()
            if response.status != 202:
                failures.append(f"{response.status} {payload[:200]!r}")
                continue
            with lock:
                acked[0] += json.loads(payload)["accepted"]
        conn.close()

    warm = http.client.HTTPConnection(host, int(port), timeout=60)
    warm.request("POST", "/api/v1/ingest", body=build_bodies(1, 50, seed=99)[0],
                 headers={"Authorization": f"Bearer {args.key}", "Content-Type": "application/json"})
    warm.getresponse().read()
    threads = [threading.Thread(target=sender) for _ in range(args.senders)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        print(f"client: {len(failures)} failed requests, first: {failures[0]}", flush=True)
    print(f"client: {acked[0]} events acknowledged in {elapsed:.2f} s by {args.senders} senders", flush=True)
    print(f"{acked[0] / elapsed:.0f} events/s", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=240)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_main(args)
        return 0

    from harness import project_key, servers, web

    with servers(OBSERVATORY_INGEST_RATE="1000000/min") as embedded_db, \
            web(os.environ.get("BENCH_PORT", "8765")) as target:
        key = project_key(["ingest"])
        print(f"server: gunicorn with 2 workers at {target}; database "
              f"{'embedded PostgreSQL' if embedded_db else os.environ['DATABASE_URL']}", flush=True)
        return subprocess.call([sys.executable, __file__, "--client", "--target", target, "--key", key,
                                "--batches", str(args.batches), "--batch-size", str(args.batch_size),
                                "--senders", str(args.senders)])


if __name__ == "__main__":
    sys.exit(main())
