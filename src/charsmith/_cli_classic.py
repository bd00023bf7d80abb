"""``charsmith classic``: run the seed notebooks' experiments, check gradients, export.

    charsmith classic dinos FILE [--iterations 35000] [--hidden 50] [--seed 0]
    charsmith classic minchar FILE [--notebook] [--optimizer adagrad|sgd] ...
    charsmith classic gradcheck [--seed 0]
    charsmith classic export PARAMS.npz --out DIR [--data FILE]

``dinos --seed S`` offsets the sampling seeds (the notebook's 0 gives its printed names);
the weights and the shuffle use the notebook's fixed seeds 1 and 0.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

from charsmith.errors import DataError

__all__ = ["add_parser", "run"]


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text}")
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``classic`` and its sub-commands dinos, minchar, gradcheck, export."""
    c = subparsers.add_parser("classic", help="the seed notebooks' NumPy RNNs, reproduced exactly",
                              description="Run the seed notebooks' experiments with their exact numbers.")
    sub = c.add_subparsers(dest="classic_command", required=True, metavar="EXPERIMENT")
    d = sub.add_parser("dinos", help="Dinosaurus Island: train on a names file, print as the notebook")
    d.add_argument("file", help="names, one per line (the notebook's dinos.txt)")
    d.add_argument("--iterations", type=_non_negative, default=35000, help="SGD steps, one name each (default 35000)")
    d.add_argument("--hidden", type=_positive, default=50, help="hidden units n_a (default 50)")
    d.add_argument("--seed", type=_non_negative, default=0, help="first sampling seed (default 0, the notebook's)")
    d.add_argument("--names", type=_positive, default=7, help="names sampled every 2,000 steps (default 7)")
    d.add_argument("--save", metavar="PARAMS.npz", help="save the trained parameters (with chars) for `classic export`")
    m = sub.add_parser("minchar", help="min-char-rnn on a text file")
    m.add_argument("file", help="UTF-8 text")
    m.add_argument("--notebook", action="store_true",
                   help="the notebook's printed run: hidden 10, SGD lr 1e-3, 10000 iterations, no samples")
    m.add_argument("--hidden", type=_positive, help="hidden units (default 100)")
    m.add_argument("--seq-length", type=_positive, default=25, help="characters per window (default 25)")
    m.add_argument("--optimizer", choices=("adagrad", "sgd"), help="default adagrad")
    m.add_argument("--lr", type=float, help="learning rate (default 0.1 adagrad, 1e-3 sgd)")
    m.add_argument("--iterations", type=_non_negative, help="windows to train on (default 10000)")
    m.add_argument("--seed", type=_non_negative, default=1337, help="np.random.seed before the weights (default 1337)")
    m.add_argument("--sample-every", type=_non_negative, help="print a sample every N iterations, 0: never (default 100)")
    m.add_argument("--sample-length", type=_positive, default=200, help="characters per sample (default 200)")
    g = sub.add_parser("gradcheck", help="finite-difference check of every classic backward pass")
    g.add_argument("--seed", type=_non_negative, default=0, help="seed of the random test models")
    e = sub.add_parser("export", help="turn a classic PARAMS.npz into a charsmith checkpoint")
    e.add_argument("params", metavar="PARAMS.npz",
                   help="np.savez of Wax, Waa, Wya, b, by (+ optional 'chars': the characters in index order)")
    e.add_argument("--out", required=True, help="checkpoint directory to write (new or empty, as for train)")
    e.add_argument("--force", action="store_true", help="replace a checkpoint already in --out")
    e.add_argument("--data", metavar="FILE",
                   help="the names file trained on: char_to_ix when the npz has no chars, and known names")


def _read(path: str) -> str:
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{path}: no such file")
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start})") from None


def _dinos(args: argparse.Namespace, out: TextIO) -> int:
    import numpy as np

    from charsmith.classic import dinos

    data = _read(args.file).lower()
    char_to_ix, ix_to_char = dinos.char_maps(data)
    if "\n" not in char_to_ix:
        raise DataError(f"{args.file} holds a single name; it needs one name per line")
    vocab_size = len(char_to_ix)
    print("There are %d total characters and %d unique characters in your data." % (len(data), vocab_size), file=out)

    def log(s: str) -> None:
        print(s, file=out)

    params = dinos.model(data, ix_to_char, char_to_ix, num_iterations=args.iterations, n_a=args.hidden,
                         dino_names=args.names, vocab_size=vocab_size, log=log, sample_seed=args.seed)
    if args.save:
        chars = np.array([ix_to_char[i] for i in range(vocab_size)])
        arrays: dict[str, Any] = {"chars": chars, **params}
        np.savez(args.save, **arrays)
        print(f"saved parameters to {args.save}; `charsmith classic export {args.save} --out DIR` makes a checkpoint",
              file=out)
    return 0


def _minchar(args: argparse.Namespace, out: TextIO) -> int:
    from charsmith.classic import minchar

    data = _read(args.file)
    nb = args.notebook
    optimizer = args.optimizer or ("sgd" if nb else "adagrad")
    lr = args.lr if args.lr is not None else (1e-3 if optimizer == "sgd" else 1e-1)
    hidden = args.hidden or (10 if nb else 100)
    sample_every = args.sample_every if args.sample_every is not None else (0 if nb else 100)
    print("data has %d characters, %d unique." % (len(data), len(set(data))), file=out)
    minchar.train(data, hidden_size=hidden, seq_length=args.seq_length, learning_rate=lr, optimizer=optimizer,
                  num_iterations=args.iterations if args.iterations is not None else 10000, seed=args.seed,
                  sample_every=sample_every, sample_length=args.sample_length,
                  log=lambda s: print(s, file=out))
    return 0


def _gradcheck(args: argparse.Namespace, out: TextIO) -> int:
    from charsmith.classic.gradcheck import run_gradcheck

    errors = run_gradcheck(args.seed)
    width = max(len(k) for k in errors)
    for name, err in errors.items():
        print(f"{name:<{width}}  relative error {err:.3e}", file=out)
    worst = max(errors.values())
    ok = worst < 1e-6
    print(f"{'ok' if ok else 'FAILED'}: largest relative error {worst:.3e} (threshold 1e-6)", file=out)
    return 0 if ok else 1


def _export(args: argparse.Namespace, out: TextIO) -> int:
    from charsmith.classic.bridge import export_checkpoint

    path = export_checkpoint(args.params, args.out, data_path=args.data, force=args.force)
    print(f"wrote checkpoint {path}; try `charsmith sample {path}`", file=out)
    return 0


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run the ``classic`` sub-command in ``args``; returns the exit status."""
    commands = {"dinos": _dinos, "minchar": _minchar, "gradcheck": _gradcheck, "export": _export}
    return commands[args.classic_command](args, out)
