"""Load test of ``ponder serve``: many concurrent official-client users against the fake backend on loopback.

Starts ``ponder serve --backend fake`` as a subprocess on a free loopback port (so the server has its own
process and GIL, as in production), then runs ``--clients`` concurrent ``openai.AsyncOpenAI`` users, each
sending ``--requests`` chat requests for ``ponder:self_consistency?n=8`` (every other one streamed), with no
client-side retries, so any 429/5xx or dropped stream counts as a failure. Reports failures, p50/p99/mean
latency, the time to the first streamed chunk, and throughput, and writes its section of docs/BENCHMARKS.md.
The fake backend costs next to nothing, so this measures the server: admission, threads, JSON and SSE.

    .venv/bin/python -m bench.server_load --clients 50 --requests 4
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai

from bench.common import replace_section

MODEL = "ponder:self_consistency?n=8"
QUESTION: Any = [{"role": "user", "content": "What is 6 * 7?"}]


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    first_chunk: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(args: argparse.Namespace) -> Iterator[str]:
    """``ponder serve --backend fake`` in a subprocess; yields its base URL and stops it afterwards."""
    port = free_port()
    cmd = [sys.executable, "-c", "from ponder.cli.main import main; main()", "serve", "--backend", "fake"]
    cmd += ["--port", str(port), "--max-concurrency", str(args.max_concurrency), "--max-queue", str(args.max_queue)]
    cmd += ["--log-level", "warning"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > end:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"ponder serve did not start: {err[-2000:]}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


async def user(client: openai.AsyncOpenAI, number: int, requests: int, tally: Tally) -> None:
    """One client: ``requests`` chat requests in a row, every other one streamed."""
    for i in range(requests):
        start = time.perf_counter()
        try:
            if (number + i) % 2:
                stream = await client.chat.completions.create(
                    model=MODEL,
                    messages=QUESTION,
                    seed=number * 100 + i,
                    stream=True,
                )
                chunks = 0
                async for _ in stream:
                    if chunks == 0:
                        tally.first_chunk.append(time.perf_counter() - start)
                    chunks += 1
                if chunks < 3:
                    raise RuntimeError(f"stream ended after {chunks} chunks")
            else:
                reply = await client.chat.completions.create(model=MODEL, messages=QUESTION, seed=number * 100 + i)
                if not reply.choices[0].message.content:
                    raise RuntimeError("empty answer")
        except Exception as exc:
            tally.failures.append(f"{type(exc).__name__}: {exc}")
            continue
        tally.latencies.append(time.perf_counter() - start)


async def load(url: str, clients: int, requests: int) -> tuple[Tally, float]:
    tally = Tally()
    # the client's default connection pool (1000 connections) holds every user's connection
    async with openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=120) as client:
        await client.chat.completions.create(model=MODEL, messages=QUESTION)  # warm-up
        start = time.perf_counter()
        await asyncio.gather(*(user(client, k, requests, tally) for k in range(clients)))
        wall = time.perf_counter() - start
    return tally, wall


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(args: argparse.Namespace, tally: Tally, wall: float) -> str:
    total = args.clients * args.requests
    ms = [x * 1000 for x in tally.latencies]
    first = [x * 1000 for x in tally.first_chunk]
    rows = [
        "| clients | requests | failed | p50 ms | p99 ms | mean ms | first chunk p50 ms | req/s | wall s |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {args.clients} | {total} | {len(tally.failures)} | {percentile(ms, 0.5):.0f} | {percentile(ms, 0.99):.0f} "
        f"| {statistics.fmean(ms) if ms else float('nan'):.0f} | {percentile(first, 0.5):.0f} "
        f"| {len(tally.latencies) / wall:.1f} | {wall:.2f} |",
    ]
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--requests", type=int, default=4, help="requests per client")
    ap.add_argument("--max-concurrency", type=int, default=8, help="ponder serve --max-concurrency")
    ap.add_argument("--max-queue", type=int, default=64, help="ponder serve --max-queue")
    ap.add_argument("--out", default="docs/BENCHMARKS.md")
    args = ap.parse_args()
    with serve(args) as url:
        tally, wall = asyncio.run(load(url, args.clients, args.requests))
    table = report(args, tally, wall)
    print(table)
    for failure in tally.failures[:5]:
        print("failure:", failure)
    command = (
        f".venv/bin/python -m bench.server_load --clients {args.clients} --requests {args.requests} "
        f"--max-concurrency {args.max_concurrency} --max-queue {args.max_queue}"
    )
    body = [
        f"`{command}`",
        "",
        f"`ponder serve --backend fake --max-concurrency {args.max_concurrency} --max-queue {args.max_queue}` in "
        f"its own process on loopback; {args.clients} concurrent `openai.AsyncOpenAI` clients (no retries), each "
        f"sending {args.requests} requests for `{MODEL}` (every other one streamed). Latency is per request, "
        "queueing included (a stream starts once its request is admitted, so its first chunk waits in the queue too); "
        "the fake backend costs next to nothing, so this measures the server itself. "
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, shared with other work; Python "
        f"{platform.python_version()}.",
        "",
        table,
    ]
    replace_section(
        args.out, "server_load", f"Server under load: {args.clients} concurrent clients, fake backend", "\n".join(body)
    )
    if tally.failures:
        raise SystemExit(f"{len(tally.failures)} request(s) failed")


if __name__ == "__main__":
    main()
