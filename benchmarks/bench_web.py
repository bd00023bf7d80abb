"""Load on `charsmith serve`: concurrent clients on 127.0.0.1 mixing sample, score and complete.

    python benchmarks/bench_web.py [--clients 50] [--seconds 30] [--threads N] [--write]

Starts `charsmith serve --port 0` as a user would, runs --clients clients, each sending one
request after another for --seconds (then waits for those in flight, at most 60 s more), and
reports requests/s, p50/p95 latency per kind, errors (the goal is 0) and the server's peak
RSS (VmHWM). The reference, measured in the same run: the same mix called directly through
CharModel, one call after another in one process. --write puts the table in RESULTS.md.
Needs the web extra and httpx.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the CLI sets it

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
SECTION = "web-load"
MIX = (("sample", 0.5), ("score", 0.3), ("complete", 0.2))
SCORED = ["emma", "olivia", "zyxwv", "marcus", "qwerty", "annabelle", "kai", "theodore", "xanthe", "bob"]


def request(kind: str, rng: random.Random) -> tuple[str, dict[str, Any]]:
    """One request of the mix: (path, JSON body)."""
    if kind == "sample":
        return "/api/sample", {"model": rng.choice(["names", "dinosaurs"]), "n": 10,
                               "temperature": round(rng.uniform(0.6, 1.2), 2)}  # fmt: skip
    if kind == "score":
        return "/api/score", {"model": "names", "items": rng.sample(SCORED, 5)}
    return "/api/complete", {"model": "shakespeare", "prompt": "ROMEO:", "length": 200,
                             "temperature": round(rng.uniform(0.6, 1.0), 2)}  # fmt: skip


async def one(client: httpx.AsyncClient, kind: str, rng: random.Random) -> tuple[bool, float, str]:
    """Send one request and read the whole answer: (ok, seconds, error)."""
    path, body = request(kind, rng)
    t0 = time.perf_counter()
    try:
        async with client.stream("POST", path, json=body) as r:
            text = (await r.aread()).decode("utf-8")
        took = time.perf_counter() - t0
        if r.status_code != 200:
            return False, took, f"{r.status_code} {text[:120]}"
        if kind == "complete":
            last = json.loads(text.splitlines()[-1])
            if not last.get("done") or last.get("length") != body["length"]:
                return False, took, f"stream ended with {last}"
        elif not json.loads(text)["items"]:
            return False, took, "no items"
        return True, took, ""
    except (httpx.HTTPError, ValueError, KeyError) as e:
        return False, time.perf_counter() - t0, f"{type(e).__name__}: {e}"


async def load(url: str, clients: int, seconds: float, seed: int) -> dict[str, Any]:
    rows: list[tuple[str, bool, float, str, float]] = []  # kind, ok, latency, error, finished at
    kinds, weights = zip(*MIX)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as client:
        start = time.perf_counter()
        stop = start + seconds

        async def worker(i: int) -> None:
            rng = random.Random(seed * 1000 + i)
            while time.perf_counter() < stop:
                kind = rng.choices(kinds, weights)[0]
                ok, took, error = await one(client, kind, rng)
                rows.append((kind, ok, took, error, time.perf_counter() - start))

        await asyncio.wait_for(asyncio.gather(*(worker(i) for i in range(clients))), seconds + 60)
        wall = time.perf_counter() - start
    return {"rows": rows, "wall": wall}


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q / 100 * (len(xs) - 1)))] if xs else float("nan")


def summarise(rows: list[tuple[str, bool, float, str, float]], wall: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind in [k for k, _ in MIX] + ["all"]:
        mine = [r for r in rows if kind in ("all", r[0])]
        lat = [r[2] for r in mine if r[1]]
        out[kind] = {"requests": len(mine), "per_s": len(mine) / wall, "errors": sum(not r[1] for r in mine),
                     "p50_ms": 1000 * percentile(lat, 50), "p95_ms": 1000 * percentile(lat, 95)}  # fmt: skip
    out["error_samples"] = sorted({r[3] for r in rows if not r[1]})[:5]
    return out


def peak_rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident set of a process in MB, from /proc (Linux)."""
    status = Path(f"/proc/{pid}/status").read_text()
    kb = {k: int(v) for k, v in re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.MULTILINE)}
    return kb["VmRSS"] / 1024, kb["VmHWM"] / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def direct_reference(seconds: float, seed: int) -> dict[str, Any]:
    """The same mix through CharModel in this process, one call after another: calls/s."""
    import charsmith

    models = {name: charsmith.load(name) for name in ("names", "dinosaurs", "shakespeare")}
    rng = random.Random(seed)
    kinds, weights = zip(*MIX)
    done = 0
    start, cpu = time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        kind = rng.choices(kinds, weights)[0]
        _, body = request(kind, rng)
        m = models[body["model"]]
        if kind == "sample":
            items = m.sample(body["n"], temperature=body["temperature"]).samples
            m.score(items), m.is_known(items)  # what the API adds to each sample
        elif kind == "score":
            m.score(body["items"]), m.is_known(body["items"])
        else:
            "".join(m.complete_stream(body["prompt"], body["length"], temperature=body["temperature"]))
        done += 1
    return {"calls": done, "per_s": done / (time.perf_counter() - start), "per_cpu_s": done / (time.process_time() - cpu)}


def start_server(threads: int | None, log: Path) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "charsmith", "serve", "--port", "0"]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log.open("w"), text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "http://" not in line:
        proc.kill()
        raise SystemExit(f"charsmith serve did not start: {line!r} {log.read_text()[-500:]}")
    return proc, "http://" + line.split("http://", 1)[1].split()[0]


def table(r: dict[str, Any]) -> str:
    s = r["summary"]
    lines = ["| requests | count | requests/s | p50 latency | p95 latency | errors |", "| --- | --- | --- | --- | --- | --- |"]
    for kind, what in [("sample", "sample: 10 names (`names` or `dinosaurs`)"),
                       ("score", "score: 5 names (`names`)"),
                       ("complete", "complete: 200 characters streamed (`shakespeare`)"), ("all", "**all**")]:  # fmt: skip
        k = s[kind]
        lines.append(f"| {what} | {k['requests']:,} | {k['per_s']:.1f} | {k['p50_ms']:.0f} ms | {k['p95_ms']:.0f} ms "
                     f"| {k['errors']} |")
    return "\n".join(lines)


def section(r: dict[str, Any]) -> str:
    ref, every = r["reference"], r["summary"]["all"]
    per_cpu = every["requests"] / r["server_cpu_s"]
    setup = (f"`{r['command']}` on {r['when']}: `charsmith serve` (compiled kernels: {r['kernels']}; kernel "
             f"threads: {r['threads']}) with {r['clients']} concurrent clients on 127.0.0.1 for {r['seconds']:g} s "
             f"(the clients run on the same {r['cores']} cores; load average {r['load_before']} before the run on "
             "this shared machine). Each client sends one request after another: 50% sample, 30% score, 20% "
             "complete; a request counts as done when its whole answer (the whole stream) has arrived.\n")
    cpu = (f"- CPU time during the run: the server {r['server_cpu_s']:.0f} s, the load generator "
           f"{r['client_cpu_s']:.0f} s, of the {r['cores'] * r['wall']:.0f} core-seconds the machine had "
           "(other processes took the rest).")
    reference = (f"- Reference in the same run: the same mix called directly through `CharModel`, one call after "
                 f"another in one process: {ref['per_s']:.1f} calls/s, {ref['per_cpu_s']:.0f} calls per CPU-second. "
                 "The server (worker threads, HTTP and JSON, with the load generator on the same cores) serves "
                 f"**{every['per_s'] / ref['per_s']:.2f}×** the calls/s; per CPU-second of its own, "
                 f"{per_cpu:.0f} requests, **{per_cpu / ref['per_cpu_s']:.2f}×** the direct calls' (the difference "
                 "is the cost of serving).")
    return "\n".join([
        f"<!-- section {SECTION}: regenerated by benchmarks/bench_web.py --write -->",
        "# Web server under load\n",
        setup,
        table(r) + "\n",
        f"- **{every['per_s']:.1f} requests/s** over {r['wall']:.1f} s; **errors: {every['errors']}** (the goal is 0).",
        (f"- Server memory: {r['rss_idle_mb']:.0f} MB resident after start, **peak {r['rss_peak_mb']:.0f} MB** "
         "(VmHWM) under load."),
        cpu,
        reference,
        "<!-- /section -->",
    ])


def write_section(text: str) -> None:
    old = RESULTS.read_text(encoding="utf-8") if RESULTS.is_file() else "# charsmith benchmark results\n"
    pattern = re.compile(rf"<!-- section {SECTION}:.*?<!-- /section -->", re.DOTALL)
    new = pattern.sub(lambda _: text, old) if pattern.search(old) else old.rstrip("\n") + "\n\n" + text + "\n"
    tmp = RESULTS.with_suffix(".md.tmp")
    tmp.write_text(new, encoding="utf-8")
    tmp.replace(RESULTS)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--threads", type=int, default=None, help="`charsmith serve --threads` (default: its default)")
    ap.add_argument("--reference-seconds", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--write", action="store_true", help="put the results in benchmarks/RESULTS.md")
    ap.add_argument("--json", default=None, help="also write the results as JSON here")
    args = ap.parse_args()
    from charsmith import backend

    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "serve.log"
        load_before = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        proc, url = start_server(args.threads, log)
        try:
            httpx.get(url + "api/models", timeout=30).raise_for_status()
            rss_idle, _ = peak_rss_mb(proc.pid)
            print(f"{url}: {args.clients} clients for {args.seconds:g} s ...", flush=True)
            cpu = cpu_seconds(proc.pid), time.process_time()
            got = asyncio.run(load(url, args.clients, args.seconds, args.seed))
            cpu = cpu_seconds(proc.pid) - cpu[0], time.process_time() - cpu[1]
            _, rss_peak = peak_rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(30)
        server_log = log.read_text()
    print("reference: the same mix through CharModel directly ...", flush=True)
    argv = " ".join(a for a in sys.argv[1:] if a != "--write")
    result = {
        "command": f"python benchmarks/bench_web.py {argv}".strip(),
        "when": time.strftime("%Y-%m-%d %H:%M %Z"),
        "clients": args.clients, "seconds": args.seconds, "wall": got["wall"],
        "threads": args.threads if args.threads is not None else "1, serve's default",
        "kernels": "yes" if backend.current().compiled else f"no ({backend.current().status})",
        "load_before": load_before, "rss_idle_mb": rss_idle, "rss_peak_mb": rss_peak,
        "server_cpu_s": cpu[0], "client_cpu_s": cpu[1], "cores": os.cpu_count(),
        "summary": summarise(got["rows"], got["wall"]),
        "reference": direct_reference(args.reference_seconds, args.seed),
        "server_log_errors": [ln for ln in server_log.splitlines() if "ERROR" in ln][:5],
    }  # fmt: skip
    print(table(result))
    print(f"errors: {result['summary']['error_samples'] or 'none'}; server log errors: "
          f"{result['server_log_errors'] or 'none'}")
    print(f"peak RSS {rss_peak:.0f} MB (idle {rss_idle:.0f} MB); reference {result['reference']['per_s']:.1f} calls/s")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    if args.write:
        write_section(section(result))
        print(f"wrote the {SECTION} section of {RESULTS}")
    return 0 if result["summary"]["all"]["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
