"""Hand-written recurrent cells, a sequence layer and the softmax cross-entropy loss.

Cells (:mod:`rnn`, :mod:`lstm`, :mod:`gru`) are pure one-timestep functions in NumPy;
:mod:`layer` composes them over a sequence; :mod:`loss` is the masked cross-entropy. What
takes the time (a layer's time loop, the big matmuls, the fused loss) goes through
:mod:`charsmith.backend`, which runs it compiled or in NumPy; its docstring describes the
interface and how to add a kernel.

Every cell module offers the same functions (its ``__all__``) in two layouts:

- batch-major (rows = batch): ``forward``/``backward``/``step``/``hidden_grads``, the
  reference form the tests check against finite differences and PyTorch;
- feature-major (every array transposed, (features, B), so each gate's block of rows is
  contiguous): ``prepare``/``forward_fm``/``backward_fm``/``hidden_grads_fm``/
  ``input_grads_fm``, which write into buffers the sequence layer preallocates per
  sequence (``cache_rows``, ``grad_rows``, ``SCRATCH`` size them): the NumPy backend's
  time loop calls them step by step, and the compiled kernels do the same maths.
"""

from charsmith.nn import gru, layer, loss, lstm, rnn

__all__ = ["rnn", "lstm", "gru", "layer", "loss"]
