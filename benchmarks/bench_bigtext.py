"""Training on a big text: time and peak memory of ``charsmith train BIG.txt --steps 5``.

    python benchmarks/bench_bigtext.py [--mb 50] [--data-dir DIR] [--json OUT]

BIG.txt is tinyshakespeare.txt repeated to --mb megabytes (and HALF.txt to half that),
written to a temporary directory (the data stays in ../shared/data). Each command runs in
a fresh child process with every other option left to charsmith's defaults for the file (a
2-layer LSTM 256, evaluation on a fixed 200,000-character subset of the held-out tail).
Also: a 5 MB file on one line. Reported: wall and CPU seconds (the machine is shared; CPU
time is what the run itself used) and the child's peak RSS (``wait4``).

Memory per character of text is the slope between the two sizes, (RSS(BIG) - RSS(HALF)) /
(characters(BIG) - characters(HALF)): what the data itself costs, apart from the fixed
model, activations and libraries. The encoded ids take 1 byte a character.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import DEFAULT_DATA_DIR, REPO, command_line, parser, write_json

SRC = str(REPO / "src")


def child(args: list[str]) -> dict:
    """Run ``python args`` with charsmith on the path: seconds, CPU seconds, peak RSS, exit status."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, *args], env={**os.environ, "PYTHONPATH": SRC},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if code and proc.stderr:
        print(proc.stderr.read().decode(), file=sys.stderr)
    return {"seconds": round(seconds, 1), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
            "peak_rss_mb": round(usage.ru_maxrss * 1024 / 1e6), "exit": code}


def case(name: str, path: Path, work: Path) -> dict:
    row = {"case": name, "characters": len(path.read_text(encoding="utf-8")),
           **child(["-m", "charsmith", "train", str(path), "--steps", "5", "--out", str(work / name), "--quiet"])}
    print(f"{name}: {row['characters'] / 1e6:.1f} M characters, {row['seconds']} s ({row['cpu_seconds']} s CPU), "
          f"peak RSS {row['peak_rss_mb']} MB, exit {row['exit']}", flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--mb", type=float, default=50.0, help="size of BIG.txt in megabytes (default 50)")
    args = ap.parse_args(argv)
    source = Path(args.data_dir or DEFAULT_DATA_DIR) / "tinyshakespeare.txt"
    text = source.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="charsmith-bigtext-") as tmp:
        work = Path(tmp)
        files = {}
        for name, mb in (("big", args.mb), ("half", args.mb / 2)):
            files[name] = work / f"{name.upper()}.txt"
            files[name].write_text(text * max(1, round(mb * 1e6 / len(text))), encoding="utf-8")
        files["one_line_5mb"] = work / "LINE.txt"
        files["one_line_5mb"].write_text((text.replace("\n", " ") * 5)[:5_000_000], encoding="utf-8")
        baseline = child(["-c", "import numpy, charsmith.cli"])["peak_rss_mb"]
        print(f"import baseline: {baseline} MB", flush=True)
        rows = {name: case(name, path, work) for name, path in files.items()}
    big, half = rows["big"], rows["half"]
    per_char = (big["peak_rss_mb"] - half["peak_rss_mb"]) * 1e6 / (big["characters"] - half["characters"])
    print(f"memory per character of text: {per_char:.2f} bytes (the ids take 1)")
    write_json(args.json, {"command": command_line(), "baseline_rss_mb": baseline, "rows": list(rows.values()),
                           "rss_bytes_per_character": round(per_char, 2),
                           "targets": "big under 60 s on 2 cores; about 1 byte of memory per character"})
    return 0 if all(r["exit"] == 0 for r in rows.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
