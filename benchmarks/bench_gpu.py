"""The torch engine on GPUs: speed against the compiled CPU engine, quality in 5 minutes, 1 -> N GPUs.

    python benchmarks/bench_gpu.py [--data-dir DIR] [--json OUT] [--minutes 5] [--gpus N]

Where PyTorch sees no CUDA GPU (or is not installed) it prints why and exits 0 with
``{"skipped": reason}`` in --json. Otherwise, on tinyshakespeare.txt (read from the shared
data folder, never copied):

1. chars/s of training steps, LSTM 2x512 and 3x1024 at batch 256 (seq_len 128, embed 64):
   ``--engine torch --device cuda`` against the compiled CPU engine, the same steps (a few
   warm-up steps dropped), in one process each;
2. held-out loss after --minutes (5) of ``charsmith train tinyshakespeare.txt --engine torch
   --device cuda`` (LSTM 3x512, embed 64, dropout 0.2, batch 64, seq_len 256; the target is
   <= 1.47, nanoGPT's baby GPT on an A100 in about 3 minutes);
3. chars/s with ``torchrun --nproc-per-node N`` against one GPU, the same global batch
   (N = --gpus, default all visible, when there are at least 2).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import DEFAULT_DATA_DIR, REPO, command_line, parser, write_json

SRC = str(REPO / "src")
SPEED_MODELS = {"lstm 2x512": ["--layers", "2", "--hidden", "512"], "lstm 3x1024": ["--layers", "3", "--hidden", "1024"]}
SPEED = ["--model", "lstm", "--embed", "64", "--batch-size", "256", "--seq-len", "128", "--eval-chars", "2000",
         "--warmup", "0", "--quiet"]
QUALITY = ["--model", "lstm", "--layers", "3", "--hidden", "512", "--embed", "64", "--dropout", "0.2",
           "--batch-size", "64", "--seq-len", "256", "--lr", "2e-3", "--eval-every", "250"]


def gpu_reason() -> str:
    """Why this benchmark cannot run here ("" when it can)."""
    try:
        import torch
    except ImportError:
        return 'PyTorch is not installed (pip install "charsmith[torch]")'
    if not torch.cuda.is_available():
        return f"PyTorch {torch.__version__} sees no CUDA GPU on this machine (torch.cuda.is_available() is False)"
    return ""


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": SRC}


def train(args: list[str], work: Path, name: str, launcher: list[str] | None = None) -> list[dict]:
    """Run ``charsmith train`` (under ``launcher``, e.g. torchrun); its metrics lines."""
    out = work / name
    cmd = [*(launcher or [sys.executable]), "-m", "charsmith", "train", *args, "--out", str(out), "--force"]
    subprocess.run(cmd, env=env(), check=True, stdout=subprocess.DEVNULL)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if r.get("kind", "eval") == "eval"]  # the evaluations, not the training records


def speed(text: Path, work: Path, model: list[str], engine: list[str], steps: int, name: str,
          launcher: list[str] | None = None) -> float:
    """chars/s from the evaluation at step 5 to the one at 5 + steps (the first steps warm up;
    evaluations score 2,000 characters, a small share of the time)."""
    rows = train([str(text), *SPEED, *model, *engine, "--steps", str(5 + steps), "--eval-every", "5"], work, name,
                 launcher)
    a, b = rows[0], rows[-1]
    chars = 256 * 128 * (b["step"] - a["step"])
    return chars / max(b["elapsed"] - a["elapsed"], 1e-9)


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--gpus", type=int, default=0, help="N for the torchrun speed-up (default: all visible)")
    ap.add_argument("--steps", type=int, default=20, help="timed steps per speed measurement (default 20)")
    args = ap.parse_args(argv)
    reason = gpu_reason()
    if reason:
        print(f"skipped: {reason}")
        write_json(args.json, {"command": command_line(), "skipped": reason})
        return 0
    import torch

    text = Path(args.data_dir or DEFAULT_DATA_DIR) / "tinyshakespeare.txt"
    result: dict = {"command": command_line(), "gpu": torch.cuda.get_device_name(0), "speed": {}}
    with tempfile.TemporaryDirectory(prefix="charsmith-gpu-") as tmp:
        work = Path(tmp)
        for name, model in SPEED_MODELS.items():
            gpu = speed(text, work, model, ["--engine", "torch", "--device", "cuda"], args.steps, "gpu")
            cpu = speed(text, work, model, [], max(2, args.steps // 10), "cpu")
            result["speed"][name] = {"gpu_chars_per_s": round(gpu), "cpu_chars_per_s": round(cpu),
                                     "ratio": round(gpu / cpu, 1)}
            print(f"{name}, batch 256: GPU {gpu:,.0f} chars/s, compiled CPU {cpu:,.0f} chars/s, {gpu / cpu:.1f}x",
                  flush=True)
        t0 = time.time()
        rows = train([str(text), *QUALITY, "--engine", "torch", "--device", "cuda", "--minutes", str(args.minutes)],
                     work, "quality")
        best = min(r["val_loss"] for r in rows if r["val_loss"] is not None)
        result["quality"] = {"minutes": args.minutes, "best_val_loss": round(best, 4), "steps": rows[-1]["step"],
                             "target": 1.47, "wall_s": round(time.time() - t0)}
        print(f"tinyshakespeare, {args.minutes:g} min on one GPU: held-out {best:.4f} nats/char (target <= 1.47)")
        n = args.gpus or torch.cuda.device_count()
        if n >= 2:
            model = SPEED_MODELS["lstm 2x512"]
            one = speed(text, work, model, ["--engine", "torch", "--device", "cuda"], args.steps, "one")
            run = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(n)]
            many = speed(text, work, model, ["--engine", "torch", "--device", "cuda"], args.steps, "many", run)
            result["torchrun"] = {"gpus": n, "one_chars_per_s": round(one), "n_chars_per_s": round(many),
                                  "speedup": round(many / one, 2)}
            print(f"torchrun {n} GPUs: {many:,.0f} chars/s against {one:,.0f} on one, {many / one:.2f}x", flush=True)
        else:
            result["torchrun"] = {"skipped": f"{n} GPU visible; the 1 -> N speed-up needs at least 2"}
            print(result["torchrun"]["skipped"])
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
