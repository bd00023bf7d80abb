"""The web API (`charsmith serve`) through Starlette's TestClient and a real uvicorn server:
the same results as the library and the CLI, a JSON 4xx for every bad request, limits that
are named and never clamped, models only by their listed names, and model work off the
event loop."""

from __future__ import annotations

import io
import json
import math
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason="the web extra is not installed (pip install -e '.[web,test]')")
from starlette.testclient import TestClient  # noqa: E402

import charsmith  # noqa: E402
from charsmith.cli import main  # noqa: E402
from charsmith.web import Limits, Models, create_app  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from webserver import serve_in_thread, serve_process  # noqa: E402


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app()) as c:
        yield c


def post(client: TestClient, path: str, body: Any) -> Any:
    return client.post(path, json=body)


def lines(response: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.text.splitlines() if line]


# ----- what the API gives ---------------------------------------------------------------------
def test_models_describe_what_each_model_supports(client: TestClient) -> None:
    data = client.get("/api/models").json()
    by_name = {m["name"]: m for m in data["models"]}
    assert list(by_name)[:5] == ["base", "dinosaurs", "languages", "names", "shakespeare"]
    assert data["limits"] == Limits().as_dict() and data["version"] == charsmith.__version__
    dinos, bard = by_name["dinosaurs"], by_name["shakespeare"]
    assert dinos["mode"] == "lines" and dinos["lowercase"] and dinos["novelty"] and dinos["max_len"] == Limits().max_len
    assert dinos["supports"]["sample"] and not dinos["supports"]["complete"]
    assert dinos["alphabet"] == "abcdefghijklmnopqrstuvwxyz" and dinos["cell"] == "gru"
    assert bard["mode"] == "text" and bard["supports"]["complete"] and not bard["supports"]["sample"]
    assert not bard["novelty"] and bard["max_length"] == Limits().max_length
    assert dinos["supports"]["constraints"] == ["suffix", "contains", "exclude", "pattern"]
    assert bard["supports"]["constraints"] == ["exclude", "pattern"]  # a text continuation takes these two
    for m in by_name.values():  # categories and classification where the model has categories
        has = m["name"] in ("base", "languages")
        assert m["supports"]["category"] == has and m["supports"]["classify"] == has
        assert "path" not in m and not any(str(v).startswith("/") for v in m.values())  # no server paths
    assert by_name["languages"]["categories"] == charsmith.load("languages").categories


def test_sample_matches_the_library_and_the_cli(client: TestClient, capsys: pytest.CaptureFixture[str]) -> None:
    body = {"model": "names", "n": 8, "seed": 3, "temperature": 0.9, "top_p": 0.95, "prefix": "ma", "max_len": 12}
    r = post(client, "/api/sample", body)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    data = r.json()
    m = charsmith.load("names")
    expected = m.sample(8, seed=3, temperature=0.9, top_p=0.95, prefix="ma", max_len=12)
    assert [row["item"] for row in data["items"]] == expected.samples
    assert (data["drawn"], data["dropped_known"], data["short_by"]) == (expected.drawn, expected.dropped_known, 0)
    assert main(["sample", "names", "-n", "8", "--seed", "3", "--temperature", "0.9", "--top-p", "0.95",
                 "--prefix", "ma", "--max-len", "12", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["samples"] == expected.samples
    for row, s in zip(data["items"], m.score(expected.samples)):
        assert row["bits_per_char"] == pytest.approx(s.bits_per_char, abs=1e-4) and row["novel"] is True


def test_sample_marks_training_names_when_kept(client: TestClient) -> None:
    data = post(client, "/api/sample", {"model": "dinosaurs", "n": 30, "seed": 1, "temperature": 0.5,
                                        "allow_known": True}).json()
    items = [row["item"] for row in data["items"]]
    flags = [row["novel"] for row in data["items"]]
    assert flags == [not k for k in charsmith.load("dinosaurs").is_known(items)] and False in flags


def test_beam_gives_the_most_likely(client: TestClient) -> None:
    data = post(client, "/api/sample", {"model": "dinosaurs", "n": 3, "beam": 6}).json()
    found = charsmith.load("dinosaurs").most_likely(3, beam=6)
    assert [row["item"] for row in data["items"]] == [s for s, _ in found]
    assert [row["logprob"] for row in data["items"]] == pytest.approx([lp for _, lp in found], abs=1e-3)


def test_score_colours_come_from_each_characters_surprisal(client: TestClient) -> None:
    data = post(client, "/api/score", {"model": "dinosaurs", "items": ["Qwertosaurus", "rex"]}).json()
    q, rex = data["items"]
    assert q["item"] == "qwertosaurus" and q["novel"] is True  # lower-cased as the model was trained
    assert len(q["surprisal_bits"]) == len("qwertosaurus") + 1
    assert sum(q["surprisal_bits"]) / len(q["surprisal_bits"]) == pytest.approx(q["bits_per_char"], abs=1e-2)
    expected = charsmith.load("dinosaurs").score(["rex"])[0]
    assert rex["surprisal_bits"] == pytest.approx([-lp / math.log(2) for lp in expected.char_logprobs], abs=1e-3)
    assert max(q["surprisal_bits"]) > 8 > min(q["surprisal_bits"])  # "w" after "q" is a surprise


def test_complete_streams_what_the_library_writes(client: TestClient) -> None:
    body = {"model": "shakespeare", "prompt": "ROMEO:", "length": 500, "seed": 5, "temperature": 0.8}
    with client.stream("POST", "/api/complete", json=body) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
        chunks = [json.loads(line) for line in r.iter_lines() if line]
    texts = [c["text"] for c in chunks if "text" in c]
    assert len(texts) >= 2 and all(len(t) <= 64 for t in texts)  # sent in pieces as it is written
    assert chunks[-1] == {"done": True, "length": 500}
    expected = charsmith.load("shakespeare").complete_stream("ROMEO:", 500, seed=5, temperature=0.8)
    assert "".join(texts) == "".join(expected)


# ----- bad requests: a JSON 4xx naming the problem, never a 500 ---------------------------------
BAD_REQUESTS = [
    # (path, body, status, message pattern, limit)
    ("/api/sample", b"{nope", 400, "not valid JSON", None),
    ("/api/sample", b'{"model": "names", "temperature": NaN}', 400, "NaN is not a JSON number", None),
    ("/api/sample", [1, 2], 400, "must be a JSON object", None),
    ("/api/sample", {"n": 3}, 400, "'model' is required", None),
    ("/api/sample", {"model": "names", "temp": 2}, 400, "unknown field.*'temp'", None),
    ("/api/sample", {"model": "names", "n": "5"}, 400, "'n' must be an integer", None),
    ("/api/sample", {"model": "names", "n": True}, 400, "'n' must be an integer", None),
    ("/api/sample", {"model": "names", "n": 2.5}, 400, "'n' must be an integer", None),
    ("/api/sample", {"model": "names", "temperature": "hot"}, 400, "'temperature' must be a finite number", None),
    ("/api/sample", {"model": "names", "allow_known": 1}, 400, "'allow_known' must be true or false", None),
    ("/api/sample", {"model": 7}, 400, "'model' must be a string", None),
    ("/api/sample", {"model": "names", "n": 101}, 422, r"n is 101, over this server's limit of 100 \(max_n\)", "max_n"),
    ("/api/sample", {"model": "names", "n": 10**30}, 422, "max_n", "max_n"),
    ("/api/sample", {"model": "names", "max_len": 65}, 422, r"limit of 64 \(max_len\)", "max_len"),
    ("/api/sample", {"model": "names", "beam": 33}, 422, r"\(max_beam\)", "max_beam"),
    ("/api/sample", {"model": "names", "n": 0}, 422, "'n' must be a whole number >= 1", None),
    ("/api/sample", {"model": "names", "temperature": 0}, 422, "'temperature' must be a finite number > 0", None),
    ("/api/sample", {"model": "names", "top_p": 1.5}, 422, r"'top_p' must be a probability in \(0, 1\]", None),
    ("/api/sample", {"model": "names", "top_k": -2}, 422, "'top_k' must be a whole number >= 0", None),
    ("/api/sample", {"model": "names", "prefix": "Zo7"}, 422, "'prefix' has characters the model never saw: '7'", None),
    ("/api/sample", {"model": "names", "prefix": "a\nb"}, 422, "has a newline", None),
    ("/api/sample", {"model": "names", "min_len": 9, "max_len": 5}, 422, "minimum length 9 is above the maximum length 5", None),
    ("/api/sample", {"model": "names", "seed": -1}, 422, "'seed' must be a whole number >= 0", None),
    ("/api/sample", {"model": "names", "beam": 0}, 422, "'beam' must be a whole number >= 1", None),
    ("/api/sample", {"model": "names", "beam": 4, "temperature": 0.5}, 422, "'beam' takes the likeliest, so 'temperature' has no effect", None),
    ("/api/sample", {"model": "shakespeare"}, 422, "writes running text, not list items; use /api/complete", None),
    ("/api/sample", {"model": "nope"}, 404, "no model named 'nope'; this server has: base, dinosaurs, languages, names",
     None),
    ("/api/score", {"model": "names", "items": []}, 422, "nothing to score", None),
    ("/api/score", {"model": "names", "items": [3]}, 400, "'items' must be a list of strings", None),
    ("/api/score", {"model": "names", "items": ["x"] * 101}, 422, r"\(max_items\)", "max_items"),
    ("/api/score", {"model": "names", "items": ["a" * 201]}, 422, r"\(max_item_chars\)", "max_item_chars"),
    ("/api/classify", {"model": "names", "items": []}, 422, "nothing to classify", None),
    ("/api/classify", {"model": "names", "items": ["a"] * 101}, 422, r"\(max_items\)", "max_items"),
    ("/api/classify", {"model": "names", "items": ["emma"], "top": "3"}, 400, "'top' must be an integer", None),
    ("/api/complete", {"model": "names"}, 422, "writes list items, not running text; use /api/sample", None),
    ("/api/complete", {"model": "shakespeare", "length": 2001}, 422, r"\(max_length\)", "max_length"),
    ("/api/complete", {"model": "shakespeare", "prompt": "a" * 2001}, 422, r"\(max_prompt\)", "max_prompt"),
    ("/api/complete", {"model": "shakespeare", "length": -1}, 422, "'length' must be a whole number >= 0", None),
    ("/api/complete", {"model": "shakespeare", "prompt": "\u00e9t\u00e9"}, 422, "has characters the model never saw", None),
    ("/api/complete", {"model": "shakespeare", "temperature": -1}, 422, "'temperature' must be a finite number > 0", None),
]


@pytest.mark.parametrize("path, body, status, message, limit", BAD_REQUESTS)
def test_bad_requests_get_a_json_4xx(client: TestClient, path: str, body: Any, status: int, message: str,
                                     limit: str | None) -> None:  # fmt: skip
    if isinstance(body, bytes):
        r = client.post(path, content=body, headers={"Content-Type": "application/json"})
    else:
        r = client.post(path, json=body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    error = r.json()
    assert set(error) <= {"error", "limit", "param"} and "\n" not in error["error"] and "Traceback" not in error["error"]
    assert __import__("re").search(message, error["error"]), error
    assert error.get("limit") == limit


@pytest.mark.parametrize("category", ["Irish", {"Irish": 0.5, "Italian": 0.5}, "Irish=1,Italian=1"])
def test_categories_match_the_library(client: TestClient, category: Any) -> None:
    body = {"model": "languages", "n": 6, "seed": 2, "category": category}
    data = post(client, "/api/sample", body).json()
    m = charsmith.load("languages")
    expected = m.sample(6, seed=2, category=category)
    assert [row["item"] for row in data["items"]] == expected.samples
    for row, s in zip(data["items"], m.score(expected.samples, category=category)):  # scored in that category
        assert row["bits_per_char"] == pytest.approx(s.bits_per_char, abs=1e-4)
    scored = post(client, "/api/score", {"model": "languages", "items": ["Rossi"], "category": category}).json()
    assert scored["items"][0]["bits_per_char"] == pytest.approx(m.score(["Rossi"], category=category)[0].bits_per_char,
                                                                 abs=1e-4)


def test_classify_matches_the_library(client: TestClient) -> None:
    data = post(client, "/api/classify", {"model": "languages", "items": ["Nakamura", "Rossi"], "top": 2}).json()
    m = charsmith.load("languages")
    for row, want in zip(data["items"], m.classify(["Nakamura", "Rossi"], top=2)):
        assert row["item"] == want.item and [c["category"] for c in row["categories"]] == [c for c, _ in want.probs]
        assert [c["probability"] for c in row["categories"]] == pytest.approx([p for _, p in want.probs], rel=1e-5)
    assert data["items"][0]["categories"][0]["category"] == "Japanese"


def test_score_and_classify_count_characters_the_model_never_saw(client: TestClient) -> None:
    scored = post(client, "/api/score", {"model": "names", "items": ["Emma7", "Emma"]}).json()["items"]
    assert [row["unknown_chars"] for row in scored] == [1, 0]
    assert scored[0]["logprob"] == pytest.approx(charsmith.load("names").score(["Emma7"])[0].logprob, abs=1e-4)
    found = post(client, "/api/classify", {"model": "languages", "items": ["Ωkamura"], "top": 1}).json()["items"]
    assert found[0]["unknown_chars"] == 1 and found[0]["categories"][0]["category"] == "Japanese"


@pytest.mark.parametrize("path, body, message", [
    ("/api/sample", {"model": "languages", "category": "Klingon"},
     "unknown category 'Klingon'; this model knows: Arabic"),
    ("/api/sample", {"model": "languages", "category": {"Irish": 0, "Italian": 0}}, "weights sum to 0"),
    ("/api/sample", {"model": "names", "category": "Irish"}, "trained without categories; drop the category"),
    ("/api/score", {"model": "names", "items": ["emma"], "category": "Irish"}, "trained without categories"),
    ("/api/classify", {"model": "names", "items": ["emma"]}, "trained without categories, so it cannot classify"),
])
def test_bad_categories_are_named(client: TestClient, path: str, body: dict[str, Any], message: str) -> None:
    r = post(client, path, body)
    assert r.status_code == 422 and message in r.json()["error"], r.text


def test_other_protocol_mistakes(client: TestClient) -> None:
    r = client.post("/api/sample", content=b'{"model": "names"}', headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and "Content-Type: application/json" in r.json()["error"]
    assert client.get("/api/sample").status_code == 405 and "error" in client.get("/api/sample").json()
    assert client.get("/api/nothing").status_code == 404 and client.get("/api/nothing").json() == {"error": "Not Found"}
    big = json.dumps({"model": "names", "prefix": "a" * 70_000})
    r = client.post("/api/sample", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["limit"] == "max_body" and "65536 bytes" in r.json()["error"]


def test_time_limit_is_named(tmp_path: Path) -> None:
    with TestClient(create_app(limits=Limits(seconds=1e-6))) as c:
        for path, body in [("/api/sample", {"model": "names", "n": 50}),
                           ("/api/score", {"model": "names", "items": ["emma"] * 50})]:
            r = post(c, path, body)
            assert r.status_code == 422 and r.json()["limit"] == "seconds", r.text
            assert r.json()["error"] == ("the request ran past this server's time limit of 1e-06 s (seconds); "
                                         "ask for fewer or shorter items")
        r = post(c, "/api/complete", {"model": "shakespeare", "length": 100})
        assert r.status_code == 422 and r.json()["limit"] == "seconds"  # reading the prompt counts too


# ----- safety ---------------------------------------------------------------------------------------
def test_models_are_only_reached_by_their_listed_names(trained: Path) -> None:
    app = create_app(Models.load([trained]))
    with TestClient(app) as c:
        names = [m["name"] for m in c.get("/api/models").json()["models"]]
        assert names == ["base", "dinosaurs", "languages", "names", "shakespeare", "names-2"]  # the directory "names", renamed
        assert post(c, "/api/sample", {"model": "names-2", "n": 2, "seed": 0}).status_code == 200
        bundled = Path(charsmith.api.resolve_model("names"))
        for attempt in ["../names", "names/../dinosaurs", "/etc/passwd", "../../../../etc/passwd", str(trained),
                        str(bundled), str(bundled.parent / "dinosaurs"), "names\x00", "./names", "~/names", "",
                        "%2e%2e%2fnames", "NAMES", " names"]:
            for path, body in [("/api/sample", {"model": attempt}), ("/api/score", {"model": attempt, "items": ["a"]}),
                               ("/api/complete", {"model": attempt})]:
                r = post(c, path, body)
                assert r.status_code == 404 and r.json()["error"].startswith("no model named"), (attempt, r.text)
        assert [m["name"] for m in c.get("/api/models").json()["models"]] == names  # nothing was loaded
        for path in ["/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fapp.py", "/static/../../api.py",
                     "/static/%2e%2e/%2e%2e/pretrained/names/config.json", "/static//etc/passwd",
                     "/static/..%5c..%5capi.py", "/../pyproject.toml", "/static/app.js/../../models.py"]:
            r = c.get(path)
            assert r.status_code == 404, (path, r.status_code, r.text[:100])
            assert "import" not in r.text and "format" not in r.text


def test_a_local_server_answers_only_to_local_host_names() -> None:
    from charsmith.web._server import local_host_names

    with TestClient(create_app(allowed_hosts=local_host_names("127.0.0.1")), base_url="http://127.0.0.1:8000") as c:
        assert c.get("/api/models").status_code == 200
        assert c.get("/api/models", headers={"Host": "localhost:8000"}).status_code == 200
        r = c.get("/api/models", headers={"Host": "attacker.example"})  # DNS rebinding
        assert r.status_code == 400 and "not 'attacker.example'" in r.json()["error"]
    assert local_host_names("0.0.0.0") is None


def test_the_page_needs_nothing_from_elsewhere(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    static = Path(charsmith.__file__).parent / "web" / "static"
    for name in ("index.html", "app.js", "style.css"):
        asset = client.get(f"/static/{name}" if name != "index.html" else "/")
        assert asset.status_code == 200 and asset.text == (static / name).read_text(encoding="utf-8")
        assert "http://" not in asset.text and "https://" not in asset.text and "//cdn" not in asset.text
    for ref in ("/static/app.js", "/static/style.css"):
        assert ref in r.text


# ----- off the event loop -----------------------------------------------------------------------------
def _request(url: str, path: str, body: dict[str, Any] | None = None, timeout: float = 20) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            return res.status, json.load(res)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def test_a_slow_request_does_not_hold_up_the_others() -> None:
    """A sample request held open on its worker thread (while it scores its items) until the
    test lets it go: meanwhile the server answers other requests, model work included."""
    started, release = threading.Event(), threading.Event()

    class Held(charsmith.CharModel):
        def score(self, *args: Any, **kwargs: Any) -> Any:
            started.set()
            assert release.wait(30)
            return super().score(*args, **kwargs)

    dinos = charsmith.load("dinosaurs")
    models = Models({"held": Held(dinos.ckpt), "dinosaurs": dinos})
    with serve_in_thread(create_app(models)) as url:
        slow: dict[str, Any] = {}
        thread = threading.Thread(target=lambda: slow.update(r=_request(url, "api/sample", {"model": "held", "n": 3})))
        thread.start()
        assert started.wait(20)
        try:
            assert _request(url, "api/models", timeout=5)[0] == 200
            status, data = _request(url, "api/sample", {"model": "dinosaurs", "n": 5, "seed": 0}, timeout=10)
            assert status == 200 and len(data["items"]) == 5
            assert _request(url, "api/score", {"model": "dinosaurs", "items": ["rex"]}, timeout=10)[0] == 200
            assert thread.is_alive() and "r" not in slow  # all answered while the slow one is still at work
        finally:
            release.set()
            thread.join(30)
        assert slow["r"][0] == 200 and len(slow["r"][1]["items"]) == 3


def test_real_model_work_runs_beside_other_requests() -> None:
    """The same with real work: a big sample (most of a second); a small request sent while
    it runs is answered before it ends."""
    with serve_in_thread(create_app(limits=Limits(max_n=5000))) as url:
        done: dict[str, float] = {}

        def big() -> None:
            status, _ = _request(url, "api/sample", {"model": "names", "n": 800, "seed": 0, "allow_known": True},
                                 timeout=120)  # fmt: skip
            done["big"] = time.monotonic()
            done["status"] = status

        thread = threading.Thread(target=big)
        t0 = time.monotonic()
        thread.start()
        time.sleep(0.15)
        status, _ = _request(url, "api/score", {"model": "dinosaurs", "items": ["rex"]}, timeout=60)
        small = time.monotonic()
        thread.join(120)
        assert status == 200 and done["status"] == 200
        assert small < done["big"], f"the small request waited for the big one ({small - t0:.2f} s vs {done['big'] - t0:.2f} s)"


# ----- the command ---------------------------------------------------------------------------------------
def test_serve_end_to_end_with_a_checkpoint_directory(trained: Path) -> None:
    with serve_process(str(trained)) as url:
        assert url.startswith("http://127.0.0.1:")
        status, data = _request(url, "api/models")
        assert status == 200 and [m["name"] for m in data["models"]][-1] == "names-2"
        status, data = _request(url, "api/sample", {"model": "names-2", "n": 4, "seed": 2})
        assert status == 200 and [r["item"] for r in data["items"]] == charsmith.load(trained).sample(4, seed=2).samples
        with urllib.request.urlopen(url, timeout=10) as page:
            assert b"charsmith" in page.read()


def test_serve_without_the_web_extra_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "charsmith.web" or m.startswith("charsmith.web.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "starlette", None)  # as if it were not installed
    err = io.StringIO()
    assert main(["serve"], out=io.StringIO(), err=err) == 2
    assert err.getvalue().count("\n") == 1 and 'pip install "charsmith[web]"' in err.getvalue()
    assert err.getvalue().startswith("charsmith: error: the web page needs the web extra (starlette is missing)")


def test_serve_warns_when_listening_beyond_this_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    from charsmith.web import _server

    calls: list[str] = []
    real_bind = _server.bind
    monkeypatch.setattr(_server, "bind", lambda host, port: calls.append(host) or real_bind("127.0.0.1", 0))
    monkeypatch.setattr(_server, "run", lambda app, sock: calls.append("run"))
    out, err = io.StringIO(), io.StringIO()
    assert main(["serve", "--host", "0.0.0.0", "--port", "0"], out=out, err=err) == 0
    assert calls == ["0.0.0.0", "run"]
    assert err.getvalue().count("\n") == 1 and err.getvalue().startswith("charsmith: warning: listening on 0.0.0.0")
    assert out.getvalue().startswith("serving base, dinosaurs, languages, names, shakespeare on http://127.0.0.1:")
    err = io.StringIO()
    assert main(["serve", "--port", "0"], out=io.StringIO(), err=err) == 0
    assert err.getvalue() == ""  # the default, 127.0.0.1, needs no warning


def test_serve_refuses_bad_directories_and_busy_ports(tmp_path: Path) -> None:
    err = io.StringIO()
    assert main(["serve", str(tmp_path / "missing")], out=io.StringIO(), err=err) == 2
    assert err.getvalue().count("\n") == 1 and "no checkpoint at" in err.getvalue()
    (tmp_path / "empty").mkdir()
    err = io.StringIO()
    assert main(["serve", str(tmp_path / "empty")], out=io.StringIO(), err=err) == 2
    assert "not a charsmith checkpoint" in err.getvalue()
    from charsmith.web._server import bind

    with bind("127.0.0.1", 0) as busy:
        busy.listen()
        err = io.StringIO()
        assert main(["serve", "--port", str(busy.getsockname()[1])], out=io.StringIO(), err=err) == 2
        assert err.getvalue().count("\n") == 1 and "pick another --port" in err.getvalue()
    err = io.StringIO()
    assert main(["serve", "--port", "70000"], out=io.StringIO(), err=err) == 2


def test_a_stream_the_client_leaves_frees_its_worker() -> None:
    """With one worker, a continuation that would take a minute is dropped when its client
    hangs up, and the next request gets the worker at once."""
    import http.client

    bard = charsmith.load("shakespeare")

    class Slow(charsmith.CharModel):
        def complete_stream(self, *args: Any, **kwargs: Any) -> Any:
            chars = super().complete_stream(*args, **kwargs)
            return (time.sleep(0.06) or ch for ch in chars)  # 1,000 characters: a minute

    models = Models({"slow": Slow(bard.ckpt), "dinosaurs": charsmith.load("dinosaurs")})
    with serve_in_thread(create_app(models, Limits(workers=1, seconds=120))) as url:
        host, port = url.split("//")[1].strip("/").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.request("POST", "/api/complete", json.dumps({"model": "slow", "length": 1000}),
                      {"Content-Type": "application/json"})
        res = conn.getresponse()
        assert res.status == 200 and "text" in json.loads(res.readline())
        conn.close()  # the client leaves
        t0 = time.monotonic()
        status, _ = _request(url, "api/score", {"model": "dinosaurs", "items": ["rex"]}, timeout=30)
        assert status == 200 and time.monotonic() - t0 < 5


def test_time_in_the_queue_does_not_count_against_the_time_limit() -> None:
    """One worker, held busy for longer than the time limit; the request queued behind it
    still gets its full time once it has the worker."""
    started, release = threading.Event(), threading.Event()

    class Held(charsmith.CharModel):
        def score(self, *args: Any, **kwargs: Any) -> Any:
            started.set()
            assert release.wait(30)
            return super().score(*args, **kwargs)

    dinos = charsmith.load("dinosaurs")
    models = Models({"held": Held(dinos.ckpt), "dinosaurs": dinos})
    with serve_in_thread(create_app(models, Limits(workers=1, seconds=1.0))) as url:
        first: dict[str, Any] = {}
        body = {"model": "held", "items": ["a"]}
        thread = threading.Thread(target=lambda: first.update(r=_request(url, "api/score", body)))
        thread.start()
        assert started.wait(20)
        queued: dict[str, Any] = {}
        body2 = {"model": "dinosaurs", "n": 5}
        second = threading.Thread(target=lambda: queued.update(r=_request(url, "api/sample", body2)))
        second.start()
        time.sleep(1.5)  # the second request waits longer than its time limit
        release.set()
        thread.join(30)
        second.join(30)
        assert queued["r"][0] == 200 and len(queued["r"][1]["items"]) == 5
        assert first["r"][0] == 200


def test_odd_requests_never_get_a_500(client: TestClient) -> None:
    """A few hundred requests built from odd values for every field (fixed seed): each gets
    a JSON answer below 500 (the client raises on a server error)."""
    import random

    from charsmith.web._schema import CLASSIFY, COMPLETE, SAMPLE, SCORE

    odd = [None, True, False, 0, -1, 1, 2, 7, 10**18, -(10**18), 0.5, -0.5, 1e308, -1e-308, "", "a", "Zo", "\n",
           "\u00e9\u4e2d\U0001f600", "a" * 300, "../names", [], ["a"], ["emma", 3], [[]], {}, {"a": 1}, {"ki": -1}]
    rng = random.Random(0)
    models = ["names", "dinosaurs", "shakespeare", "nope"]
    for path, spec in [("/api/sample", SAMPLE), ("/api/score", SCORE), ("/api/complete", COMPLETE),
                       ("/api/classify", CLASSIFY)]:
        for _ in range(80):
            body = {k: rng.choice(odd) for k in rng.sample(sorted(spec), rng.randint(0, len(spec)))}
            if rng.random() < 0.7:
                body["model"] = rng.choice(models)
            r = client.post(path, json=body)
            assert r.status_code < 500, (path, body, r.text)
            if r.headers["content-type"] == "application/json":
                assert isinstance(r.json(), dict)


@pytest.mark.parametrize("constraints", [{"suffix": "a"}, {"contains": ["el"], "exclude": "z"},
                                         {"pattern": "(ma|jo)[a-z]*"}, {"min_len": 6, "max_len": 8},
                                         {"prefix": "k", "contains": "r"}])
def test_sample_with_constraints_matches_the_library(client: TestClient, constraints: dict[str, Any]) -> None:
    import re

    data = post(client, "/api/sample", {"model": "names", "n": 10, "seed": 7, **constraints}).json()
    items = [r["item"] for r in data["items"]]
    assert items == charsmith.load("names").sample(10, seed=7, **constraints).samples
    for s in items:
        assert s.endswith(constraints.get("suffix", "")) and s.startswith(constraints.get("prefix", ""))
        assert all(c in s for c in ([constraints["contains"]] if isinstance(constraints.get("contains"), str)
                                    else constraints.get("contains", [])))
        assert not set(constraints.get("exclude", "")) & set(s)
        assert re.fullmatch(constraints.get("pattern", ".*"), s)
        assert constraints.get("min_len", 0) <= len(s) <= constraints.get("max_len", 99)


def test_constraint_mistakes_and_a_text_pattern(client: TestClient) -> None:
    r = post(client, "/api/sample", {"model": "names", "suffix": "7"})
    assert r.status_code == 422 and "never saw" in r.json()["error"]
    r = post(client, "/api/sample", {"model": "names", "pattern": "(ab"})
    assert r.status_code == 422 and r.json()["error"]
    body = {"model": "shakespeare", "prompt": "ROMEO:\n", "length": 40, "pattern": "[A-Z][a-z]+ ", "seed": 0}
    r = post(client, "/api/complete", body)
    text = "".join(line["text"] for line in lines(r) if "text" in line)
    assert r.status_code == 200 and len(text) == 40 and __import__("re").match("[A-Z][a-z]+ ", text)
