"""A benchmark side in its own process: ``python benchmarks/worker.py {charsmith|torch}``.

Reads one JSON request per line on stdin, answers one JSON line on stdout. Started by
``_common.Worker``; not meant to be run by hand. Both sides build the same batches
(charsmith's ``line_batches`` with seed 0) before any timing.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy loads (the parent sets it explicitly)

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402

from charsmith import backend  # noqa: E402
from charsmith.config import ModelConfig  # noqa: E402
from charsmith.vocab import END  # noqa: E402


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kB


class Side:
    def __init__(self, side: str, data_dir: str | None) -> None:
        self.side = side
        self.names, self.source = harness.load_names(data_dir)
        self.tr = None
        if side == "torch":
            import torch
            import torch_reference as tr

            self.torch, self.tr = torch, tr
            tr.setup_threads()
        self.base_rss = maxrss_mb()
        self.work: list = []
        self.engine = backend.default()

    # ----- training -----
    def train_setup(self, cell: str, hidden: int, batch: int, embed: int = 64, seed: int = 0) -> dict:
        vocab, batches = harness.make_batches(self.names, batch, seed=seed)
        cfg = ModelConfig(cell=cell, vocab_size=vocab.size, hidden=hidden, embed=embed)
        self.chars = [b.n_chars for b in batches]
        self.flops = [harness.train_flops(cfg, [b]) for b in batches]
        if self.tr is None:
            trainer = harness.CharsmithTrainer(cfg, seed=seed)
            self.work = batches
            self.step = trainer.step
        else:
            self.torch.manual_seed(seed)
            model = self.tr.TorchCharModel(cell, vocab.size, hidden, embed)
            tstep = self.tr.make_trainer(model)
            self.work = self.tr.to_torch_batches(batches)
            self.step = lambda item: tstep(item[0], item[1])
        return {"batches": len(batches), "chars": sum(self.chars)}

    def train_run(self, start: int, count: int, cap: float = 1e9) -> dict:
        n = len(self.work)
        t0, c0 = time.perf_counter(), time.process_time()
        chars = flops = 0.0
        done = 0
        with backend.use(self.engine):
            for j in range(start, start + count):
                self.step(self.work[j % n])
                chars += self.chars[j % n]
                flops += self.flops[j % n]
                done += 1
                if time.perf_counter() - t0 > cap:
                    break
        return {"units": chars, "seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0,
                "flops": flops, "done": done}

    # ----- sampling -----
    def sample_setup(self, npz: str, hidden: int, embed: int, n: int, seed: int = 0) -> dict:
        from charsmith.vocab import Vocab

        vocab = Vocab.from_texts(self.names)
        cfg = ModelConfig(cell="gru", vocab_size=vocab.size, hidden=hidden, embed=embed)
        with np.load(npz) as z:
            params = {k: z[k] for k in z.files}
        self.n = n
        if self.tr is None:
            self.sample = harness.sample_rate(params, cfg, vocab, n, np.random.default_rng(seed))
        else:
            model = self.tr.TorchCharModel("gru", vocab.size, hidden, embed)
            harness.copy_gru_to_torch(params, cfg, model)
            gen = self.torch.Generator().manual_seed(seed)
            end = vocab.index(END)
            self.sample = lambda: len(self.tr.sample_names(model, n, end, vocab.chars, generator=gen))
        self.sample()
        names = [self.sample() for _ in range(1)]
        return {"ok": len(names)}

    def sample_run(self, reps: int, cap: float = 1e9) -> dict:
        t0 = time.perf_counter()
        units = 0
        for _ in range(reps):
            units += self.sample()
            if time.perf_counter() - t0 > cap:
                break
        return {"units": units, "seconds": time.perf_counter() - t0}

    # ----- misc -----
    def threads(self, n: int) -> dict:
        if self.tr is not None:
            self.tr.setup_threads(n)
        return {"threads": n}

    def engine_options(self, **options: object) -> dict:
        """charsmith's backend for the runs that follow: the default with these options
        (``threads``, ``pace``, ...; see charsmith.backend.compiled.Compiled.with_options)."""
        be = backend.default()
        self.engine = be.with_options(**options) if be.compiled else be  # type: ignore[attr-defined]
        return {"status": self.engine.status, "threads": self.engine.threads}

    def rss(self) -> dict:
        return {"maxrss_mb": maxrss_mb(), "base_mb": self.base_rss}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("side", choices=["charsmith", "torch"])
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args()
    out = sys.stdout
    try:
        side = Side(args.side, args.data_dir)
    except Exception as e:  # e.g. torch missing
        out.write(json.dumps({"error": f"{type(e).__name__}: {e}"}) + "\n")
        out.flush()
        return 1
    out.write(json.dumps({"ready": args.side, "source": side.source, "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS")}) + "\n")
    out.flush()
    for line in sys.stdin:
        req = json.loads(line)
        op = req.pop("op")
        if op == "exit":
            out.write("{}\n")
            out.flush()
            break
        try:
            res = getattr(side, op)(**req)
        except Exception as e:
            res = {"error": f"{op}: {type(e).__name__}: {e}"}
        out.write(json.dumps(res) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
