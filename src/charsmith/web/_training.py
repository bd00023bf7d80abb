"""Training on a list pasted into the page, served beside the other models while the server runs.

    POST /api/train       {"items": "one item a line", "name": "my-list"} -> 202, the job
    GET  /api/train/<id>  the job: {"id", "name", "state": "running" | "done" | "failed", "stage",
                          "seconds", "model" (its name once done), "error"}

A job trains with the defaults of ``charsmith train FILE`` (the model chosen by
cross-validation, :mod:`charsmith.smalllists`) on its own thread, outside the request
workers. Its checkpoint lives in a directory of the server's, removed when the server
stops. Limits (:class:`~charsmith.web.limits.Limits`): ``max_train_items`` items per list,
``max_trainings`` jobs at once, ``train_seconds`` for the network's cross-validation (past
it, the n-gram model is chosen).
"""

from __future__ import annotations

import logging
import re
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from charsmith._corpus import LinesCorpus
from charsmith._reading import split_lines
from charsmith.api import CharModel
from charsmith.errors import CharsmithError, DataError
from charsmith.smalllists import train_small
from charsmith.web._schema import RequestError
from charsmith.web.limits import Limits
from charsmith.web.models import Models, UnknownModel

__all__ = ["Job", "Trainings"]

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,39}")
log = logging.getLogger("charsmith.web")


@dataclass
class Job:
    """One training: its state as the page polls it."""

    id: str
    name: str
    state: str = "running"
    stage: str = "starting"
    model: str | None = None
    error: str = ""
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None

    def as_dict(self) -> dict[str, Any]:
        seconds = (self.ended or time.monotonic()) - self.started
        return {"id": self.id, "name": self.name, "state": self.state, "stage": self.stage,
                "seconds": round(seconds, 1), "model": self.model, "error": self.error}


class Trainings:
    """The server's training jobs."""

    def __init__(self, models: Models, limits: Limits) -> None:
        self.models, self.limits = models, limits
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    def start(self, text: str, name: str) -> Job:
        """Check the list and the limits, then train on a thread of its own."""
        if not NAME.fullmatch(name):
            raise RequestError(400, "'name' must be 1 to 40 letters, digits, spaces, '.', '_' or '-', "
                                    "starting with a letter or digit")
        items = split_lines(text, lowercase=False, source="the pasted list")
        if not items:
            raise DataError("the pasted list is empty; paste one item a line")
        self.limits.check("max_train_items", len(items), "the list's length", "items")
        with self._lock:
            running = sum(j.state == "running" for j in self._jobs.values())
            if running >= self.limits.max_trainings:
                raise RequestError(429, f"{running} training(s) running, this server's limit of "
                                        f"{self.limits.max_trainings} (max_trainings); try again when it is done",
                                   "max_trainings")
            if self._dir is None:
                self._dir = tempfile.TemporaryDirectory(prefix="charsmith-web-")
            job = Job(secrets.token_hex(8), name)
            self._jobs[job.id] = job
        out = Path(self._dir.name) / job.id
        threading.Thread(target=self._run, args=(job, items, out), name=f"charsmith-train-{job.id}",
                         daemon=True).start()
        return job

    def _run(self, job: Job, items: list[str], out: Path) -> None:
        try:
            corpus = LinesCorpus.from_text("\n".join(items), lowercase=False, val_fraction=0.0,
                                           rng=np.random.default_rng(0), source="the pasted list")
            ckpt = train_small(corpus, out, info={"source": f"a pasted list ({job.name})"},
                               budget=0.75 * self.limits.train_seconds,
                               on_progress=lambda stage: setattr(job, "stage", stage))
            job.model = self.models.add(job.name, CharModel(ckpt))
            job.stage, job.state = "done", "done"
        except CharsmithError as e:
            job.state, job.error = "failed", str(e)
        except Exception:
            log.exception("training %s failed", job.id)
            job.state, job.error = "failed", "internal error; the server's log has the details"
        finally:
            job.ended = time.monotonic()

    def get(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise UnknownModel(f"no training {job_id!r} on this server")
        return job

    def close(self) -> None:
        """Remove the trained models' directory (the server is stopping)."""
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
