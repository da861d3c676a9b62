"""Throughput under gunicorn (2 sync workers), Grappe beside the bare app (``--http``).

Both apps are served by gunicorn on 127.0.0.1 and loaded by a bounded load generator:
``wrk`` (Debian package) for a fixed duration when it is installed, otherwise a small
Python client with a fixed request count.  Requests are logged in with a session cookie
made by the in-process app (same secret key).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

USER_AGENT = "grappe-bench"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A gunicorn process serving ``target`` with 2 sync workers on a free local port."""

    def __init__(self, target: str, env: dict, workers: int = 2):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(Path(env["GRAPPE_INSTANCE"]) / f"gunicorn-{self.port}.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", str(workers), "-k", "sync", "-b", f"127.0.0.1:{self.port}",
             "--timeout", "60", target],
            env={**os.environ, **env}, stdout=self.log, stderr=subprocess.STDOUT,
        )

    def wait(self, path: str, headers: dict, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                status = _fetch(self.url + path, headers)
                if status == 200:
                    return
                raise RuntimeError(f"{path} answered {status} under gunicorn (expected 200)")
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not serve {path} in {timeout:.0f} s (see {self.log.name})")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def _fetch(url: str, headers: dict) -> int:
    req = urllib.request.Request(url, headers=headers)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=10) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def load(url: str, headers: dict, duration: float = 5.0, connections: int = 16) -> dict:
    """Requests per second on ``url``: wrk for ``duration`` seconds, else a Python client."""
    wrk = shutil.which("wrk")
    if wrk:
        cmd = [wrk, "-t2", f"-c{connections}", f"-d{int(duration)}s", "--timeout", "5s", "--latency"]
        for k, v in headers.items():
            cmd += ["-H", f"{k}: {v}"]
        out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=duration + 30).stdout
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
        p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
        p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
        return {"tool": "wrk", "requests_per_s": round(rps, 1), "errors": int(bad.group(1)) if bad else 0,
                "latency_p50_ms": _ms(p50), "latency_p99_ms": _ms(p99), "connections": connections,
                "duration_s": duration}
    return _python_load(url, headers, total=400, connections=8)


def _ms(match) -> float | None:
    if not match:
        return None
    value, unit = float(match.group(1)), match.group(2)
    return round(value / 1000 if unit == "us" else value * 1000 if unit == "s" else value, 2)


def _python_load(url: str, headers: dict, total: int, connections: int) -> dict:
    """A fixed number of requests from a few threads (each with a 10 s timeout)."""
    lock = threading.Lock()
    left = [total]
    errors = [0]
    latencies: list[float] = []

    def worker():
        while True:
            with lock:
                if left[0] <= 0:
                    return
                left[0] -= 1
            start = time.perf_counter()
            try:
                ok = _fetch(url, headers) == 200
            except OSError:
                ok = False
            with lock:
                latencies.append(time.perf_counter() - start)
                errors[0] += 0 if ok else 1

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {"tool": "python", "requests_per_s": round(total / elapsed, 1), "errors": errors[0],
            "latency_p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
            "latency_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
            "connections": connections, "requests": total}


def throughput(*, database_url: str, secret_key: str, instance: str, cookie: str, pages: list[dict],
               bare_queries: list[tuple[str, str]], echo=print, duration: float = 5.0) -> dict:
    """Serve Grappe and the bare app under gunicorn; load each page and its bare twin.

    :param pages: ``{"label", "url", "bare": index or None}``.
    :param bare_queries: (page SQL, count SQL) for the bare app, literal values inlined.
    """
    queries_file = Path(instance) / "bare_queries.json"
    queries_file.write_text(json.dumps(bare_queries))
    env = {
        "GRAPPE_DATABASE_URL": database_url, "GRAPPE_SECRET_KEY": secret_key, "GRAPPE_INSTANCE": instance,
        "GRAPPE_INSECURE_COOKIES": "1", "BENCH_DATABASE_URL": database_url, "BENCH_BARE_QUERIES": str(queries_file),
    }
    headers = {"Cookie": f"session={cookie}", "User-Agent": USER_AGENT}
    results: dict = {}
    grappe = Server("core.wsgi:app", env)
    bare = Server("bench.bare:from_env()", env)
    try:
        grappe.wait(pages[0]["url"] if pages else "/login", headers)
        bare.wait("/hello", {})
        results["bare hello"] = load(bare.url + "/hello", {}, duration)
        echo(f"  http bare hello: {results['bare hello']['requests_per_s']} req/s")
        for page in pages:
            status = _fetch(grappe.url + page["url"], headers)
            if status != 200:
                raise RuntimeError(f"{page['label']}: {page['url']} answered {status} under gunicorn")
            entry = {"url": page["url"], "grappe": load(grappe.url + page["url"], headers, duration)}
            if page.get("bare") is not None:
                entry["bare"] = load(f"{bare.url}/{page['bare']}", {}, duration)
                entry["ratio"] = round(entry["bare"]["requests_per_s"] / max(entry["grappe"]["requests_per_s"], 0.1), 2)
            results[page["label"]] = entry
            echo(f"  http {page['label']}: {entry['grappe']['requests_per_s']} req/s"
                 + (f" (bare {entry['bare']['requests_per_s']})" if "bare" in entry else ""))
    finally:
        grappe.stop()
        bare.stop()
    return results
