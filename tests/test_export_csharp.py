"""The csharp export, compiled with Mono's mcs (as C# 4, warnings as errors) and run with mono.

Each bundled model is exported once and driven by one program run (tests/csharp_harness.cs)
that does all of that model's work: scores 1,000 items (compared with ``charsmith score`` to
1e-5 nats/char), seeded samples (compared item for item with the specification's loop in
Python, ``charsmith.export.onnx_sampler`` over charsmith's own float64 step), samples under
prefix and length bounds and under a category or blend, and draws whose lengths and first
letters must match charsmith's sampler within the noise of the sample sizes (20,000 C# draws
on dinosaurs, 5,000 on the larger languages GRU, which Mono runs at a few hundred names/s;
with a negative control that must fail the same bound). Every seeded item equals the
specification's, so the distribution follows on the other models too.
"""

from __future__ import annotations

import base64
import dataclasses
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import known_only
from export_spec import NumpyStep, shape_tvs

import charsmith
from charsmith.api import CharModel
from charsmith.errors import InputError
from charsmith.export import csharp, onnx_sampler
from charsmith.export._spec import KNOWN_INFO_KEY

MCS, MONO = shutil.which("mcs"), shutil.which("mono")
HARNESS = Path(__file__).with_name("csharp_harness.cs")
DRAWS = {"dinosaurs": 20_000, "languages": 5_000}  # the distribution tests' C# draws (Mono is slow on the larger GRU)
SEEDED_N = 100  # seeded items compared with the specification's loop, per setting
LINES = ("dinosaurs", "names", "languages")
CATEGORY, OTHER, BLEND = "Japanese", "Russian", "Japanese=0.7,Italian=0.3"


def need_mono() -> None:
    if not (MCS and MONO):
        pytest.skip("Mono is not installed (mcs and mono): apt-get install mono-mcs mono-runtime, as .ci/run does")


def build(model: CharModel, folder: Path, **options: object) -> tuple[Path, list[Path]]:
    """Export ``model`` as Generator.cs in ``folder`` and compile it with the harness."""
    folder.mkdir(parents=True, exist_ok=True)
    files = csharp.write(model, folder / "Generator.cs", **options)  # type: ignore[arg-type]
    exe = folder / "harness.exe"
    r = subprocess.run([str(MCS), "-langversion:4", "-optimize+", "-warnaserror+", f"-out:{exe}",
                        str(folder / "Generator.cs"), str(HARNESS)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return exe, files


class Harness:
    """Commands for one run of the harness; ``run`` returns each command's output lines."""

    def __init__(self, exe: Path) -> None:
        self.exe, self.folder = exe, exe.parent
        self.commands: list[str] = []

    def _out(self) -> str:
        return str(self.folder / f"out{len(self.commands)}.txt")

    def score(self, items: list[str], category: str | None = None) -> int:
        src = self.folder / f"items{len(self.commands)}.txt"
        src.write_text("\n".join(items) + "\n", encoding="utf-8")
        self.commands.append(f"score\t{category or ''}\t{src}\t{self._out()}")
        return len(self.commands) - 1

    def sample(self, n: int, *, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, prefix: str = "",
               min_len: int = 1, max_len: int = 50, category: str | None = None, seed: int = 1,
               skip_known: bool = True, unique: bool = False) -> int:
        self.commands.append(f"sample\t{n}\t{temperature!r}\t{top_k}\t{top_p!r}\t{prefix}\t{min_len}\t{max_len}\t"
                             f"{category or ''}\t{seed}\t{int(skip_known)}\t{int(unique)}\t{self._out()}")
        return len(self.commands) - 1

    def complete(self, prompt: str, length: int, *, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                 seed: int = 1) -> int:
        self.commands.append(f"complete\t{prompt}\t{length}\t{temperature!r}\t{top_k}\t{top_p!r}\t{seed}\t{self._out()}")
        return len(self.commands) - 1

    def hash(self, items: list[str]) -> int:
        src = self.folder / f"items{len(self.commands)}.txt"
        src.write_text("\n".join(items) + "\n", encoding="utf-8")
        self.commands.append(f"hash\t{src}\t{self._out()}")
        return len(self.commands) - 1

    def run(self, *extra: str) -> list[list[str]]:
        script = self.folder / "commands.txt"
        script.write_text("\n".join(self.commands) + "\n", encoding="utf-8")
        r = subprocess.run([str(MONO), str(self.exe), str(script), *extra], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-2000:]
        return [(self.folder / f"out{i}.txt").read_text(encoding="utf-8").splitlines()
                for i in range(len(self.commands))]


def items_for(m: CharModel, n: int = 1000) -> list[str]:
    """n items to score: charsmith's own samples (list models), or 1-8 character stretches of
    its text (text models: short, to keep the run quick), plus a few unlikely ones."""
    if m.mode == "text":
        text = m.complete("", 4000, seed=0)[0].replace("\n", " ")  # one item per line in the harness's file
        rng = np.random.default_rng(0)
        starts, lengths = rng.integers(0, len(text) - 8, n), rng.integers(1, 9, n)
        return [text[s : s + k] for s, k in zip(starts, lengths)]
    odd = ["zzzzqx", "a", "xylophonosaurus"] if m.lowercase else ["Zzyzx", "A", "Öztürk"]
    odd = [s for s in odd if not m.ckpt.vocab.unknown(m._text(s))]
    return odd + m.sample(n - len(odd), seed=0, allow_known=True, max_len=30).samples


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], dict]:
    """name -> that model's results (one export, one compile, one run), computed once."""
    need_mono()
    cache: dict[str, dict] = {}

    def get(name: str) -> dict:
        if name not in cache:
            cache[name] = _run_model(name, tmp_path_factory.mktemp(name))
        return cache[name]

    return get


def _run_model(name: str, folder: Path) -> dict:
    m = charsmith.load(name)
    exe, _ = build(m, folder)
    h = Harness(exe)
    cat = CATEGORY if m.categories else None
    res: dict = {"model": m, "items": items_for(m)}
    keys = {"score": h.score(res["items"], cat)}
    if m.categories:
        res["few"] = res["items"][:50]
        keys["mixture"] = h.score(res["few"])
        keys["blend"] = h.score(res["few"], BLEND)
    if m.mode == "text":
        for i, opts in enumerate(SEEDED_TEXT):
            keys[f"complete{i}"] = h.complete("ROMEO:", 300, seed=2 + i, **opts)  # type: ignore[arg-type]
    else:
        keys["bounds"] = h.sample(300, prefix=PREFIX[name], min_len=5, max_len=8, seed=3, category=cat)
        for i, opts in enumerate(SEEDED):
            keys[f"seeded{i}"] = h.sample(SEEDED_N, seed=11 + i, category=cat, **opts)  # type: ignore[arg-type]
        keys["again"] = h.sample(SEEDED_N, seed=11, category=cat, **SEEDED[0])  # type: ignore[arg-type]
        if name in DRAWS:
            keys["draws"] = h.sample(DRAWS[name], seed=5, category=cat, skip_known=False)
        if m.categories:
            keys["blended"] = h.sample(DRAWS[name], seed=7, category=BLEND, skip_known=False)
    out = h.run()
    res.update({k: out[i] for k, i in keys.items()})
    return res


PREFIX = {"dinosaurs": "ca", "names": "ma", "languages": "Ka"}
SEEDED = [{}, {"temperature": 0.7, "top_k": 5}, {"temperature": 1.3, "top_p": 0.8}]
SEEDED_TEXT = [{"temperature": 0.8}, {"top_k": 3, "top_p": 0.9}]


@pytest.mark.parametrize("name", [*LINES, "shakespeare"])
def test_log_probs_match_charsmith_score(runs: Callable[[str], dict], name: str) -> None:
    res = runs(name)
    m, items = res["model"], res["items"]
    assert len(items) == 1000
    cat = CATEGORY if m.categories else None
    ref = known_only(m, m.score(items, category=cat))
    got = np.array([float(x) for x in res["score"]])
    per_char = np.abs(got - [s.logprob for s in ref]) / [s.n_chars for s in ref]
    assert per_char.max() < 1e-5, (items[int(per_char.argmax())], per_char.max())
    if m.categories:  # under the mixture of all categories, and under a blend
        for key, category in (("mixture", None), ("blend", BLEND)):
            ref = known_only(m, m.score(res["few"], category=category))
            got = np.array([float(x) for x in res[key]])
            assert (np.abs(got - [s.logprob for s in ref]) / [s.n_chars for s in ref]).max() < 1e-5, key


@pytest.mark.parametrize("name", LINES)
def test_seeded_samples_match_the_specification_loop(runs: Callable[[str], dict], name: str) -> None:
    """Item for item the same as the specification's Python loop (over charsmith's float64
    step), with top-k, top-p and temperature; the same seed gives the same items."""
    res = runs(name)
    m = res["model"]
    ref = NumpyStep(m)
    cat = CATEGORY if m.categories else None
    for i, opts in enumerate(SEEDED):
        got = res[f"seeded{i}"]
        assert len(got) == SEEDED_N
        assert got == onnx_sampler.sample(ref, SEEDED_N, seed=11 + i, category=cat, **opts), opts  # type: ignore[arg-type]
    assert res["again"] == res["seeded0"]
    assert res["seeded1"] != res["seeded0"]


def test_text_completions_match_the_specification_loop(runs: Callable[[str], dict]) -> None:
    res = runs("shakespeare")
    ref = NumpyStep(res["model"])
    for i, opts in enumerate(SEEDED_TEXT):
        (got,) = res[f"complete{i}"]
        text = got.replace("\\n", "\n")
        assert text.startswith("ROMEO:") and len(text) == len("ROMEO:") + 300
        assert text == onnx_sampler.complete(ref, "ROMEO:", 300, seed=2 + i, **opts)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", LINES)
def test_prefix_and_length_bounds_are_honoured(runs: Callable[[str], dict], name: str) -> None:
    got = runs(name)["bounds"]
    assert len(got) == 300
    assert all(s.startswith(PREFIX[name]) and 5 <= len(s) <= 8 for s in got)
    assert len(set(map(len, got))) == 4  # every allowed length occurs: bounds by rejection, not truncation


@pytest.mark.parametrize("name", DRAWS)
def test_samples_follow_charsmiths_distribution(runs: Callable[[str], dict], name: str) -> None:
    """Lengths and first letters of the C# draws (20,000 on dinosaurs) against 20,000 of
    charsmith's sampler: total variation within the noise bound of two such samples
    (export_spec.tv_bound, mean + 5 sd). Negative control: charsmith's draws at temperature 0.8,
    a sampler a little off, are outside the same bound (at 0.85, 5,000 draws of the rebuilt
    ``languages`` fell inside it for some seeds)."""
    res = runs(name)
    m = res["model"]
    cat = CATEGORY if m.categories else None
    ref = m.sample(20_000, seed=0, allow_known=True, category=cat).samples
    assert len(res["draws"]) == DRAWS[name]
    for what, (tv, bound) in shape_tvs(res["draws"], ref).items():
        assert tv < bound, (what, tv, bound)
    off = m.sample(DRAWS[name], seed=1, allow_known=True, category=cat, temperature=0.8).samples
    controls = shape_tvs(off, ref)
    assert any(tv > bound for tv, bound in controls.values()), controls


def test_a_category_and_a_blend_are_honoured(runs: Callable[[str], dict]) -> None:
    """C# draws in Japanese match charsmith's Japanese and not its Russian; a blend matches
    charsmith's blend and neither of its parts."""
    res = runs("languages")
    m = res["model"]
    japanese = m.sample(20_000, seed=1, allow_known=True, category=CATEGORY).samples
    russian = m.sample(5_000, seed=2, allow_known=True, category=OTHER).samples
    blend = m.sample(20_000, seed=3, allow_known=True, category=BLEND).samples
    assert all(tv < bound for tv, bound in shape_tvs(res["draws"], japanese).values())
    assert all(tv > bound for tv, bound in shape_tvs(res["draws"], russian).values())
    assert all(tv < bound for tv, bound in shape_tvs(res["blended"], blend).values())
    assert any(tv > bound for tv, bound in shape_tvs(res["blended"], japanese).values())


def test_known_items_are_skipped_and_hashes_agree(tmp_path: Path) -> None:
    """With known hashes shipped (here: of the first 300 items seed 4 gives), Sample(skipKnown)
    returns the unfiltered stream of the same seed without the known items, and only that (and
    with unique, without its repeats); the C#
    FNV-1a hash of UTF-8 equals the Python one on non-ASCII items."""
    need_mono()
    m = charsmith.load("dinosaurs")
    first = onnx_sampler.sample(NumpyStep(m), 300, seed=4)
    known = {onnx_sampler.fnv1a(s) for s in first}
    exe, _ = build(m, tmp_path, known_hashes=np.array(sorted(known)))
    h = Harness(exe)
    stream, skip = h.sample(2000, seed=4, skip_known=False), h.sample(1000, seed=4)
    once = h.sample(1000, seed=4, skip_known=False, unique=True)
    odd = ["Öztürk", "Świątek", "Nguyễn", "🦕saurus", ""]
    hashed = h.hash(odd)
    out = h.run()
    assert out[stream][:300] == first
    assert out[skip] == [s for s in out[stream] if onnx_sampler.fnv1a(s) not in known][:1000]
    assert out[once] == list(dict.fromkeys(out[stream]))[:1000] and len(set(out[stream])) < 2000  # unique: no repeats
    assert [int(x) for x in out[hashed]] == [onnx_sampler.fnv1a(s) for s in odd]


def test_float16_weights_score_as_the_rounded_model(tmp_path: Path) -> None:
    """dtype float16: the class reads half floats exactly (scores equal charsmith's on the
    weights rounded to float16), and the file's weights are half the size."""
    need_mono()
    m = charsmith.load("dinosaurs")
    exe, _ = build(m, tmp_path, dtype="float16")
    items = items_for(m, 300)
    h = Harness(exe)
    key = h.score(items)
    got = np.array([float(x) for x in h.run()[key]])
    rounded = {k: v.astype(np.float16).astype(np.float32) for k, v in m.ckpt.params.items()}
    half = CharModel(dataclasses.replace(m.ckpt, params=rounded))
    ref = known_only(half, half.score(items))
    assert (np.abs(got - [s.logprob for s in ref]) / [s.n_chars for s in ref]).max() < 1e-5
    assert len(csharp.weight_bytes(m, "float16")) * 2 == len(csharp.weight_bytes(m, "float32"))


def test_weights_beside_the_file_above_the_embed_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Above EMBED_LIMIT the weights go to Generator.bytes: the class loads them from bytes, and
    its parameterless constructor says where they are."""
    need_mono()
    monkeypatch.setattr(csharp, "EMBED_LIMIT", 1000)
    m = charsmith.load("dinosaurs")
    exe, files = build(m, tmp_path)
    assert [f.name for f in files] == ["Generator.bytes", "Generator.cs"]
    assert files[0].read_bytes() == csharp.weight_bytes(m, "float32")
    assert files[1].stat().st_size < 30_000  # the source alone
    h = Harness(exe)
    key = h.sample(5, seed=1)
    assert h.run(str(files[0]))[key] == onnx_sampler.sample(NumpyStep(m), 5, seed=1)
    r = subprocess.run([str(MONO), str(exe), str(tmp_path / "commands.txt")], capture_output=True, text=True)
    assert r.returncode != 0 and "weights are in the file Generator.bytes beside it" in r.stderr


def test_bad_calls_are_refused_with_a_reason(tmp_path: Path) -> None:
    need_mono()
    exe, _ = build(charsmith.load("shakespeare"), tmp_path)
    for command, message in [("sample\t5\t1.0\t0\t1.0\t\t1\t50\t\t1\t1\t{out}", "learned running text; use Complete()"),
                             ("complete\tROMEO\u00a7\t5\t1.0\t0\t1.0\t1\t{out}", "is not a character this model knows"),
                             ("complete\tA\t5\t0\t0\t1.0\t1\t{out}", "temperature must be a finite number > 0")]:
        (tmp_path / "c.txt").write_text(command.format(out=tmp_path / "o.txt") + "\n", encoding="utf-8")
        r = subprocess.run([str(MONO), str(exe), str(tmp_path / "c.txt")], capture_output=True, text=True)
        assert r.returncode != 0 and message in r.stderr, r.stderr[-500:]


def test_check_refuses_what_csharp_cannot_express_and_names_the_class() -> None:
    m = charsmith.load("dinosaurs")
    csharp.check(m)
    with pytest.raises(InputError, match="`dtype` must be one of float32, float16"):
        csharp.weight_bytes(m, "float64")
    assert [csharp.class_name(Path(p)) for p in ("dinosaurs.cs", "dino-names.cs", "3d_names.cs", "_.cs")] == [
        "Dinosaurs", "DinoNames", "Model3dNames", "Model"]


def test_known_hashes_come_from_the_items_given_to_the_export(tmp_path: Path) -> None:
    """known=True ships the hashes charsmith.export.with_known_items left on the model; without
    them the export refuses (a checkpoint keeps only 64-bit hashes) and writes nothing."""
    m = charsmith.load("dinosaurs")
    with pytest.raises(InputError, match=r"`?known`? needs the training items"):
        csharp.export(m, tmp_path / "Dinos.cs", known=True)
    assert not list(tmp_path.iterdir())
    hashes = np.array([9, 3, 5], dtype=np.uint32)
    given = CharModel(dataclasses.replace(m.ckpt, info={**m.ckpt.info, KNOWN_INFO_KEY: hashes}))
    (written,) = csharp.export(given, tmp_path / "Dinos.cs", known=True)
    sorted_le = base64.b64encode(np.array([3, 5, 9], dtype="<u4").tobytes()).decode("ascii")
    assert f'KnownBase64 = "{sorted_le}"' in written.read_text(encoding="utf-8")
    assert csharp.outputs(tmp_path / "dino-names.cs") == [tmp_path / "dino-names.cs", tmp_path / "DinoNames.bytes"]


@pytest.mark.parametrize("name", LINES)
def test_seeded_samples_equal_the_python_reference_of_the_spec(runs: Callable[[str], dict], name: str) -> None:
    """The C# class and charsmith.export._spec.Generator (the reference the JS export is checked
    against) write the same items for the same seed and settings: identical across targets."""
    from charsmith.export._spec import Generator  # noqa: PLC0415

    res = runs(name)
    m = res["model"]
    ref = Generator(m)
    cat = CATEGORY if m.categories else None
    for i, opts in enumerate(SEEDED):
        want = ref.sample(SEEDED_N, seed=11 + i, category=cat, **opts)  # type: ignore[arg-type]
        assert res[f"seeded{i}"] == want, opts
