"""The web page and JSON API behind ``charsmith serve``: a thin layer over CharModel.

Needs the web extra (Starlette and uvicorn): ``pip install "charsmith[web]"``.

    from charsmith.web import Limits, Models, create_app
    app = create_app(Models.load(["runs/names"]), Limits(max_n=50))   # any ASGI server runs it

The routes are in :mod:`.app`, the request rules in :mod:`.schema`, what each model
offers in :mod:`.models`, the per-request limits in :mod:`.limits`; the page itself
(hand-written HTML, CSS and JavaScript, no build step) is in ``static/``.
"""

from __future__ import annotations

INSTALL_HINT = 'pip install "charsmith[web]"  (in a checkout: pip install -e ".[web]")'

try:
    import starlette  # noqa: F401
    import uvicorn  # noqa: F401
except ModuleNotFoundError as e:
    raise ModuleNotFoundError(f"the web page needs the web extra ({e.name} is missing): {INSTALL_HINT}",
                              name=e.name) from None

from charsmith.web.app import create_app  # noqa: E402
from charsmith.web.limits import Limits  # noqa: E402
from charsmith.web.models import Models  # noqa: E402

__all__ = ["Limits", "Models", "create_app"]
