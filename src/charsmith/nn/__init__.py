"""Hand-written recurrent cells, a sequence layer and the softmax cross-entropy loss.

Cells (:mod:`rnn`, :mod:`lstm`, :mod:`gru`) are pure one-timestep functions;
:mod:`layer` composes them over a sequence; :mod:`loss` is the masked cross-entropy.
"""

from charsmith.nn import gru, layer, loss, lstm, rnn

__all__ = ["rnn", "lstm", "gru", "layer", "loss"]
