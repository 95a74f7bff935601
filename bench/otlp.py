"""OTLP throughput end to end: spans/s from the first export until every span is listed by GET /api/v1/calls.

Starts what it needs (embedded PostgreSQL and Redis in a fresh folder under bench/ unless DATABASE_URL /
REDIS_URL are set, migrations, prices, a project and key, gunicorn with 2 workers). Then sender processes
each create agent traces with the real OpenTelemetry SDK (a root `invoke_agent` span, two GenAI `chat`
spans with messages and usage, one `execute_tool` span) and export them with OTLPSpanExporter
(HTTP/protobuf) behind a BatchSpanProcessor (batches of up to 1,000 spans, the server's per-request limit).
The clock starts when the senders start creating spans and stops when the read API has listed every span:
the calls are paged through GET /api/v1/calls (limit=500, keyset cursors, a few time windows read
concurrently) and the ids listed must be exactly the trace_id:span_id of every span the senders created.
It also prints the CPU time each part used (senders, web workers, PostgreSQL, this process). The last line
is spans/s.

    .venv/bin/python bench/otlp.py [--traces 4000] [--senders 3] [--batch 1000]
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import msgspec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODELS = [("openai", "gpt-4o-mini"), ("openai", "gpt-4.1"), ("anthropic", "claude-sonnet-4-5-20250929"),
          ("google", "gemini-2.5-flash"), ("acme", "in-house-llm")]
WORDS = ("the order shipment refund account password invoice delivery weather summary translate "
         "explain code error timeout customer policy discount premium support question answer").split()
SPANS_PER_TRACE = 4


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def sender(index: int, traces: int, batch: int, target: str, key: str, ready: Any, go: Any, out: Any) -> None:
    """One application process: creates `traces` agent traces and exports them with the OTel SDK.
    Sends back the ids of every span it created and the CPU time it used."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.trace import SpanKind

    rng = random.Random(index)
    provider = TracerProvider(resource=Resource.create({"service.name": "bench-app", "service.version": "1.0",
                                                        "deployment.environment.name": "bench"}))
    exporter = OTLPSpanExporter(endpoint=f"http://{target}/v1/traces", headers={"Authorization": f"Bearer {key}"},
                                timeout=60)
    # The queue holds every span so nothing is dropped: the figure counts only delivered spans.
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=traces * SPANS_PER_TRACE + 1024,
                                                   max_export_batch_size=batch, schedule_delay_millis=100))
    tracer = provider.get_tracer("bench.otlp")
    prompts = [json.dumps([{"role": "system", "parts": [{"type": "text", "content": "You are a support agent."}]},
                           {"role": "user", "parts": [{"type": "text", "content": _text(rng, 40)}]}])
               for _ in range(50)]
    answers = [json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": _text(rng, 50)}],
                            "finish_reason": "stop"}]) for _ in range(50)]
    created = []  # SpanContext of every span, turned into ids after the run
    ready.set()
    go.wait()
    cpu_start = time.process_time()
    for n in range(traces):
        with tracer.start_as_current_span("invoke_agent support", kind=SpanKind.INTERNAL) as root:
            root.set_attributes({"gen_ai.operation.name": "invoke_agent", "user.id": f"user-{rng.randint(1, 5000)}",
                                 "session.id": f"s-{rng.randint(1, 20000)}"})
            created.append(root.get_span_context())
            for step in range(2):
                provider_name, model = rng.choice(MODELS)
                with tracer.start_as_current_span(f"chat {model}", kind=SpanKind.CLIENT) as span:
                    tokens_in = rng.randint(50, 4000)
                    span.set_attributes({
                        "gen_ai.operation.name": "chat", "gen_ai.provider.name": provider_name,
                        "gen_ai.request.model": model, "gen_ai.response.model": model,
                        "gen_ai.usage.input_tokens": tokens_in, "gen_ai.usage.output_tokens": rng.randint(10, 800),
                        "gen_ai.usage.cache_read.input_tokens": rng.choice([0, 0, tokens_in // 2]),
                        "gen_ai.request.temperature": 0.2, "gen_ai.request.max_tokens": 1024,
                        "gen_ai.response.finish_reasons": ["stop"], "gen_ai.response.id": f"r-{index}-{n}-{step}",
                        "gen_ai.input.messages": rng.choice(prompts), "gen_ai.output.messages": rng.choice(answers),
                    })
                    created.append(span.get_span_context())
                if step == 0:
                    with tracer.start_as_current_span("execute_tool lookup_order") as tool:
                        tool.set_attributes({"gen_ai.operation.name": "execute_tool",
                                             "gen_ai.tool.name": "lookup_order"})
                        created.append(tool.get_span_context())
    if not provider.force_flush(timeout_millis=600_000):
        print(f"sender {index}: flush timed out", flush=True)
    provider.shutdown()
    cpu = time.process_time() - cpu_start  # both threads: span creation and the exporter's
    out.put((cpu, "\n".join(f"{c.trace_id:032x}:{c.span_id:016x}" for c in created)))


class _Row(msgspec.Struct):
    id: str


class _Page(msgspec.Struct):
    data: list[_Row]
    next_cursor: str | None


_page = msgspec.json.Decoder(_Page)


def _list_window(target: str, key: str, start: str, end: str, ids: list[str]) -> None:
    host, port = target.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    cursor = None
    while True:
        params = {"limit": 500, "from": start, "to": end, **({"cursor": cursor} if cursor else {})}
        conn.request("GET", f"/api/v1/calls?{urlencode(params)}", headers={"Authorization": f"Bearer {key}"})
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise SystemExit(f"GET /api/v1/calls answered {response.status}: {body[:300]!r}")
        page = _page.decode(body)
        ids.extend(row.id for row in page.data)
        cursor = page.next_cursor
        if not cursor:
            return


def list_ids(target: str, key: str, since: float, until: float, windows: int = 32, threads: int = 4) -> list[str]:
    """The id of every call listed by GET /api/v1/calls in [since, until), paged with keyset cursors.
    The range is cut in time windows that a few threads take in turn, so both gunicorn workers stay
    busy even though spans are not spread evenly over the run."""
    edges = [since + (until - since) * i / windows for i in range(windows + 1)]
    todo = [(f"{edges[i]:.6f}", f"{edges[i + 1]:.6f}") for i in range(windows)]
    found: list[list[str]] = [[] for _ in range(threads)]
    lock = threading.Lock()
    failures: list[BaseException] = []

    def work(ids: list[str]) -> None:
        try:
            while True:
                with lock:
                    if not todo:
                        return
                    start, end = todo.pop(0)
                _list_window(target, key, start, end, ids)
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            failures.append(exc)

    pool = [threading.Thread(target=work, args=(found[i],)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if failures:
        raise SystemExit(f"listing failed: {failures[0]}")
    return [ident for part in found for ident in part]


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a live process (Linux /proc; 0 elsewhere or once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _server_cpu() -> dict[str, dict[int, float]]:
    """CPU seconds so far of each gunicorn process and each process of the bench's PostgreSQL (all
    PostgreSQL processes when the database is external), by pid."""
    groups: dict[str, dict[int, float]] = {"web": {}, "postgres": {}}
    if not Path("/proc/self/stat").exists():
        return groups
    data_dir = os.environ.get("OBSERVATORY_DATA_DIR", "").encode()
    postgres: dict[int, int] = {}  # pid -> parent pid
    postmasters: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            comm = (entry / "comm").read_text().strip()
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if b"gunicorn" in cmdline and b"observatory.wsgi" in cmdline:
            groups["web"][int(entry.name)] = _cpu_seconds(int(entry.name))
        elif comm == "postgres":
            postgres[int(entry.name)] = ppid
            if data_dir and data_dir in cmdline:
                postmasters.add(int(entry.name))
    for pid, ppid in postgres.items():
        if not postmasters or pid in postmasters or ppid in postmasters:
            groups["postgres"][pid] = _cpu_seconds(pid)
    return groups


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def run(args: argparse.Namespace, target: str, key: str) -> int:
    expected = args.traces * args.senders * SPANS_PER_TRACE
    ctx = multiprocessing.get_context("spawn")
    go = ctx.Event()
    out = ctx.Queue()
    readies = [ctx.Event() for _ in range(args.senders)]
    procs = [ctx.Process(target=sender, args=(i, args.traces, args.batch, target, key, readies[i], go, out))
             for i in range(args.senders)]
    for proc in procs:
        proc.start()
    for ready in readies:
        ready.wait(120)
    since = time.time() - 1
    print(f"client: {args.senders} senders x {args.traces} traces x {SPANS_PER_TRACE} spans = {expected} spans, "
          f"OTel SDK OTLPSpanExporter (HTTP/protobuf) + BatchSpanProcessor (batches of {args.batch})", flush=True)
    cpu_before = _server_cpu()
    own_before, busy_before = time.process_time(), _machine_busy()
    started = time.perf_counter()
    go.set()
    results = [out.get() for _ in procs]  # each sender reports once it has flushed everything
    for proc in procs:
        proc.join()
    exported = time.perf_counter() - started
    busy_exported, cpu_exported = _machine_busy(), _server_cpu()
    listed = list_ids(target, key, since, time.time() + 1)
    elapsed = time.perf_counter() - started
    own, busy_after = time.process_time() - own_before, _machine_busy()
    cpu_after = _server_cpu()

    def spent(first: dict[str, dict[int, float]], last: dict[str, dict[int, float]], name: str) -> float:
        # Processes started in between (a worker's database connection) count from zero.
        return sum(seconds - first[name].get(pid, 0.0) for pid, seconds in last[name].items())

    cpu = {"senders": sum(seconds for seconds, _ in results)}
    for name in ("web", "postgres"):
        cpu[f"{name} (exports)"] = spent(cpu_before, cpu_exported, name)
        cpu[f"{name} (listing)"] = spent(cpu_exported, cpu_after, name)
    cpu["bench (listing)"] = own
    created = {ident for _, ids in results for ident in ids.split("\n")}
    print(f"client: every export acknowledged after {exported:.2f} s; {len(listed)} calls listed by "
          f"GET /api/v1/calls after {elapsed:.2f} s", flush=True)

    def busy(first: tuple[float, float], last: tuple[float, float]) -> str:
        return f"{(last[0] - first[0]) / max(last[1] - first[1], 1):.0%}"

    print("cpu: " + ", ".join(f"{name} {seconds:.1f} s ({seconds / expected * 1e6:.0f} us/span)"
                              for name, seconds in cpu.items())
          + f"; {os.cpu_count()} CPUs {busy(busy_before, busy_exported)} busy while exporting, "
          f"{busy(busy_exported, busy_after)} while listing", flush=True)
    # CPU the machine spent outside the processes above (other programs, the kernel): should be small.
    outside = (busy_after[0] - busy_before[0]) / os.sysconf("SC_CLK_TCK") - sum(cpu.values())
    print(f"cpu: {outside:.1f} s busy outside the bench's processes", flush=True)
    listed_set = set(listed)
    if len(created) != expected or listed_set != created or len(listed) != len(listed_set):
        print(f"client: expected the {expected} span ids created ({len(created)} distinct); the API lists "
              f"{len(listed)} calls, {len(listed_set)} distinct, {len(created - listed_set)} missing, "
              f"{len(listed_set - created)} unexpected", flush=True)
        return 1
    print(f"client: every one of the {expected} span ids is listed exactly once", flush=True)
    print(f"{expected / elapsed:.0f} spans/s", flush=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--traces", type=int, default=4000, help="traces per sender (4 spans each)")
    parser.add_argument("--senders", type=int, default=3, help="application processes exporting spans")
    parser.add_argument("--batch", type=int, default=1000,
                        help="BatchSpanProcessor max_export_batch_size (the server takes up to 1000 per request)")
    args = parser.parse_args()

    from harness import project_key, servers, web

    with servers(OBSERVATORY_INGEST_RATE="1000000/min", OBSERVATORY_READ_RATE="1000000/min") as embedded_db, \
            web(os.environ.get("BENCH_PORT", "8766")) as target:
        key = project_key(["ingest", "read"])
        print(f"server: gunicorn with 2 workers at {target}; database "
              f"{'embedded PostgreSQL' if embedded_db else os.environ['DATABASE_URL']}", flush=True)
        return run(args, target, key)


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    sys.exit(main())
