"""No-op workflow benchmark: 3 stages x 1 sync operator through a real ``mie serve`` process.

Usage::

    .venv/bin/python bench/bench_noop.py [--executions N] [--concurrency C] [--max-concurrent-workflows M]
                                         [--paced P] [--rate R] [--sequential S] [--workers W] [--json PATH]

What it does:

1. starts ``mie serve`` on a free port with a temporary data directory (HTTP, uvicorn, the scheduler and the
   embedded worker pool are measured as a user runs them);
2. creates three operations (``StartLambdaArn: VideoSyncOKLambda``, a sync operator that returns ``Complete`` at
   once), one stage each, a workflow running them in sequence, and sets ``MaxConcurrentWorkflows``;
3. prepares one asset per execution (upload + ``/dataplane/create``; not timed);
4. **burst**: C client threads submit N executions (``Input.AssetId``) as fast as the server accepts them, and the
   benchmark waits, following the change feed, until every one has ended;
5. **paced**: P executions submitted at R per second, for the latency under a steady load;
6. **sequential**: one execution at a time (submit, wait for ``Complete``, next) for the unloaded latency.

Latency is read from the server's own timestamps in its SQLite database after the run: ``finished_at -
float(created)`` per execution (``created`` is stamped when the API handles the POST, ``finished_at`` inside the
transaction that ends the execution). Throughput is N over the client's wall time from the first submit to the
moment the change feed reported the last end. The sequential mode also reports the client-observed round trip
(POST sent -> ``Complete`` event received over the feed), which adds HTTP on both sides.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import queue
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
API_KEY = "bench-key-0123456789"  # MIE_API_KEY needs 16 characters or more
# A minimal MP4 header: enough for content sniffing to say "Video".
MP4_BYTES = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64
STAGES = 3
END_STATUSES = {"Complete", "Error"}


# Machine -------------------------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu_model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    versions: dict[str, str] = {}
    for dist in ("media-insights-engine", "fastapi", "uvicorn", "SQLAlchemy", "httpx"):
        try:
            from importlib.metadata import version

            versions[dist] = version(dist)
        except Exception:
            versions[dist] = "?"
    mem = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) // 1024} MiB"
                break
    except OSError:
        pass
    return {
        "nproc": usable,
        "cpu_model": cpu_model,
        "memory": mem,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "packages": versions,
    }


# Server --------------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """One ``mie serve`` subprocess on a temporary data directory."""

    def __init__(self, data_dir: Path, workers: int | None, extra_env: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.log_path = data_dir.parent / "server.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MIE_")}
        env.update({"MIE_API_KEY": API_KEY, "MIE_LOG_LEVEL": "warning"})
        if workers is not None:
            env["MIE_WORKERS"] = str(workers)
        env.update(extra_env)
        env["NO_PROXY"] = ",".join(filter(None, ["127.0.0.1,localhost", env.get("NO_PROXY")]))
        script = Path(sys.executable).with_name("mie")
        command = [sys.executable, str(script)] if script.exists() else [sys.executable, "-m", "mie.cli.main"]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [*command, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--data-dir", str(data_dir)],
                cwd=REPO_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.base_url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"mie serve exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.base_url}/api/", timeout=1.0, trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.proc.kill()
                raise SystemExit(f"mie serve did not answer within 30 s:\n{self.log()}")
            time.sleep(0.05)

    def client(self, timeout: float = 30.0) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers={"x-api-key": API_KEY}, timeout=timeout, trust_env=False)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def check(response: httpx.Response, *ok: int) -> Any:
    if response.status_code not in (ok or (200,)):
        raise SystemExit(f"{response.request.method} {response.request.url} -> {response.status_code}: {response.text}")
    return response.json() if response.content else None


# Set-up ----------------------------------------------------------------------------------------------------------


def make_workflow(client: httpx.Client, max_concurrent: int) -> str:
    """Three operations (one per stage) using the built-in sync no-op operator, and a workflow chaining them."""
    suffix = uuid.uuid4().hex[:6]
    stage_names = []
    for index in range(STAGES):
        op = f"BenchNoop{index}{suffix}"
        check(
            client.post(
                "/api/workflow/operation",
                json={
                    "Name": op,
                    "Type": "Sync",
                    "Configuration": {"MediaType": "Video", "Enabled": True},
                    "StartLambdaArn": "VideoSyncOKLambda",
                },
            )
        )
        stage = f"BenchStage{index}{suffix}"
        check(client.post("/api/workflow/stage", json={"Name": stage, "Operations": [op]}))
        stage_names.append(stage)
    links = {s: ({"Next": stage_names[i + 1]} if i + 1 < STAGES else {"End": True}) for i, s in enumerate(stage_names)}
    name = f"BenchNoop{suffix}"
    check(client.post("/api/workflow", json={"Name": name, "StartAt": stage_names[0], "Stages": links}))
    check(client.post("/api/system/configuration", json={"Name": "MaxConcurrentWorkflows", "Value": max_concurrent}))
    return name


def make_asset(client: httpx.Client) -> str:
    """Upload a tiny MP4 and make it an asset (as an MIE client does before starting workflows)."""
    # Top-level keys: concurrent uploads into one folder race with the folder pruning after /create moves a file.
    key = f"bench-{uuid.uuid4().hex}.mp4"
    spec = check(client.post("/api/dataplane/upload", json={"S3Bucket": "dataplane", "S3Key": key}))
    url = httpx.URL(spec["url"])
    check(client.post(url.raw_path.decode(), data=spec["fields"], files={"file": ("f.mp4", MP4_BYTES)}), 204)
    asset = check(client.post("/api/dataplane/create", json={"Input": {"S3Bucket": "dataplane", "S3Key": key}}))
    return str(asset["AssetId"])


def make_assets(server: Server, count: int, threads: int = 4) -> list[str]:
    clients = [server.client() for _ in range(threads)]
    try:
        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(lambda i: make_asset(clients[i % threads]), range(count)))
    finally:
        for c in clients:
            c.close()


# Waiting for ends: one change-feed follower ------------------------------------------------------------------------


class EndWatcher:
    """Follows ``GET /api/dataplane/changes?wait=`` and records when each execution ended (client clock).

    ``min_interval`` spaces the requests out (a long poll returns at every commit otherwise): the burst run sets it
    so that watching costs the server a few requests a second, not one per scheduler step. The burst's latencies
    come from the server's timestamps, so this does not change them; its wall time may grow by up to one interval.
    """

    min_interval = 0.0

    def __init__(self, server: Server, after: int) -> None:
        self._client = server.client(timeout=30.0)
        self._after = after
        self._lock = threading.Lock()
        self._ended: dict[str, tuple[str, float]] = {}
        self._events: dict[str, threading.Event] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="feed", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            body = check(
                self._client.get("/api/dataplane/changes", params={"after": self._after, "limit": 1000, "wait": 2})
            )
            now = time.perf_counter()
            for change in body["changes"]:
                payload = change["payload"]
                if change["source"] == "WorkflowExecution" and payload.get("Status") in END_STATUSES:
                    with self._lock:
                        self._ended[payload["Id"]] = (payload["Status"], now)
                        done = self._events.pop(payload["Id"], None)
                    if done is not None:
                        done.set()
            self._after = body["last"]
            if body["changes"] and self.min_interval:
                time.sleep(self.min_interval)

    def wait_one(self, execution_id: str, timeout: float) -> tuple[str, float]:
        with self._lock:
            if execution_id in self._ended:
                return self._ended[execution_id]
            event = self._events.setdefault(execution_id, threading.Event())
        if not event.wait(timeout):
            raise SystemExit(f"execution {execution_id} did not end within {timeout} s")
        with self._lock:
            return self._ended[execution_id]

    def wait_all(self, ids: Iterable[str], timeout: float) -> float:
        """Block until every id ended; returns the client time the last end was seen."""
        deadline = time.monotonic() + timeout
        last = 0.0
        for execution_id in ids:
            _, seen = self.wait_one(execution_id, max(0.1, deadline - time.monotonic()))
            last = max(last, seen)
        return last

    def status(self, execution_id: str) -> str:
        with self._lock:
            return self._ended[execution_id][0]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._client.close()


def feed_position(client: httpx.Client) -> int:
    after = 0
    while True:
        body = check(client.get("/api/dataplane/changes", params={"after": after, "limit": 1000}))
        if not body["changes"]:
            return after
        after = body["last"]


# Runs ------------------------------------------------------------------------------------------------------------


def submit(client: httpx.Client, workflow: str, asset_id: str) -> str:
    record = check(client.post("/api/workflow/execution", json={"Name": workflow, "Input": {"AssetId": asset_id}}))
    return str(record["Id"])


def run_burst(
    server: Server, watcher: EndWatcher, workflow: str, assets: list[str], concurrency: int, *, rate: float = 0.0
) -> tuple[list[str], float, float]:
    """Submit one execution per asset from ``concurrency`` threads, as fast as the server takes them or, with
    ``rate``, paced at that many per second; wait for every end. Returns ids, wall seconds, seconds submitting."""
    work: queue.SimpleQueue[tuple[int, str]] = queue.SimpleQueue()
    for item in enumerate(assets):
        work.put(item)
    ids: list[str] = []
    lock = threading.Lock()
    clients = [server.client() for _ in range(concurrency)]
    for c in clients:  # open the connections before the clock starts
        check(c.get("/api/"))
    began = time.perf_counter()

    def loop(client: httpx.Client) -> None:
        while True:
            try:
                index, asset = work.get_nowait()
            except queue.Empty:
                return
            if rate:
                delay = began + index / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            execution_id = submit(client, workflow, asset)
            with lock:
                ids.append(execution_id)

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(loop, clients))
    submitted = time.perf_counter()
    last = watcher.wait_all(list(ids), timeout=120)
    for c in clients:
        c.close()
    return ids, last - began, submitted - began


def run_sequential(
    server: Server, watcher: EndWatcher, workflow: str, asset: str, count: int
) -> tuple[list[str], list[float], float]:
    """One execution at a time on one asset; returns ids, client round trips (s), wall seconds."""
    ids: list[str] = []
    rtts: list[float] = []
    with server.client() as client:
        check(client.get("/api/"))
        began = time.perf_counter()
        for _ in range(count):
            sent = time.perf_counter()
            execution_id = submit(client, workflow, asset)
            _, seen = watcher.wait_one(execution_id, timeout=30)
            ids.append(execution_id)
            rtts.append(seen - sent)
        wall = time.perf_counter() - began
    return ids, rtts, wall


def server_latencies(db_path: Path, ids: list[str]) -> tuple[list[float], dict[str, int], float]:
    """Per execution ``finished_at - created`` (s) from the server's database; status counts; server-side span."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        rows: list[tuple[str, str, str, float | None]] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows += conn.execute(
                f"SELECT id, status, created, finished_at FROM executions WHERE id IN ({marks})", chunk
            ).fetchall()
    finally:
        conn.close()
    statuses: dict[str, int] = {}
    latencies: list[float] = []
    for _, status, created, finished in rows:
        statuses[status] = statuses.get(status, 0) + 1
        if finished is not None:
            latencies.append(float(finished) - float(created))
    span = 0.0
    if rows:
        span = max(float(r[3] or 0) for r in rows) - min(float(r[2]) for r in rows)
    return latencies, statuses, span


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[rank]


def summary(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {
        "p50_ms": round(pct(ms, 50), 2),
        "p95_ms": round(pct(ms, 95), 2),
        "p99_ms": round(pct(ms, 99), 2),
        "mean_ms": round(statistics.fmean(ms), 2) if ms else float("nan"),
        "max_ms": round(max(ms), 2) if ms else float("nan"),
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


# Main ------------------------------------------------------------------------------------------------------------


def report_run(name: str, data_dir: Path, ids: list[str], wall: float, extra: dict[str, Any]) -> dict[str, Any]:
    """Summarise one run from the server's database, print it, and return it."""
    latencies, statuses, span = server_latencies(data_dir / "mie.db", ids)
    result: dict[str, Any] = {
        "executions": len(ids),
        "statuses": statuses,
        "wall_s": round(wall, 3),
        "executions_per_s": round(len(ids) / wall, 1),
        "operator_tasks_per_s": round(STAGES * len(ids) / wall, 1),
        "server_span_s": round(span, 3),
        **extra,
        "latency_submit_to_end": summary(latencies),
    }
    print(f"\n{name}")
    print(f"  statuses              {statuses}")
    print(f"  wall                  {wall:.2f} s")
    print(f"  executions/s          {result['executions_per_s']}")
    print(f"  operator tasks/s      {result['operator_tasks_per_s']}")
    if "server_cpu_s" in extra:
        cpu = extra["server_cpu_s"]
        per = 1000 * cpu / len(ids)
        print(f"  server CPU            {cpu:.1f} s ({cpu / wall:.2f} cores, {per:.2f} ms per execution)")
    lat = result["latency_submit_to_end"]
    print(
        f"  created->end (server) p50 {lat['p50_ms']} ms  p95 {lat['p95_ms']} ms  p99 {lat['p99_ms']} ms"
        f"  max {lat['max_ms']} ms"
    )
    if "latency_client_round_trip" in extra:
        lat = extra["latency_client_round_trip"]
        print(f"  POST->end event (client) p50 {lat['p50_ms']} ms  p95 {lat['p95_ms']} ms  p99 {lat['p99_ms']} ms")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executions", "-n", type=int, default=2000, help="executions in the burst run (0: skip)")
    parser.add_argument("--concurrency", "-c", type=int, default=4, help="client threads submitting")
    parser.add_argument("--max-concurrent-workflows", "-m", type=int, default=100, help="MaxConcurrentWorkflows")
    parser.add_argument("--paced", "-p", type=int, default=1000, help="executions in the paced run (0: skip)")
    parser.add_argument("--rate", "-r", type=float, default=100.0, help="submissions per second in the paced run")
    parser.add_argument("--sequential", "-s", type=int, default=200, help="executions in the sequential run (0: skip)")
    parser.add_argument("--workers", "-w", type=int, default=None, help="MIE_WORKERS of the server (default: its own)")
    parser.add_argument("--keep", action="store_true", help="keep the data directory and print where it is")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)

    machine = machine_info()
    print("machine:", json.dumps(machine))
    tmp = Path(tempfile.mkdtemp(prefix="mie-bench-"))
    data_dir = tmp / "data"
    server = Server(data_dir, args.workers, {})
    results: dict[str, Any] = {"machine": machine, "args": {k: str(v) for k, v in vars(args).items()}}
    problems: list[str] = []
    try:
        with server.client() as client:
            workflow = make_workflow(client, args.max_concurrent_workflows)
            after = feed_position(client)
        t0 = time.perf_counter()
        assets = make_assets(server, args.executions + args.paced + (1 if args.sequential else 0))
        print(f"set-up: {len(assets)} assets in {time.perf_counter() - t0:.1f} s (not timed)")
        burst_assets, assets = assets[: args.executions], assets[args.executions :]
        paced_assets, assets = assets[: args.paced], assets[args.paced :]
        watcher = EndWatcher(server, after)
        try:
            if burst_assets:
                watcher.min_interval = 0.05
                cpu0 = cpu_seconds(server.pid())
                ids, wall, submitting = run_burst(server, watcher, workflow, burst_assets, args.concurrency)
                cpu = cpu_seconds(server.pid()) - cpu0
                results["burst"] = report_run(
                    f"burst: {len(ids)} executions submitted at once by {args.concurrency} client threads, "
                    f"MaxConcurrentWorkflows={args.max_concurrent_workflows}",
                    data_dir,
                    ids,
                    wall,
                    {"submit_s": round(submitting, 3), "server_cpu_s": round(cpu, 2)},
                )
            if paced_assets:
                watcher.min_interval = 0.05
                cpu0 = cpu_seconds(server.pid())
                ids, wall, submitting = run_burst(
                    server, watcher, workflow, paced_assets, args.concurrency, rate=args.rate
                )
                cpu = cpu_seconds(server.pid()) - cpu0
                results["paced"] = report_run(
                    f"paced: {len(ids)} executions submitted at {args.rate:g}/s",
                    data_dir,
                    ids,
                    wall,
                    {"rate": args.rate, "submit_s": round(submitting, 3), "server_cpu_s": round(cpu, 2)},
                )
            if args.sequential:
                watcher.min_interval = 0.0
                ids, rtts, wall = run_sequential(server, watcher, workflow, assets[-1], args.sequential)
                results["sequential"] = report_run(
                    f"sequential: {len(ids)} executions, one at a time",
                    data_dir,
                    ids,
                    wall,
                    {"latency_client_round_trip": summary(rtts)},
                )
        finally:
            watcher.close()
    finally:
        server.stop()
        problems = [line for line in server.log().splitlines() if "Traceback" in line or "ERROR" in line]
        if problems:
            print("\nserver log shows problems:\n" + server.log()[-4000:])
        if args.keep:
            print(f"\ndata directory kept: {data_dir}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    runs = [results[r] for r in ("burst", "paced", "sequential") if r in results]
    return 1 if problems or any(set(r["statuses"]) != {"Complete"} for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
