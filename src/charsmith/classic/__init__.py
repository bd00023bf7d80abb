"""The seed notebooks as a library: same functions, same arguments, same numbers.

* :mod:`~charsmith.classic.dinos` — Dinosaurus Island (notebook 001, helpers as 003):
  ``softmax``, ``smooth``, ``get_initial_loss``, ``initialize_parameters``,
  ``rnn_step_forward``, ``rnn_step_backward``, ``rnn_forward``, ``rnn_backward``,
  ``update_parameters``, ``clip``, ``sample``, ``optimize``, ``model``.
* :mod:`~charsmith.classic.minchar` — min-char-rnn (notebook 004): ``loss_fun``, ``sample``,
  ``train`` (Adagrad, or the notebook's SGD).
* :mod:`~charsmith.classic.batched` — the batched, padded one-hot RNN (notebook 002).
* :mod:`~charsmith.classic.gradcheck` — finite-difference gradient checks.
* :mod:`~charsmith.classic.bridge` — classic parameters to a charsmith checkpoint, and the
  modern engine trained the classic way.

Global RNG state: the notebooks seed and draw from the legacy global ``np.random`` API
(``np.random.seed(1)`` before the initial weights, ``np.random.seed(0)`` before the shuffle,
``np.random.seed(counter + seed)`` before each sampled character), and their printed
outputs depend on exactly that. ``charsmith.classic`` reproduces it on purpose: it is the
one allowed exception to charsmith's rule against touching global RNG state. Everything
else in charsmith uses explicit ``numpy.random.Generator`` objects.

``dinos.model`` and ``minchar.train`` print their progress as the notebooks' cells do: the one
place charsmith prints outside its CLI, since these functions are the cells. ``log=None``
silences them; ``log=lines.append`` collects the lines. docs/notebooks.md maps each notebook's
cells to these functions and to ``charsmith classic``.
"""

from charsmith.classic.dinos import (
    clip,
    get_initial_loss,
    initialize_parameters,
    model,
    optimize,
    rnn_backward,
    rnn_forward,
    rnn_step_backward,
    rnn_step_forward,
    sample,
    smooth,
    softmax,
    update_parameters,
)

__all__ = [
    "softmax", "smooth", "get_initial_loss", "initialize_parameters", "rnn_step_forward",
    "rnn_step_backward", "rnn_forward", "rnn_backward", "update_parameters", "clip", "sample",
    "optimize", "model",
]
