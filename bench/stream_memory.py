"""Where an open event stream's memory goes: ``python -m bench.stream_memory [N]``.

One process serves the platform (uvicorn in a thread, the embedded SQLite store); a client in
another process opens N subscriptions' streams of 50 patients each and holds them. Printed: the
server process's RSS per stream, and (unless ``NOTRACE=1``) tracemalloc's count of the Python
objects per stream, by file and by line. A one-off measurement, not a phase of ``make bench``;
its figures are in RESULTS.md.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support import SERVICES, people, tenant_document
from support.live import served_platform
from support.platform import Backend

CLIENT = """
import asyncio, json, sys
import httpx

base, token = sys.argv[1], sys.argv[2]
paths = json.loads(sys.stdin.readline())

async def main():
    limits = httpx.Limits(max_connections=len(paths) + 10)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        snapshots = asyncio.Queue()

        async def hold(path):
            headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
            async with client.stream("GET", path, headers=headers) as response:
                async for line in response.aiter_lines():
                    if line.startswith("event: snapshot"):
                        snapshots.put_nowait(path)

        tasks = [asyncio.create_task(hold(p)) for p in paths]
        for _ in paths:
            await asyncio.wait_for(snapshots.get(), 120)
        print(len(paths), flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        for task in tasks:
            task.cancel()

asyncio.run(main())
"""


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def main(streams: int) -> None:
    trace = not os.environ.get("NOTRACE")
    with (
        tempfile.TemporaryDirectory() as tmp,
        served_platform(
            Backend("sqlite", None, None), Path(tmp), subscriptions_per_client=streams + 10
        ) as platform,
    ):
        platform.onboard(tenant_document("1804", services={s: {} for s in SERVICES}))
        token = platform.token("bodo-legevakt")
        patients = people(streams * 50, seed="stream-memory")
        paths = []
        for i in range(streams):
            created = platform.client.post(
                "/v1/news2/subscriptions",
                json={"patients": patients[i * 50 : (i + 1) * 50]},
                headers={"Authorization": f"Bearer {token}"},
            )
            created.raise_for_status()
            paths.append(created.json()["events"])
        gc.collect()
        if trace:
            tracemalloc.start(25)
        before_kib, before = rss_kib(), tracemalloc.take_snapshot() if trace else None
        client = subprocess.Popen(
            [sys.executable, "-c", CLIENT, str(platform.client.base_url), token],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert client.stdin is not None
        assert client.stdout is not None
        client.stdin.write(json.dumps(paths) + "\n")
        client.stdin.flush()
        print(f"{client.stdout.readline().strip()} streams open")
        time.sleep(3)
        gc.collect()
        print(f"RSS: {(rss_kib() - before_kib) / streams:.1f} KiB a stream")
        if before is not None:
            after = tracemalloc.take_snapshot()
            total = sum(s.size_diff for s in after.compare_to(before, "filename"))
            print(f"Python objects: {total / 1024 / streams:.1f} KiB a stream")
            for key in ("filename", "lineno"):
                for stat in after.compare_to(before, key)[:15]:
                    frame = stat.traceback[0]
                    where = frame.filename.split("site-packages/")[-1]
                    where += f":{frame.lineno}" if key == "lineno" else ""
                    print(f"{stat.size_diff / 1024 / streams:8.2f} KiB  {where}")
        client.stdin.write("\n")
        client.stdin.flush()
        client.wait(timeout=30)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
