"""The engine's fast paths, behind one interface, chosen once.

Everything that takes time in training and sampling goes through a :class:`Backend`:
``matmul``, ``recur_forward``/``recur_backward`` (a layer's whole time loop),
``cell_step`` (one sampling step), ``softmax_xent``, ``head_xent`` (the output layer and its
loss, fused), ``adam`` and ``scatter_cols``. The layers, the model, the loss and the
optimiser call :func:`current` and use what it returns; they hold no other path. Two
backends implement it:

- :class:`Reference`, NumPy only: the specification. The time loops call the cells'
  one-step maths (``charsmith.nn.rnn``/``gru``/``lstm``), which the tests check against
  finite differences and PyTorch.
- :class:`~charsmith.backend.compiled.Compiled`: the C kernels of ``kernels.c``, built by
  ``pip install`` (see ``_library``), on NumPy's own BLAS, split over a small thread pool.

:func:`default` is chosen once per process: the compiled kernels if they were built, load,
and the instruction set this CPU runs is found, else the reference (``CHARSMITH_NATIVE=0``
asks for it); :func:`status` says which and why. :func:`use` sets the backend of the code
inside a ``with`` block, for this thread (or asyncio task) only: a web server can run each
request's model work on one thread with ``use(current().with_threads(1))`` while a training
run elsewhere in the process keeps both cores. A backend object never changes; ``with_threads``
and ``Compiled.with_options`` return new ones.

Threads and reproducibility: a compiled call is cut into blocks set by the thread budget
(``with_threads``, ``--threads``, ``$CHARSMITH_THREADS``, else the usable cores) and the
sizes only. How many threads run the blocks is measured as the run goes (all of them, or the
caller alone while that is faster, e.g. when another process holds a core: see ``_pace``),
and never changes a result: the same inputs and budget give the same bits.

Adding a kernel: declare it as an abstract method of :class:`Backend` (``_interface.py``),
its shapes and maths in the docstring; write it in NumPy as a method of :class:`Reference`
(the specification); give ``Compiled`` the same method, at first as a call of the reference;
call it where it is needed as ``backend.current().name(...)``, and test it through both
backends (the tests' ``engine`` fixture) against finite differences or PyTorch as the other
kernels are. To compile it: write the C once in ``kernels_body.h`` in terms of ``real`` and
``SFX(name)`` (it is built for float and double and for each instruction set), splitting a
big call with ``run_split`` (blocks decide the sums, never the threads that run them);
declare its arguments in ``_library._declare``; in ``Compiled.name`` call it after
``self._ok("name")`` (which checks it once against the reference, on a problem you add to
``_check.py``), running the reference for whatever it does not handle; compare it with the
reference in tests/test_backend.py for awkward sizes, both dtypes and several thread budgets.
``pip install -e .`` rebuilds the library (a library built from other sources than those
beside it is refused).
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import warnings
from collections.abc import Iterator

from charsmith.backend import _library, _settings
from charsmith.backend._interface import Backend, Cell
from charsmith.backend.reference import Reference
from charsmith.errors import CharsmithWarning

__all__ = ["Backend", "Cell", "Reference", "current", "default", "reference", "status", "use"]

_REFERENCE = Reference()
_lock = threading.Lock()
_default: Backend | None = None
_current: contextvars.ContextVar[Backend | None] = contextvars.ContextVar("charsmith_backend", default=None)


def default() -> Backend:
    """The process's backend, chosen on first use (see the module's docstring)."""
    global _default
    if _default is None:
        with _lock:
            if _default is None:
                _default = _choose()
    return _default


def _choose() -> Backend:
    settings, problems = _settings.read(_library.VARIANTS)
    for problem in problems:
        warnings.warn(problem, CharsmithWarning, stacklevel=3)
    if settings.native in _settings.OFF_WORDS:
        return Reference(f"turned off by CHARSMITH_NATIVE={settings.native_raw}")
    loaded, why = _library.load()
    if loaded is None:
        return Reference(why)
    from charsmith.backend.compiled import Compiled, Kernels  # loads nothing until the library has

    isa = loaded.best
    if settings.isa in loaded.variants:
        isa = settings.isa
    elif settings.isa:
        warnings.warn(f"CHARSMITH_ISA={settings.isa} is not run by this CPU; using {isa}", CharsmithWarning,
                      stacklevel=3)
    threads = settings.threads or _settings.usable_cores()
    return Compiled(Kernels(loaded, threads), isa, threads, settings.tuning)


def current() -> Backend:
    """The backend of this context: the innermost :func:`use`, else :func:`default`."""
    chosen = _current.get()
    return chosen if chosen is not None else default()


@contextlib.contextmanager
def use(backend: Backend) -> Iterator[Backend]:
    """Inside the block, :func:`current` is ``backend`` for this thread (or task) only."""
    if not isinstance(backend, Backend):
        raise TypeError(f"use() takes a charsmith.backend.Backend, got {type(backend).__name__}")
    token = _current.set(backend)
    try:
        yield backend
    finally:
        _current.reset(token)


def reference() -> Reference:
    """The NumPy reference backend (``with use(reference()):`` runs NumPy only)."""
    return _REFERENCE


def status() -> str:
    """One line: the backend of this context, and for NumPy why the compiled kernels are not in use."""
    return current().status
