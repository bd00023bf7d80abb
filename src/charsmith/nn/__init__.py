"""Hand-written recurrent cells, a sequence layer and the softmax cross-entropy loss.

Cells (:mod:`rnn`, :mod:`lstm`, :mod:`gru`) are pure one-timestep functions in NumPy;
:mod:`layer` composes them over a sequence; :mod:`loss` is the masked cross-entropy. What
takes the time goes through one interface, :class:`charsmith.backend.Backend`, chosen once
per process and set per thread with ``backend.use``: ``matmul``, ``recur_forward`` and
``recur_backward`` (a layer's whole time loop), ``cell_step`` (one sampling step),
``softmax_xent``, ``head_xent`` (output layer and loss, fused), ``adam`` and ``scatter_cols``.
The code here calls ``backend.current().name(...)`` and nothing else: ``Reference`` runs it in
NumPy (the specification), ``Compiled`` in the C kernels.

Adding a kernel: declare it as an abstract method of ``Backend`` (``backend/_interface.py``)
with its shapes and maths in the docstring; write the NumPy version in ``Reference``; call it
as ``backend.current().name(...)``; give ``Compiled`` the method (at first a call of the
reference). To compile it, write the C in ``backend/kernels_body.h`` with ``real`` and
``SFX(name)``, declare it in ``backend/_library._declare``, call it from ``Compiled.name``, add
a small problem to ``backend/_check.py`` and compare it with the reference in
``tests/test_backend.py`` for awkward sizes, both dtypes and several thread counts;
``pip install -e .`` rebuilds. The backend's docstring has the details.

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
