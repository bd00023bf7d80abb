"""charsmith.classic.dinos.model as the notebooks call it: it prints its progress like the
notebook's cell (log=None silences it), and it takes the course's newer signature (a list of
names, verbose=) without changing the seed signature's numbers."""

from __future__ import annotations

import numpy as np

from charsmith.classic import dinos

NAMES = ["aachenosaurus", "aardonyx", "abdallahsaurus", "abelisaurus", "abrictosaurus", "abrosaurus"]
CHAR_TO_IX = {ch: i for i, ch in enumerate("\nabcdefghijklmnopqrstuvwxyz")}
IX_TO_CHAR = {i: ch for ch, i in CHAR_TO_IX.items()}


def _train(data, **kw):
    np.random.seed(1)  # as the notebook, before initialize_parameters
    return dinos.model(data, IX_TO_CHAR, CHAR_TO_IX, num_iterations=40, n_a=8, dino_names=3, **kw)


def test_model_prints_progress_like_the_notebook_by_default(capsys):
    lines: list[str] = []
    _train("\n".join(NAMES) + "\n", log=lines.append)
    _train("\n".join(NAMES) + "\n")
    printed = capsys.readouterr().out
    assert printed.startswith("Iteration: 0, Loss: ")
    assert printed == "".join(line + "\n" for line in lines)
    assert len(lines) == 1 + 3 + 1  # header, dino_names names, blank block


def test_log_none_is_silent(capsys):
    _train("\n".join(NAMES) + "\n", log=None)
    assert capsys.readouterr().out == ""


def test_newer_signature_list_and_verbose_same_numbers_as_the_seed_signature(capsys):
    old = _train("\n".join(NAMES) + "\n", log=None)
    params, last_name = _train(list(NAMES), verbose=True)
    for k in old:
        np.testing.assert_array_equal(old[k], params[k])
    printed = capsys.readouterr().out
    assert "j =  0 idx =  0" in printed and "j =  5 idx =  5" in printed and "j =  6 idx =  0" in printed
    assert "single_example_ix" in printed
    names = [ln for ln in printed.splitlines() if ln and not ln.startswith(("Iteration", "j =", "single", " X", " Y"))]
    assert last_name == names[-1]
    assert isinstance(last_name, str) and last_name
