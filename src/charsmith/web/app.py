"""The routes: the page, its static files, and the JSON API over CharModel.

    GET  /               the page                 POST /api/score     items' bits/char, per character
    GET  /api/models     the models and limits    POST /api/complete  a text's continuation, streamed
    POST /api/sample     new items with bits/char and novelty
    POST /api/classify   P(category | item), for models with categories
    POST /api/train      train on a pasted list  GET  /api/train/<id>  its progress (charsmith.web._training)

Model work runs on a pool of ``Limits.workers`` threads, never on the event loop, so a
slow request does not hold up the others; requests beyond that wait their turn. Mistakes get a 4xx with a
JSON body ``{"error": message}`` (and ``"limit"`` when a limit was the reason).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from charsmith import __version__
from charsmith._deadline import Deadline, stop_on
from charsmith._rating import rate, sample_rated
from charsmith.api import CharModel
from charsmith.errors import CharsmithError, TimeLimitError
from charsmith.request import Generate
from charsmith.web._schema import CLASSIFY, COMPLETE, SAMPLE, SCORE, TRAIN, RequestError, parse, parse_body
from charsmith.web._server import check_origin
from charsmith.web._streaming import TextStream
from charsmith.web._training import Trainings
from charsmith.web.limits import LimitError, Limits
from charsmith.web.models import Models, UnknownModel

__all__ = ["create_app"]

STATIC = Path(__file__).with_name("static")
# The page loads nothing from anywhere else (it works offline) and may not be framed.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
    "Cache-Control": "no-cache",
}
log = logging.getLogger("charsmith.web")
POLL_SECONDS = 0.25  # how often a computing request checks that its client is still there
T = TypeVar("T")


def create_app(models: Models | None = None, limits: Limits | None = None, *,
               allowed_hosts: Sequence[str] | None = None, cors: Sequence[str] = ()) -> Starlette:  # fmt: skip
    """The ASGI app serving ``models`` (default: the bundled ones) within ``limits``.
    ``allowed_hosts`` restricts the Host header (against DNS rebinding of a local server).
    ``cors``: the origins (``https://game.example``) whose pages may call the API from a
    browser; none by default, and ``*`` only when given."""
    api = _Api(models if models is not None else Models.load(), limits or Limits())
    routes = [
        Route("/", api.page),
        Route("/api/models", api.list_models),
        Route("/api/sample", api.sample, methods=["POST"]),
        Route("/api/score", api.score, methods=["POST"]),
        Route("/api/complete", api.complete, methods=["POST"]),
        Route("/api/classify", api.classify, methods=["POST"]),
        Route("/api/train", api.train, methods=["POST"]),
        Route("/api/train/{job}", api.train_status),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [Middleware(_HostCheck, allowed=frozenset(allowed_hosts))] if allowed_hosts else []
    if cors:
        middleware.insert(0, Middleware(CORSMiddleware, allow_origins=[check_origin(o) for o in cors],
                                        allow_methods=["GET", "POST"], allow_headers=["Content-Type"]))
    handlers: dict[Any, Callable[..., Any]] = {
        RequestError: lambda _, e: _error(e.status, e.message, e.limit, e.param),
        LimitError: lambda _, e: _error(422, str(e), e.limit),
        UnknownModel: lambda _, e: _error(404, str(e), param="model"),
        TimeLimitError: lambda _, e: api.stopped(),
        CharsmithError: _library_error,
        HTTPException: lambda _, e: _error(e.status_code, str(e.detail)),
        Exception: _internal_error,
    }
    app = Starlette(routes=routes, middleware=middleware, exception_handlers=handlers, lifespan=api.lifespan)
    app.state.stopping = api.stopping  # the server sets it on SIGTERM/SIGINT: running work stops at once
    return app


def _error(status: int, message: str, limit: str | None = None, param: str | None = None) -> JSONResponse:
    extra = {**({"limit": limit} if limit else {}), **({"param": param} if param else {})}
    return JSONResponse({"error": message, **extra}, status_code=status)


FIELDS = {"/api/complete": {"prefix": "prompt"}}  # library parameters under another JSON name, per endpoint


def _library_error(request: Request, e: CharsmithError) -> JSONResponse:
    """A 422 naming the request's JSON fields where the library names its parameters."""
    names = FIELDS.get(request.url.path, {})

    def field(param: str, value: str | None) -> str:
        name = repr(names.get(param, param))
        return name if value is None else f"{name}: {json.dumps(value)}"

    return _error(422, e.render(field), param=None if e.param is None else names.get(e.param, e.param))


class _HostCheck:
    """Answer only requests whose Host header names one of ``allowed`` (port aside); others
    get a JSON 400 like every other refusal."""

    def __init__(self, app: Any, allowed: frozenset[str]) -> None:
        self.app, self.allowed = app, allowed

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        host = Headers(scope=scope).get("host", "").rsplit(":", 1)[0] if scope["type"] == "http" else None
        if host is not None and host not in self.allowed:
            served = " or ".join(sorted(self.allowed))
            await _error(400, f"this server answers to {served}, not {host!r}; open it by that name")(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("error serving %s %s", request.method, request.url.path, exc_info=exc)
    return _error(500, "internal error; the server's log has the details")


class _Api:
    def __init__(self, models: Models, limits: Limits) -> None:
        self.models, self.limits = models, limits
        self.trainings = Trainings(models, limits)
        self._pool: ThreadPoolExecutor | None = None
        self.stopping = threading.Event()  # set when the server shuts down: all work stops at its next check

    @property
    def pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.limits.workers, thread_name_prefix="charsmith-web")
        return self._pool

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            self.stopping.set()
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
            self.trainings.close()

    def stopped(self) -> JSONResponse:
        """The answer to work stopped early: by the time limit, or as the server shuts down."""
        if self.stopping.is_set():
            return _error(503, "the server is shutting down; try again later")
        return _error(422, self.over_time(), "seconds")

    def over_time(self) -> str:
        return (f"the request ran past this server's time limit of {self.limits.seconds:g} s (seconds); "
                "ask for fewer or shorter items")

    async def _compute(self, request: Request, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` on a worker thread (queued while all workers are busy). Its deadlines
        end, so the work stops at its next check, when the client goes away, when this
        request is cancelled, or when the server shuts down."""
        stop = threading.Event()

        def run() -> T:
            with stop_on(stop, self.stopping):
                return fn(*args, **kwargs)

        future = self.pool.submit(run)
        done = asyncio.wrap_future(future)
        try:
            while not done.done():
                await asyncio.wait({done}, timeout=POLL_SECONDS)
                if not done.done() and await request.is_disconnected():
                    stop.set()
                    future.cancel()  # if it is still queued
            return done.result()
        finally:
            stop.set()

    async def _json(self, request: Request) -> dict[str, Any]:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise RequestError(415, "send the request body as JSON, with Content-Type: application/json")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > self.limits.max_body:
                raise RequestError(413, f"the request body is over this server's limit of {self.limits.max_body} "
                                        "bytes (max_body)", "max_body")
        return parse_body(bytes(body))

    async def page(self, request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)

    async def train(self, request: Request) -> Response:
        o = parse(await self._json(request), TRAIN)
        return JSONResponse(self.trainings.start(o["items"], o["name"]).as_dict(), status_code=202)

    async def train_status(self, request: Request) -> Response:
        return JSONResponse(self.trainings.get(request.path_params["job"]).as_dict())

    async def list_models(self, request: Request) -> Response:
        models = [self.models.describe(name, self.limits) for name in self.models.names]
        return JSONResponse({"version": __version__, "models": models, "default": self.models.default,
                             "first_visit": self.models.first_visit, "limits": self.limits.as_dict()})

    async def sample(self, request: Request) -> Response:
        o = parse(await self._json(request), SAMPLE)
        m = self._model(o["model"], lists=True)
        ask = Generate(**{k: v for k, v in o.items() if k != "model" and v is not None})
        self.limits.check_generate(ask, m)
        ask = dataclasses.replace(ask, timeout=self.limits.seconds)  # counted from when a worker takes the request
        found = await self._compute(request, sample_rated, m, ask)
        return JSONResponse({"model": o["model"], **found.to_json()})

    def _model(self, name: str, *, lists: bool) -> CharModel:
        """The model ``name``, which must write list items (``lists``) or running text."""
        m = self.models.get(name)
        if m.writes_lists != lists:
            what, other = ("list items", "running text") if lists else ("running text", "list items")
            endpoint = "/api/complete" if lists else "/api/sample"
            raise RequestError(422, f"model {name!r} writes {other}, not {what}; use {endpoint}")
        return m

    async def score(self, request: Request) -> Response:
        o = parse(await self._json(request), SCORE)
        m = self.models.get(o["model"])
        self.limits.check_items(o["items"], "score")
        seconds = self.limits.seconds  # counted from when a worker takes the request
        rated = await self._compute(request, lambda: rate(m, o["items"], category=o["category"],
                                                          deadline=Deadline.after(seconds)))
        return JSONResponse({"model": o["model"], "items": [r.to_json(chars=True) for r in rated]})

    async def classify(self, request: Request) -> Response:
        o = parse(await self._json(request), CLASSIFY)
        m = self.models.get(o["model"])
        self.limits.check_items(o["items"], "classify")
        found = await self._compute(request, m.classify, o["items"], top=o["top"], uniform_prior=o["uniform_prior"],
                                    timeout=self.limits.seconds)
        return JSONResponse({"model": o["model"], "items": [r.to_json() for r in found]})

    async def complete(self, request: Request) -> Response:
        o = parse(await self._json(request), COMPLETE)
        m = self._model(o["model"], lists=False)
        given = {k: v for k, v in o.items() if k not in ("model", "prompt") and v is not None}
        self.limits.check_completion(o["prompt"], given.get("length"))
        start = functools.partial(m.complete_stream, o["prompt"], timeout=self.limits.seconds, **given)
        stream = TextStream(self.pool, start, self.over_time(), self.stopping)
        await stream.begin()  # the options are checked before the answer starts: a mistake is still a 4xx
        headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
        return StreamingResponse(_ndjson(stream), media_type="application/x-ndjson", headers=headers)


async def _ndjson(stream: TextStream) -> AsyncIterator[bytes]:
    """The stream's messages as JSON lines (the work stops if the client goes away)."""
    async for msg in stream.messages():
        yield (json.dumps(msg, ensure_ascii=False) + "\n").encode("utf-8")
