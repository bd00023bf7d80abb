"""The command line, driven through ``main(argv)``: the happy path and bad input."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import PACKAGE_ROOT, make_names

from charsmith.checkpoint import data_files, load_checkpoint
from charsmith.cli import main


def resume_step(run_dir: Path) -> int:
    """The step a run directory's resume state was saved at."""
    import numpy as np

    with np.load(run_dir / "resume.npz") as npz:
        return json.loads(npz["state"].tobytes())["step"]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "error:" in lines[0] and "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_train_sample_score_eval(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "names.txt"
    data.write_text("\n".join(make_names(500, seed=4)) + "\n")
    out = tmp_path / "run"
    code, stdout, stderr = run(["train", str(data), "--out", str(out), "--model", "gru", "--hidden", "32",
                                "--steps", "150", "--eval-every", "50", "--seed", "1"], capsys)
    assert code == 0, stderr
    assert "reached the step limit after 150 steps" in stdout and "lines mode" in stderr
    assert "engine: " in stderr  # compiled kernels and their threads, or NumPy and why
    assert "step 150/150" in stderr  # a report line per evaluation when not on a terminal

    code, stdout, _ = run(["sample", str(out), "-n", "7", "--seed", "3", "--prefix", "ba", "--max-len", "12"], capsys)
    samples = stdout.split()
    assert code == 0 and len(samples) == 7 and all(s.startswith("ba") and len(s) <= 12 for s in samples)
    code, again, _ = run(["sample", str(out), "-n", "7", "--seed", "3", "--prefix", "ba", "--max-len", "12"], capsys)
    assert again == stdout

    code, stdout, _ = run(["sample", str(out), "-n", "5", "--json", "--seed", "1", "--temperature", "0.7",
                           "--top-k", "5", "--top-p", "0.9", "--unique"], capsys)
    report = json.loads(stdout)
    assert len(report["samples"]) == 5 and report["model"]["model"]["cell"] == "gru"
    assert report["dropped_known"] >= 0 and report["drawn"] >= 5

    code, stdout, _ = run(["sample", str(out), "--beam", "4", "-n", "3", "--json"], capsys)
    beam = json.loads(stdout)
    assert len(beam["samples"]) == 3 and beam["logprobs"] == sorted(beam["logprobs"], reverse=True)

    code, stdout, _ = run(["score", str(out), "bakasaurus", "zzzzzz", "--json", "--sort", "--threads", "1"], capsys)
    scores = json.loads(stdout)["scores"]
    assert [s["item"] for s in scores] == ["bakasaurus", "zzzzzz"]
    assert scores[0]["n_chars"] == 11 and scores[0]["bits_per_char"] > 0

    held = tmp_path / "held.txt"
    held.write_text("\n".join(make_names(50, seed=9)))
    code, stdout, _ = run(["eval", str(out), str(held), "--json"], capsys)
    result = json.loads(stdout)
    assert code == 0 and 0 < result["loss"] < 2.9 and result["n_items"] == 50

    code, stdout, _ = run(["info", str(out)], capsys)
    assert code == 0 and "gru" in stdout


def test_text_mode_completes_a_prompt(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "play.txt"
    data.write_text("ROMEO: but soft, what light through yonder window breaks?\n" * 40)
    out = tmp_path / "bard"
    code, _, err = run(["train", str(data), "--mode", "text", "--out", str(out), "--model", "lstm", "--layers", "2",
                        "--hidden", "16", "--steps", "20", "--seq-len", "16", "--batch-size", "4", "--quiet"], capsys)
    assert code == 0 and err == ""
    code, stdout, _ = run(["sample", str(out), "--prefix", "ROMEO:", "--length", "30", "--seed", "0"], capsys)
    assert code == 0 and stdout.startswith("ROMEO:") and len(stdout.rstrip("\n")) >= 36


@pytest.fixture()
def ckpt(trained: Path) -> str:
    return str(trained)


BAD_FILES = {
    "empty.txt": b"",
    "blank.txt": b"\n\n   \n",
    "latin1.txt": b"anna\nj\xf6rg\n",
    "huge.txt": b"x" * 5000,
}


@pytest.mark.parametrize(
    "name, fragments",
    [
        ("empty.txt", ["empty or holds only blank lines"]),
        ("blank.txt", ["empty or holds only blank lines"]),
        ("latin1.txt", ["line 2 is not valid UTF-8"]),
        ("huge.txt", ["--mode text"]),
    ],
)
def test_bad_training_files(tmp_path: Path, capsys, name: str, fragments: list[str]) -> None:
    (tmp_path / name).write_bytes(BAD_FILES[name])
    args = ["train", str(tmp_path / name), "--out", str(tmp_path / "o")]
    if name == "huge.txt":
        args += ["--mode", "lines"]
    code, _, err = run(args, capsys)
    assert_one_line_error(code, err, *fragments)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "argv, fragments",
    [
        (["train", "{tmp}/missing.txt"], ["no such file"]),
        (["train", "{tmp}/empty"], ["holds no files", "one file of items per category"]),
        (["train", "{names}", "--model", "transformer"], ["invalid choice: 'transformer'"]),
        (["train", "{names}", "--hidden", "0"], ["--hidden must be a positive integer, got 0"]),  # the config's check
        (["train", "{names}", "--steps", "-5"], ["--steps", "must be > 0"]),
        (["train", "{names}", "--lr", "abc"], ["--lr", "expected a number"]),
        (["train", "{names}", "--out", "{tmp}/precious"], ["holds other files"]),
        (["train", "{names}", "--lr", "20", "--out", "{tmp}/o"], ["--lr must be in (0, 10.0], got 20.0"]),  # the config's check
        (["classic", "dinos", "{tmp}/missing.txt"], ["missing.txt: no such file"]),
        (["sample", "{ckpt}", "--temperature", "0"], ["--temperature", "must be a finite number > 0"]),
        (["sample", "{ckpt}", "--top-k", "-1"], ["--top-k", "must be a whole number >= 0"]),
        (["sample", "{ckpt}", "--top-p", "0"], ["--top-p", "must be a probability in (0, 1]"]),
        (["sample", "{ckpt}", "--top-p", "1.5"], ["--top-p", "must be a probability in (0, 1], got 1.5"]),
        (["sample", "{ckpt}", "--prefix", "Q7"], ["never saw: 'q', '7'"]),  # no capitals in the data: lower-cased
        (["sample", "{ckpt}", "--suffix", "do7"], ["--suffix has", "never saw: '7'"]),
        (["sample", "{ckpt}", "--contains", "ra", "--contains", "7"], ["--contains has", "never saw: '7'"]),
        (["sample", "{ckpt}", "--exclude", "7"], ["--exclude has", "never saw: '7'"]),
        (["sample", "{ckpt}", "--min-len", "9", "--max-len", "5"], ["minimum length 9 is above the maximum length 5"]),
        (["sample", "{ckpt}", "--prefix", "ba", "--max-len", "1"], ["start with 'ba'", "be 1 character long"]),
        (["sample", "{ckpt}", "--suffix", "raptor", "--max-len", "5", "--beam", "3"], ["end with 'raptor'"]),
        (["sample", "{ckpt}", "--pattern", "ba\\d+"], ["'\\d'", "not supported", "write [0-9]"]),
        (["sample", "{ckpt}", "--pattern", "[0-9]+"], ["no item can match the pattern", "never saw"]),
        (["sample", "{ckpt}", "--pattern", "ba(", "--greedy"], ["unclosed '('"]),
        (["sample", "{ckpt}", "--contains", ""], ["empty string"]),
        (["sample", "{ckpt}", "--particles", "0"], ["--particles", "must be a whole number >= 1"]),
        (["sample", "shakespeare", "--suffix", "a"], ["suffix applies to list items", "running text", "pattern"]),
        (["sample", "shakespeare", "--max-len", "9", "--length", "20"], ["max_len applies to list items"]),
        (["sample", "shakespeare", "--pattern", "[4-9]+", "--length", "20"], ["no completion can match"]),
        (["sample", "{tmp}/nothing"], ["no checkpoint at", "bundled models"]),
        (["sample", "{tmp}/precious"], ["not a charsmith checkpoint"]),
        (["score", "{ckpt}"], ["nothing to score"]),
        (["eval", "{ckpt}", "{tmp}/missing.txt"], ["no such file"]),
        (["score", "{ckpt}", "ba", "--threads", "-1"], ["--threads", "must be >= 0"]),
        (["frobnicate"], ["invalid choice"]),
        (["sample", "{ckpt}", "--suffix", "a", "--suffix", "b"], ["--suffix was given twice"]),
        (["train", "{names}", "--resume", "--force"], ["give one of them"]),
        (["sample", "{ckpt}", "--length", "20"], ["--length is for text models", "--max-len"]),
        (["sample", "{ckpt}", "--beam", "3", "--temperature", "0.5"], ["--beam takes the likeliest", "--temperature"]),
        (["sample", "shakespeare", "--beam", "2"], ["--beam searches list items", "--greedy"]),
        (["classic", "export", "{tmp}/missing.npz", "--out", "{tmp}/e"], ["missing.npz: no such file"]),
        (["sample", "{ckpt}", "--greedy", "--beam", "3"], ["--greedy is a beam of width 1"]),
        (["sample", "{ckpt}", "--temprature", "2"], ["unrecognized arguments: --temprature", "charsmith sample --help"]),
        (["train", "{names}", "--out", "{tmp}/n.txt/run", "--steps", "1"], ["n.txt/run", "Not a directory"]),
    ],
)
def test_bad_arguments(tmp_path: Path, ckpt: str, capsys, argv: list[str], fragments: list[str]) -> None:
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "notes.txt").write_text("keep me")
    (tmp_path / "empty").mkdir()
    names = tmp_path / "n.txt"
    names.write_text("anna\nbob\n")
    argv = [a.format(tmp=tmp_path, names=names, ckpt=ckpt) for a in argv]
    code, _, err = run(argv, capsys)
    assert_one_line_error(code, err, *fragments)
    assert (tmp_path / "precious" / "notes.txt").read_text() == "keep me"


def test_a_bug_shows_its_traceback(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Only the CharsmithError family and OSError are the user's errors: a ValueError or TypeError
    from inside charsmith is a bug, and is not dressed as a usage error."""
    from charsmith import api

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("an internal invariant broke")

    monkeypatch.setattr(api.CharModel, "score", broken)
    with pytest.raises(ValueError, match="an internal invariant broke"):
        main(["score", "dinosaurs", "rex"])
    assert "charsmith: error" not in capsys.readouterr().err
    code = ("import sys, charsmith.api as a\n"
            "def broken(*args, **kwargs): raise TypeError('an internal invariant broke')\n"
            "a.CharModel.score = broken\n"
            "from charsmith.cli import main\n"
            "sys.exit(main(['score', 'dinosaurs', 'rex']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": PACKAGE_ROOT})
    assert proc.returncode == 1 and "Traceback" in proc.stderr and "TypeError: an internal invariant broke" in proc.stderr
    assert "charsmith: error" not in proc.stderr


def test_corrupt_checkpoint(trained: Path, tmp_path: Path, capsys) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(trained, broken)
    weights = data_files(broken)["weights"]
    weights.write_bytes(weights.read_bytes()[:100])
    code, _, err = run(["sample", str(broken)], capsys)
    assert_one_line_error(code, err, "truncated")
    (broken / "config.json").write_text("{not json")
    code, _, err = run(["score", str(broken), "abc"], capsys)
    assert_one_line_error(code, err, "not valid JSON")


def test_existing_checkpoint_needs_resume_or_force(tmp_path: Path, capsys) -> None:
    data = tmp_path / "names.txt"
    data.write_text("\n".join(make_names(100)))
    base = ["train", str(data), "--out", str(tmp_path / "r"), "--steps", "4", "--eval-every", "2", "--hidden", "8",
            "--quiet"]
    assert run(base, capsys)[0] == 0
    code, _, err = run(base, capsys)
    assert_one_line_error(code, err, "--resume", "--force")
    assert run(base[:-1] + ["--steps", "6", "--resume", "--quiet"], capsys)[0] == 0
    assert resume_step(tmp_path / "r") == 6
    assert run(base + ["--force"], capsys)[0] == 0


def test_items_may_follow_options_and_short_results_say_why(ckpt: str, capsys) -> None:
    code, stdout, _ = run(["score", ckpt, "--sort", "bob", "ba", "--json"], capsys)
    assert code == 0 and {r["item"] for r in json.loads(stdout)["scores"]} == {"bob", "ba"}
    code, stdout, err = run(["sample", ckpt, "-n", "3", "--max-len", "40", "--seed", "1", "--allow-known"], capsys)
    assert code == 0 and "e+" not in err and "% of" in err  # an acceptance of 100% reads 100%, not 1e+02%
    code, stdout, err = run(["sample", ckpt, "-n", "3", "--top-k", "1", "--max-draws", "50"], capsys)
    assert code == 1 and "items of the data set or repeats" in err and "constraints" not in err


def test_without_held_out_items_the_training_loss_is_named_so(tmp_path: Path, capsys) -> None:
    data = tmp_path / "names.txt"
    data.write_text("\n".join(make_names(50)))
    code, stdout, _ = run(["train", str(data), "--out", str(tmp_path / "r"), "--steps", "2", "--hidden", "8",
                           "--val-fraction", "0", "--quiet"], capsys)
    assert code == 0 and "best training loss" in stdout and "validation" not in stdout and "after 2 steps" in stdout


def test_resume_continues_with_the_saved_options(tmp_path: Path, capsys) -> None:
    data = tmp_path / "names.txt"
    data.write_text("\n".join(make_names(100)))
    out = str(tmp_path / "r")
    first = ["train", str(data), "--out", out, "--steps", "4", "--eval-every", "2", "--hidden", "8", "--model", "rnn",
             "--layers", "1", "--lr", "0.02", "--seed", "3", "--quiet"]
    assert run(first, capsys)[0] == 0
    assert run(["train", str(data), "--out", out, "--resume", "--steps", "6", "--quiet"], capsys)[0] == 0
    assert resume_step(tmp_path / "r") == 6
    ckpt = load_checkpoint(tmp_path / "r")
    assert (ckpt.model.cell, ckpt.model.hidden, ckpt.train.lr, ckpt.train.seed) == ("rnn", 8, 0.02, 3)
    code, _, err = run(["train", str(data), "--out", out, "--resume", "--steps", "8", "--lr", "0.1"], capsys)
    assert_one_line_error(code, err, "used lr 0.02, not 0.1", "drop that option")
    code, _, err = run(["train", str(data), "--out", out, "--resume", "--steps", "8", "--hidden", "16"], capsys)
    assert_one_line_error(code, err, "used hidden 8, not 16")


def test_a_run_saved_before_ema_and_freeze_steps_resumes(tmp_path: Path, capsys) -> None:
    import zipfile

    data = tmp_path / "names.txt"
    data.write_text("\n".join(make_names(100)).lower())
    out = str(tmp_path / "r")
    assert run(["train", str(data), "--out", out, "--init", "dinosaurs", "--steps", "4", "--eval-every", "2",
                "--quiet"], capsys)[0] == 0
    with zipfile.ZipFile(tmp_path / "r" / "resume.npz") as z:  # the fields an older charsmith did not save
        arrays = {n[:-4]: np.load(z.open(n)) for n in z.namelist()}
    state = json.loads(arrays["state"].tobytes())
    assert state["train"]["freeze_steps"] > 0  # fine-tuning's default, which the old run did not have
    for field in ("ema", "freeze_steps"):
        del state["train"][field]
    arrays["state"] = np.frombuffer(json.dumps(state).encode(), dtype=np.uint8)
    np.savez(tmp_path / "r" / "resume.npz", **arrays)
    assert run(["train", str(data), "--out", out, "--resume", "--steps", "6", "--quiet"], capsys)[0] == 0
    assert resume_step(tmp_path / "r") == 6


def test_a_new_budget_on_resume_replaces_the_saved_one(tmp_path: Path, capsys) -> None:
    data = tmp_path / "names.txt"
    data.write_text("\n".join(make_names(100)))
    out = str(tmp_path / "r")
    assert run(["train", str(data), "--out", out, "--minutes", "0.002", "--hidden", "8", "--eval-every", "2",
                "--quiet"], capsys)[0] == 0
    first = resume_step(tmp_path / "r")
    code, stdout, _ = run(["train", str(data), "--out", out, "--resume", "--steps", str(first + 5), "--quiet"], capsys)
    assert code == 0 and "reached the step limit" in stdout and resume_step(tmp_path / "r") == first + 5


def test_help_for_every_command(capsys) -> None:
    for command in ["train", "sample", "score", "eval", "info"]:
        assert main([command, "--help"]) == 0
        assert "usage: charsmith " + command in capsys.readouterr().out


def test_module_entry_point() -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "charsmith", "--version"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": PACKAGE_ROOT})
    assert proc.returncode == 0 and proc.stdout.startswith("charsmith ")


def test_ctrl_c_saves_a_resumable_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import signal
    import subprocess
    import sys
    import time

    data = tmp_path / "names.txt"
    data.write_text("\n".join(make_names(300)))
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
    proc = subprocess.Popen([sys.executable, "-m", "charsmith", "train", str(data), "--out", str(out), "--minutes",
                             "5", "--eval-every", "5", "--hidden", "16"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while not (out / "resume.npz").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    command = shlex.join(["charsmith", "train", str(data), "--out", str(out), "--resume"])
    assert f"interrupted; `{command}` continues" in stdout and "Traceback" not in stderr
    step = resume_step(out)
    assert step >= 5
    resumed = main([*shlex.split(command)[1:], "--steps", str(step + 5)])  # the printed command, with a new budget
    assert resumed == 0 and resume_step(out) == step + 5
    assert f"resuming {out} at step {step:,} after 00:" in capsys.readouterr().err


def test_bench_measures_this_machine(capsys: pytest.CaptureFixture[str]) -> None:
    """`charsmith bench` needs nothing but the package: no checkout, no data files, no torch."""
    code = main(["bench", "--seconds", "0.05", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["threads"] >= 1 and isinstance(report["compiled"], bool)
    units = {r["unit"]: r for r in report["rows"]}
    assert set(units) == {"chars/s", "names/s"}
    for r in report["rows"]:  # measured, both sides (no speed claim here: the machine is shared)
        assert r["default"] > 0 and r["one_thread"] > 0 and r["ratio"] > 0
        assert r["spread"][0] <= r["ratio"] <= r["spread"][1]
    code = main(["bench", "--seconds", "0.05"])
    text = capsys.readouterr().out
    assert code == 0 and text.startswith("engine: ") and "one thread" in text and "names/s" in text


def test_sample_with_constraints(ckpt: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, err = run(["sample", ckpt, "-n", "20", "--seed", "1", "--suffix", "on", "--contains", "a",
                             "--exclude", "z", "--min-len", "6", "--max-len", "9", "--allow-known"], capsys)
    items = stdout.split()
    assert code == 0 and len(items) == 20, err
    assert all(s.endswith("on") and "a" in s and "z" not in s and 6 <= len(s) <= 9 for s in items)
    assert "plain draws met the constraints" in err
    code, stdout, _ = run(["sample", ckpt, "-n", "5", "--seed", "1", "--pattern", "[bd][aeiou].*s", "--json"], capsys)
    report = json.loads(stdout)
    assert code == 0 and len(report["samples"]) == 5 and report["method"] in ("rejection", "smc")
    assert all(s[0] in "bd" and s[1] in "aeiou" and s.endswith("s") for s in report["samples"])
    code, stdout, _ = run(["sample", ckpt, "-n", "3", "--beam", "8", "--suffix", "ops", "--json"], capsys)
    assert code == 0 and all(s.endswith("ops") for s in json.loads(stdout)["samples"])


def test_nearly_impossible_constraints_say_how_many_were_found(ckpt: str, capsys) -> None:
    code, stdout, err = run(["sample", ckpt, "--suffix", "zzz", "--top-k", "1", "--max-draws", "2000"], capsys)
    assert code == 1 and stdout.strip() == ""  # fewer items than asked for: exit 1
    import re

    effort = re.search(r"found 0 of the 10 items asked for after ([\d,]+) draws and particles", err)
    assert effort and int(effort.group(1).replace(",", "")) <= 2000 and "Traceback" not in err


def test_text_pattern(capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, _ = run(["sample", "shakespeare", "--prefix", "ROMEO:\nI will", "--length", "40", "--seed", "0",
                           "--pattern", " [a-z]+ [a-z]+,"], capsys)
    assert code == 0
    import re

    assert re.match(r"ROMEO:\nI will [a-z]+ [a-z]+,", stdout), stdout


def test_text_previews_print_as_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "play.txt"
    data.write_text("ROMEO: but soft, what light\nthrough yonder window breaks?\n" * 40)
    assert main(["train", str(data), "--mode", "text", "--out", str(tmp_path / "bard"), "--hidden", "16",
                 "--steps", "10", "--eval-every", "5", "--seq-len", "16", "--batch-size", "4"]) == 0
    err = capsys.readouterr().err
    report = err.split("step 5/10", 1)[1]
    preview = report.split("\n", 1)[1].split("step 10/10", 1)[0]
    assert "\\n" not in err and "'" not in preview  # no Python reprs
    assert all(line.startswith("    ") for line in preview.splitlines()), preview
