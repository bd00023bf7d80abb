"""Shared fixtures: small synthetic data sets, a quickly trained model, the shared data folder."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import charsmith
from charsmith import backend
from charsmith._corpus import make_corpus
from charsmith.backend.compiled import Compiled
from charsmith.config import ModelConfig, TrainConfig
from charsmith.trainer import Trainer

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
# Where the charsmith under test was imported from (src/ of an editable install, or site-packages):
# the PYTHONPATH for the child processes the tests start, so that they run the same code.
PACKAGE_ROOT = str(Path(charsmith.__file__).resolve().parents[1])


def compiler() -> str | None:
    return next(filter(None, (shutil.which(cc) for cc in ("cc", "gcc", "clang"))), None)


def has_compiler() -> bool:
    return compiler() is not None


def plant_library(path: Path, marker: Path) -> Path:
    """Build a shared library at ``path`` whose constructor creates ``marker``, and which
    exports cblas_sgemm/cblas_dgemm (so a loader looking for a BLAS would take it)."""
    src = path.with_suffix(".c")
    src.write_text(
        "#include <stdio.h>\n"
        f'__attribute__((constructor)) static void planted(void) {{ fclose(fopen("{marker}", "w")); }}\n'
        "void cblas_sgemm(void) {}\nvoid cblas_dgemm(void) {}\n",
        encoding="utf-8",
    )
    subprocess.run([str(compiler()), "-shared", "-fPIC", "-o", str(path), str(src)], check=True)
    src.unlink()
    return path


def compiled_backend() -> Compiled:
    """The compiled backend; where a C compiler exists it must have loaded (no silent
    fallback), elsewhere the test is skipped with the reason."""
    be = backend.default()
    if not isinstance(be, Compiled):
        if has_compiler() and os.environ.get("CHARSMITH_NATIVE", "1") != "0":
            pytest.fail(f"a C compiler is present but the compiled kernels are not: {be.status}")
        pytest.skip(f"no compiled kernels on this machine: {be.status}")
    return be


def split_everything(threads: int, **options: object) -> backend.Backend:
    """The current backend, compiled calls split into ``threads`` blocks however small they
    are (the NumPy reference as it is)."""
    be = backend.current()
    if not isinstance(be, Compiled):
        return be
    small = {"min_work": 1, "min_matmul": 1, "min_elements": 1, "min_head_cols": 1}
    return be.with_options(threads=threads, **{**small, **options})  # type: ignore[arg-type]


@pytest.fixture(params=["compiled", "numpy"])
def engine(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test once on each backend: the compiled kernels and the NumPy reference."""
    be = compiled_backend() if request.param == "compiled" else backend.reference()
    with backend.use(be):
        yield request.param


def make_names(n: int, seed: int = 0) -> list[str]:
    """Pseudo dinosaur names with a learnable shape: syllables + a common ending."""
    rng = np.random.default_rng(seed)
    onsets, vowels = list("bdgkmprstvz"), list("aeiou")
    endings = ["saurus", "don", "raptor", "ops"]
    names = []
    for _ in range(n):
        syll = "".join(rng.choice(onsets) + rng.choice(vowels) for _ in range(rng.integers(1, 4)))
        names.append(syll + rng.choice(endings))
    return names


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("the shared data folder ../shared/data is not next to this checkout")
    return SHARED_DATA


@pytest.fixture()
def names_file(tmp_path: Path) -> Path:
    path = tmp_path / "names.txt"
    path.write_text("\n".join(make_names(300)) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint of a small GRU trained on synthetic names (a few seconds)."""
    out = tmp_path_factory.mktemp("ckpt") / "names"
    text = "\n".join(make_names(600, seed=1))
    corpus = make_corpus(text, mode="lines", lowercase=False, val_fraction=0.1, rng=np.random.default_rng(0))
    mcfg = ModelConfig("gru", corpus.vocab.size, hidden=48, embed=16)
    tcfg = TrainConfig(batch_size=32, lr=1e-2, steps=300, eval_every=100, warmup_steps=20)
    Trainer(corpus, mcfg, tcfg, out).run()
    return out


def make_styles(n: int, seed: int = 0) -> dict[str, list[str]]:
    """Two clearly different synthetic styles: 'bo' (b d g l + a o, ending -on/-an) and
    'ki' (k s t z + i e, ending -ki/-is)."""
    rng = np.random.default_rng(seed)
    spec = {"bo": ("bdgl", "ao", ["on", "an"]), "ki": ("kstz", "ie", ["ki", "is"])}
    out = {}
    for cat, (cons, vows, ends) in spec.items():
        out[cat] = ["".join(rng.choice(list(cons)) + rng.choice(list(vows)) for _ in range(rng.integers(1, 4)))
                    + rng.choice(ends) for _ in range(n)]
    return out


def write_styles(folder: Path, n: int = 300, seed: int = 0) -> Path:
    """A folder of category files (one per style), plus a hidden file that must be skipped."""
    folder.mkdir(parents=True, exist_ok=True)
    for cat, names in make_styles(n, seed).items():
        (folder / f"{cat}.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
    (folder / ".notes.txt").write_text("not a category\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def styled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint of a small GRU trained on two labelled styles, 2:1 (a few seconds)."""
    import charsmith

    root = tmp_path_factory.mktemp("styles")
    folder = write_styles(root / "data", n=300, seed=2)
    bo = (folder / "bo.txt").read_text().split()
    (folder / "bo.txt").write_text("\n".join(bo + make_styles(300, seed=3)["bo"]) + "\n")  # 600 bo, 300 ki
    charsmith.train(folder, root / "ckpt", cell="gru", hidden=48, embed=16, cat_embed=4, dropout=0.0,
                    weight_decay=0.0, batch_size=32, lr=1e-2, steps=400, eval_every=100, warmup_steps=20, seed=0,
                    mix_order=0)
    return root / "ckpt"


@pytest.fixture(scope="session")
def styled_mix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The network of ``styled`` trained again with ``mix_order`` 3: the same network, saved as
    its mixture with the n-gram model of its training items (charsmith.netmix)."""
    import charsmith

    root = tmp_path_factory.mktemp("styles_mix")
    folder = write_styles(root / "data", n=300, seed=2)
    bo = (folder / "bo.txt").read_text().split()
    (folder / "bo.txt").write_text("\n".join(bo + make_styles(300, seed=3)["bo"]) + "\n")
    charsmith.train(folder, root / "ckpt", cell="gru", hidden=48, embed=16, cat_embed=4, dropout=0.0,
                    weight_decay=0.0, batch_size=32, lr=1e-2, steps=400, eval_every=100, warmup_steps=20, seed=0,
                    mix_order=3)
    return root / "ckpt"


def known_only(m: charsmith.CharModel, scores: list) -> list:
    """``scores`` (of ``m.score``) under the known symbols alone, as generation and the exporters
    read the model: without the unknown class's (1 - u) share of every symbol (charsmith.openvocab)."""
    import dataclasses
    import math

    k = math.log1p(-m.ckpt.unknown)
    return [dataclasses.replace(s, logprob=s.logprob - s.n_chars * k) for s in scores]
