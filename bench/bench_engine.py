"""Engine-only drain benchmark: the scheduler and its workers without HTTP (a diagnostic beside bench_noop.py).

Usage::

    .venv/bin/python bench/bench_engine.py [--executions N] [--workers W] [--max-concurrent-workflows M]

Builds the services in this process on a temporary data directory, creates the same no-op workflow as
``bench_noop.py`` (3 stages x 1 ``VideoSyncOKLambda``), queues N executions through ``Executions.create`` *before*
the scheduler starts, then starts it and times how long it takes to bring every execution to ``Complete``. No HTTP,
no uvicorn, no clients competing for the interpreter: what is left is the engine's own cost per operator task.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import func, select

from mie.bootstrap import build
from mie.config import Settings
from mie.storage.sql.tables import executions

MP4_BYTES = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64
STAGES = 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executions", "-n", type=int, default=2000)
    parser.add_argument("--workers", "-w", type=int, default=8, help="MIE_WORKERS (the server's default is 8)")
    parser.add_argument("--max-concurrent-workflows", "-m", type=int, default=100)
    args = parser.parse_args(argv)

    data_dir = Path(tempfile.mkdtemp(prefix="mie-bench-engine-"))
    settings = Settings(
        data_dir=data_dir, api_key="bench", workers=args.workers, max_concurrent_workflows=args.max_concurrent_workflows
    )
    services = build(settings)
    try:
        catalog = services.catalog
        links = {f"BenchStage{i}": {"Next": f"BenchStage{i + 1}"} for i in range(STAGES - 1)}
        links[f"BenchStage{STAGES - 1}"] = {"End": True}
        for i in range(STAGES):
            catalog.create_operation(
                {
                    "Name": f"BenchNoop{i}",
                    "Type": "Sync",
                    "Configuration": {"MediaType": "Video", "Enabled": True},
                    "StartLambdaArn": "VideoSyncOKLambda",
                }
            )
            catalog.create_stage({"Name": f"BenchStage{i}", "Operations": [f"BenchNoop{i}"]})
        catalog.create_workflow({"Name": "BenchNoop", "StartAt": "BenchStage0", "Stages": links})
        for _ in range(args.executions):
            key = f"bench-{uuid.uuid4().hex}.mp4"
            services.dataplane.objects.put_bytes("dataplane", key, MP4_BYTES)
            asset = services.dataplane.create_asset("dataplane", key)
            services.executions.create({"Name": "BenchNoop", "Input": {"AssetId": asset["AssetId"]}})
        count_complete = select(func.count()).where(executions.c.status == "Complete")
        began, cpu0 = time.perf_counter(), time.process_time()
        services.start()
        while True:
            with services.db.read() as conn:
                done = int(conn.execute(count_complete).scalar_one())
            if done >= args.executions:
                break
            time.sleep(0.01)
        wall, cpu = time.perf_counter() - began, time.process_time() - cpu0
    finally:
        services.stop()
    print(
        f"engine only, workers={args.workers}: {args.executions} queued executions drained in {wall:.2f} s: "
        f"{args.executions / wall:.1f} executions/s, {STAGES * args.executions / wall:.0f} operator tasks/s, "
        f"{1000 * cpu / args.executions:.2f} ms CPU per execution"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
