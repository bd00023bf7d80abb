"""Hardening: the audit's worst cases, timed through the CLI and the server as users run them.

    python benchmarks/bench_hardening.py [--rounds 3] [--json benchmarks/results/hardening.json]

Each case runs in a fresh process, alternating with a reference in the same round (the
machine is shared and noisy): CPU seconds (user + system) and peak memory of the process.

- classify one item under 10,000 categories (a model made here with charsmith's own code,
  untrained weights drawn from a seed), against classifying it under the bundled
  ``languages`` model's 18;
- the explanation of 12 ``contains`` letters in at most 11 characters (impossible), against
  ``sample names -n 1``;
- ``charsmith serve`` stopped by SIGTERM while four requests compute: seconds to exit.
"""

from __future__ import annotations

import json
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import command_line, parser, write_json

CHILD = """
import resource, sys
from charsmith.cli import main
code = main(sys.argv[1:])
r = resource.getrusage(resource.RUSAGE_SELF)
print("BENCH", r.ru_utime + r.ru_stime, r.ru_maxrss, code, file=sys.stderr)
"""


def run(argv: list[str]) -> tuple[float, int]:
    """(CPU seconds, peak KB) of ``charsmith ARGV`` in a fresh process."""
    p = subprocess.run([sys.executable, "-c", CHILD, *argv], capture_output=True, text=True, check=False)
    line = next(ln for ln in p.stderr.splitlines() if ln.startswith("BENCH"))
    _, cpu, rss, _ = line.split()
    return float(cpu), int(rss)


def many_categories(path: Path, K: int) -> None:
    import numpy as np

    from charsmith import model as M
    from charsmith.categories import Categories
    from charsmith.checkpoint import Checkpoint, save_checkpoint
    from charsmith.config import ModelConfig
    from charsmith.vocab import Vocab

    vocab = Vocab.from_texts(["abcdefghijklmnopqrstuvwxyz"])
    cfg = ModelConfig("gru", vocab.size, 64, layers=1, embed=16, categories=K, cat_embed=16)
    cats = Categories(tuple(f"c{k}" for k in range(K)), tuple([1] * K))
    save_checkpoint(path, Checkpoint(cfg, vocab, M.init_params(cfg, np.random.default_rng(0)), None, None, {}, cats))


def pair(case: list[str], ref: list[str], rounds: int) -> dict[str, Any]:
    rows = []
    for _ in range(rounds):
        (c_cpu, c_rss), (r_cpu, r_rss) = run(case), run(ref)
        rows.append({"cpu_s": c_cpu, "peak_mb": c_rss / 1024, "ref_cpu_s": r_cpu, "ref_peak_mb": r_rss / 1024})
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    return {"case": " ".join(case), "reference": " ".join(ref), **{k: round(v, 3) for k, v in med.items()},
            "cpu_ratio": round(statistics.median(r["cpu_s"] / r["ref_cpu_s"] for r in rows), 2)}


def sigterm_seconds() -> float:
    proc = subprocess.Popen([sys.executable, "-m", "charsmith", "serve", "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    port = int(proc.stdout.readline().split("http://", 1)[1].split("/")[0].rsplit(":", 1)[1])
    body = json.dumps({"model": "names", "n": 100, "contains": ["q", "x", "z"], "max_len": 64, "unique": True}).encode()
    socks = []
    for _ in range(4):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"POST /api/sample HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        socks.append(s)
    time.sleep(1.0)
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)
    for s in socks:
        s.close()
    return round(time.monotonic() - start, 2)


def main() -> None:
    ap = parser(__doc__)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        k10k = Path(tmp) / "k10k"
        many_categories(k10k, 10_000)
        results = {
            "command": command_line(),
            "classify_10k_categories": pair(["classify", str(k10k), "abcdef"], ["classify", "languages", "Rossi"],
                                            args.rounds),
            "explain_12_contains": pair(["sample", "names", "--max-len", "11", *(f"--contains={c}" for c in
                                                                                  "abcdefghijkl")],
                                        ["sample", "names", "-n", "1"], args.rounds),
            "sigterm_exit_s": sigterm_seconds(),
        }
    results["classify_10k_categories"]["case"] = "classify K10K abcdef"  # the temporary path means nothing later
    print(json.dumps(results, indent=1))
    write_json(args.json, results)


if __name__ == "__main__":
    main()
