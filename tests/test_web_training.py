"""Training on a pasted list through the web API and the page: the model chosen as
`charsmith train FILE` chooses it, served beside the others, within named limits."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason="the web extra is not installed (pip install -e '.[web,test]')")
from starlette.testclient import TestClient  # noqa: E402

from charsmith.web import Limits, Models, create_app  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_web_browser import _requirements, browser_page  # noqa: E402
from webserver import serve_process  # noqa: E402

NAMES = ["Aoife", "Brigid", "Ciara", "Deirdre", "Eithne", "Fionnuala", "Grainne", "Orla", "Niamh", "Siobhan",
         "Roisin", "Sinead", "Aisling", "Caoimhe", "Clodagh", "Dearbhla", "Eimear", "Laoise", "Meabh", "Nuala"]


def _wait(client: TestClient, job: dict[str, Any], seconds: float = 120.0) -> dict[str, Any]:
    stages = {job["stage"]}
    end = time.monotonic() + seconds
    while job["state"] == "running" and time.monotonic() < end:
        time.sleep(0.2)
        job = client.get(f"/api/train/{job['id']}").json()
        stages.add(job["stage"])
    job["stages"] = stages
    return job


def test_a_pasted_list_trains_and_is_served_beside_the_others() -> None:
    with TestClient(create_app(Models.load(bundled=False))) as client:
        r = client.post("/api/train", json={"items": "\n".join(NAMES), "name": "irish"})
        assert r.status_code == 202, r.text
        job = _wait(client, r.json())
        assert job["state"] == "done", job
        assert job["model"] == "irish" and len(job["stages"]) >= 2  # progress was shown on the way
        models = {m["name"]: m for m in client.get("/api/models").json()["models"]}
        assert "irish" in models and models["irish"]["source"] == "a pasted list (irish)"
        assert models["irish"]["summary"]
        sample = client.post("/api/sample", json={"model": "irish", "n": 5, "seed": 1}).json()
        items = [row["item"] for row in sample["items"]]
        assert len(items) == 5 and not set(items) & set(NAMES)  # novelty as for any model
        again = _wait(client, client.post("/api/train", json={"items": "\n".join(NAMES[:4]), "name": "irish"}).json())
        assert again["model"] == "irish-2"  # a second list of that name does not replace the first


@pytest.mark.parametrize("body, limits, status, message", [
    ({"items": "a\nb\nc\nd"}, Limits(max_train_items=3), 422, r"the list's length is 4, over this server's "
                                                             r"limit of 3 \(max_train_items\)"),
    ({"items": "\n \n"}, Limits(), 422, "the pasted list is empty"),
    ({"items": "Ann", "name": "../etc"}, Limits(), 400, "'name' must be"),
    ({"name": "x"}, Limits(), 400, "'items' is required"),
])
def test_bad_lists_and_limits_are_named(body: dict, limits: Limits, status: int, message: str) -> None:
    with TestClient(create_app(Models.load(bundled=False), limits)) as client:
        r = client.post("/api/train", json=body)
        assert r.status_code == status and r.json()["error"] and __import__("re").search(message, r.json()["error"])


def test_trainings_at_once_are_limited_and_unknown_jobs_are_404() -> None:
    with TestClient(create_app(Models.load(bundled=False), Limits(max_trainings=1))) as client:
        first = client.post("/api/train", json={"items": "\n".join(NAMES)}).json()
        second = client.post("/api/train", json={"items": "\n".join(NAMES)})
        if client.get(f"/api/train/{first['id']}").json()["state"] == "running":  # still going: the limit holds
            assert second.status_code == 429 and second.json()["limit"] == "max_trainings"
        assert _wait(client, first)["state"] == "done"
        assert client.get("/api/train/nope").status_code == 404


def test_a_pasted_list_in_a_real_browser() -> None:
    reason = _requirements()
    if reason:
        print(f"skipping the browser test: {reason}", file=sys.stderr)
        pytest.skip(reason)
    from playwright.sync_api import expect

    with serve_process() as url, browser_page() as page:
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        expect(page.locator("body[data-ready='1']")).to_have_count(1)
        page.fill("#train-items", "\n".join(NAMES))
        page.fill("#train-name", "irish")
        page.click("#train-btn")
        expect(page.locator("#train-status")).to_contain_text("Trained irish", timeout=120_000)
        assert page.input_value("#model") == "irish"  # the new model is chosen, beside the bundled ones
        assert "dinosaurs" in page.locator("#model option").all_inner_texts()
        page.fill("#n", "5")
        page.click("#generate-btn")
        expect(page.locator("#results button.pick")).to_have_count(5)
        page.fill("#train-items", "")
        page.click("#train-btn")
        expect(page.locator("#status")).to_contain_text("empty")
        assert not errors, errors
