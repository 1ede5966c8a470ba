"""1 GiB through tus (8 MiB PATCHes) to a real uvicorn server on loopback, local storage, beside a
plain copy (+ fsync) of the same bytes in the same run. Reports MB/s and the server's peak RSS.

The upload is created one byte longer than what is sent, so the figure is the resumable transfer
path alone (per PATCH: authenticate, lock, receive, SHA-256, append, offset commit); ingest of a
finished upload is the simple upload's path, measured by bench/upload_throughput.py. Each
operation is timed in two page-cache states (bench/common.py), prepared the same way right before
it, in rotating order. Cleans up its files.

    python -m bench.tus_upload [--size-mib 1024] [--chunk-mib 8] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import MEMORY_STATES, machine, median, peak_rss_mb, prepare_memory, timed_copy, today, write_section

REPO = Path(__file__).resolve().parents[1]
MB = 1_000_000


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_source(path: Path, size: int) -> None:
    block = os.urandom(8 * 1024 * 1024)
    with path.open("wb") as fh:
        written = 0
        while written < size:
            n = min(len(block), size - written)
            fh.write(block[:n])
            written += n


def _chunked_fsync_write(src: Path, dst: Path, chunk: int) -> float:
    """The disk's own ceiling for this workload: the same bytes written with an fsync per chunk."""
    t0 = time.perf_counter()
    with src.open("rb") as fin, dst.open("wb") as fout:
        while piece := fin.read(chunk):
            fout.write(piece)
            fout.flush()
            os.fsync(fout.fileno())
    elapsed = time.perf_counter() - t0
    dst.unlink()
    return elapsed


class SendfileTusClient:
    """A minimal tus client: one keep-alive connection, each PATCH body sent with sendfile(2) from
    the page cache. On a 2-core machine shared by client and server, a Python HTTP client's own
    copying takes CPU from the server it is measuring; this one hardly uses any."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        url = httpx.URL(base)
        self.host, self.port = url.host, url.port
        self.headers = headers
        self.sock = socket.create_connection((self.host, self.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = self.sock.makefile("rb")

    def patch(self, path: str, fd: int, offset: int, length: int) -> int:
        head = [f"PATCH {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Upload-Offset: {offset}",
                "Content-Type: application/offset+octet-stream", f"Content-Length: {length}"]
        head += [f"{k}: {v}" for k, v in self.headers.items()]
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        sent = 0
        while sent < length:
            sent += os.sendfile(self.sock.fileno(), fd, offset + sent, length - sent)
        status = self.reader.readline().split()[1]
        new_offset, body_length = None, 0
        while (line := self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "upload-offset":
                new_offset = int(value)
            elif name.lower() == "content-length":
                body_length = int(value)
        body = self.reader.read(body_length) if body_length else b""
        if status != b"204" or new_offset is None:
            raise RuntimeError(f"PATCH answered {status!r}: {body[:300]!r}")
        return new_offset

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


def _tus_upload_sendfile(client: httpx.Client, source: Path, size: int, chunk: int) -> float:
    res = client.post("/api/v1/uploads/", headers={"Upload-Length": str(size + 1)})
    url = httpx.URL(res.headers["location"]).path
    fd = os.open(source, os.O_RDONLY)
    tus = SendfileTusClient(str(client.base_url), dict(client.headers))
    try:
        t0 = time.perf_counter()
        offset = 0
        while offset < size:
            offset = tus.patch(url, fd, offset, min(chunk, size - offset))
        elapsed = time.perf_counter() - t0
    finally:
        tus.close()
        os.close(fd)
    client.delete(url).raise_for_status()
    return elapsed


def _tus_upload(client: httpx.Client, source: Path, size: int, chunk: int) -> float:
    res = client.post("/api/v1/uploads/", headers={"Upload-Length": str(size + 1)})
    url = res.headers["location"]
    t0 = time.perf_counter()
    offset = 0
    with source.open("rb") as fh:
        while piece := fh.read(chunk):
            res = client.patch(url, content=piece, headers={
                "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"})
            res.raise_for_status()
            offset = int(res.headers["upload-offset"])
    elapsed = time.perf_counter() - t0
    assert offset == size
    client.delete(url).raise_for_status()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--chunk-mib", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print, do not update RESULTS.md")
    args = parser.parse_args()
    size, chunk = args.size_mib * 1024 * 1024, args.chunk_mib * 1024 * 1024

    work = Path(tempfile.mkdtemp(prefix="reelhouse-tus-bench-", dir=REPO / "bench"))
    server = None
    try:
        data_dir = work / "data"
        env = {
            **os.environ, "PYTHONPATH": str(REPO), "REELHOUSE_DATA_DIR": str(data_dir),
            "REELHOUSE_DATABASE_URL": f"sqlite:///{data_dir / 'reelhouse.db'}",
            "REELHOUSE_STORAGE_BACKEND": "local", "REELHOUSE_MAX_UPLOAD_BYTES": str(4 * size),
        }
        data_dir.mkdir(parents=True)
        setup = (
            "from backend.migrations import upgrade; from backend.db import session_scope; "
            "from backend.tables import Role; from backend.auth.service import create_api_key; "
            "upgrade(); s = session_scope().__enter__(); "
            "print(create_api_key(s, name='bench', role=Role.editor).token); s.commit()"
        )
        token = subprocess.run([sys.executable, "-W", "ignore", "-c", setup], env=env, cwd=REPO, check=True,
                               capture_output=True, text=True).stdout.strip().splitlines()[-1]
        source = work / "source.bin"
        _write_source(source, size)
        chunked_s = _chunked_fsync_write(source, work / "chunked.bin", chunk)

        port = _port()
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "backend.app:create_app", "--factory", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "warning"], env=env, cwd=REPO,
        )
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        auth = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
        seconds: dict[tuple[str, str], list[float]] = {}
        ops = ["copy", "tus, httpx client", "tus, sendfile client"]
        with httpx.Client(base_url=base, headers=auth, timeout=120) as client:
            for i in range(args.runs):
                for state in MEMORY_STATES:
                    for op in ops[i % 3 :] + ops[: i % 3]:  # rotate, so no operation always goes first
                        prepare_memory(state, size, work)
                        if op == "copy":
                            elapsed = timed_copy(source, work / "copy.bin")
                        elif op == "tus, httpx client":
                            elapsed = _tus_upload(client, source, size, chunk)
                        else:
                            elapsed = _tus_upload_sendfile(client, source, size, chunk)
                        seconds.setdefault((state, op), []).append(elapsed)
                        print(f"run {i + 1} {state:8} {op:22} {size / MB / elapsed:6.0f} MB/s", flush=True)
            rss = peak_rss_mb(server.pid)

        def mbs(state: str, op: str) -> float:
            return size / MB / median(seconds[(state, op)])

        def runs(state: str, op: str) -> str:
            return ", ".join(f"{size / MB / s:.0f}" for s in seconds[(state, op)])

        rows = []
        for state in MEMORY_STATES:
            rows.append(f"| {state} | plain file copy + fsync | {mbs(state, 'copy'):.0f} MB/s | {runs(state, 'copy')} |")
            for op in ops[1:]:
                rows.append(f"| {state} | {op} | {mbs(state, op):.0f} MB/s | {runs(state, op)} |")
                rows.append(f"| {state} | **{op} / copy** | **{mbs(state, op) / mbs(state, 'copy'):.0%}** | target ≥ 40 % |")
        table = "\n".join(rows)
        body = f"""Measured {today()} on {machine()}, `python -m bench.tus_upload --size-mib {args.size_mib} --chunk-mib {args.chunk_mib} --runs {args.runs}`.

{args.size_mib} MiB of random bytes sent as {args.chunk_mib} MiB tus PATCHes over one keep-alive connection to a
real uvicorn server on loopback (SQLite, local storage), beside `shutil.copyfile` + fsync of the same
file, interleaved in one run. Two clients: httpx (Python, reads and copies each chunk) and a
minimal client that sends each body with sendfile(2) (client and server share the 2 cores, so a
client's own copying is CPU the server does not get). Each PATCH: authenticate, lock the upload,
receive (backend/uploads/spool.receive); whole-file SHA-256 kept in memory and append on threads; offset commit. No
fsync per PATCH (the default, `REELHOUSE_TUS_FSYNC=false`, as in tusd): writing the same bytes
with an fsync per {args.chunk_mib} MiB runs at {size / MB / chunked_s:.0f} MB/s here. The finishing ingest is not
included (see the upload throughput section). Page-cache states as explained in bench/common.py.

| state | | median | runs |
|---|---|---|---|
{table}
| | server peak RSS (VmHWM) | **{rss:.0f} MB** | target < 200 MB |
"""
        print(body)
        if not args.no_write:
            write_section("Resumable upload throughput (issue 3)", body)
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
