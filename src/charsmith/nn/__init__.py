"""Hand-written recurrent cells, a sequence layer, the softmax cross-entropy loss, and
the optional compiled kernels.

Cells (:mod:`rnn`, :mod:`lstm`, :mod:`gru`) are pure one-timestep functions;
:mod:`layer` composes them over a sequence; :mod:`loss` is the masked cross-entropy;
:mod:`native` runs the same maths compiled (a layer's whole time loop per call) when a C
compiler is available, and the NumPy code here is both its fallback and its reference.

Every cell module offers the same functions (its ``__all__``) in two layouts:

- batch-major (rows = batch): ``forward``/``backward``/``step``/``hidden_grads``, the
  reference form the tests check against finite differences and PyTorch;
- feature-major (every array transposed, (features, B), so each gate's block of rows is
  contiguous): ``prepare``/``forward_fm``/``backward_fm``/``hidden_grads_fm``/
  ``input_grads_fm``, which write into buffers the sequence layer preallocates per
  sequence (``cache_rows``, ``grad_rows``, ``SCRATCH`` size them) — the NumPy time loop.
"""

from charsmith.nn import gru, layer, loss, lstm, native, rnn

__all__ = ["rnn", "lstm", "gru", "layer", "loss", "native"]
