"""What `charsmith serve` offers beyond the API's answers: the model the page opens on, the
origins whose pages may call the API (CORS), and characters named readably in errors."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the web extra is not installed (pip install -e '.[web,test]')")
from starlette.testclient import TestClient  # noqa: E402

import charsmith  # noqa: E402
from charsmith.cli import main  # noqa: E402
from charsmith.errors import CharsmithError  # noqa: E402
from charsmith.vocab import readable  # noqa: E402
from charsmith.web import Models, create_app  # noqa: E402
from charsmith.web._server import check_origin  # noqa: E402

GAME = "https://game.example"


def test_the_page_opens_on_the_first_model_the_user_served(trained: Path) -> None:
    with TestClient(create_app()) as c:
        data = c.get("/api/models").json()
        assert data["default"] is None and data["first_visit"] == "dinosaurs"  # bundled only, base listed first
        assert data["models"][0]["name"] == "base"
    with TestClient(create_app(Models.load([trained]))) as c:
        data = c.get("/api/models").json()
        assert data["default"] == f"{trained.name}-2"  # 'names' is taken by the bundled model
        assert data["default"] in [m["name"] for m in data["models"]]
    ours = Models.load([trained], bundled=False)
    assert ours.default == ours.first_visit == trained.name
    with_base = Models({"base": charsmith.load("base"), "shakespeare": charsmith.load("shakespeare"),
                        "names": charsmith.load("names")}, ["base", "shakespeare", "names"])
    assert with_base.default is None and with_base.first_visit == "names"  # a list model, not the base


def test_cors_only_for_the_origins_given() -> None:
    with TestClient(create_app()) as c:  # none by default: a page elsewhere gets no permission
        r = c.get("/api/models", headers={"Origin": GAME})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    with TestClient(create_app(cors=[GAME])) as c:
        r = c.get("/api/models", headers={"Origin": GAME})
        assert r.headers["access-control-allow-origin"] == GAME
        assert "access-control-allow-origin" not in c.get("/api/models", headers={"Origin": "https://evil.example"}).headers
        pre = c.options("/api/sample", headers={"Origin": GAME, "Access-Control-Request-Method": "POST",
                                                "Access-Control-Request-Headers": "content-type"})
        assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == GAME
        body = {"model": "dinosaurs", "n": 3, "seed": 1}
        r = c.post("/api/sample", json=body, headers={"Origin": GAME})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == GAME


@pytest.mark.parametrize("origin", ["game.example", "https://game.example/path", "ftp://x", ""])
def test_a_bad_origin_is_one_line_naming_cors(origin: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(CharsmithError) as e:
        check_origin(origin)
    assert e.value.param == "cors"
    assert main(["serve", "--port", "0", "--cors", origin]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--cors" in err and "Traceback" not in err


def test_characters_named_readably() -> None:
    assert readable("a\u00a0") == "'a', U+00A0 NO-BREAK SPACE"
    assert readable("\t") == "U+0009 control character"
    assert readable("e\u0301") == "'e', U+0301 COMBINING ACUTE ACCENT"
    assert readable("abcdef", most=2) == "'a', 'b' and 4 more"
    assert readable("'") == '"\'"'


def test_an_unknown_prefix_character_reads_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sample", "names", "--prefix", "a\u00a0", "-n", "1"]) == 2
    err = capsys.readouterr().err
    assert "U+00A0 NO-BREAK SPACE" in err and "\\xa0" not in err and "and 14 more" in err
    with TestClient(create_app()) as c:
        r = c.post("/api/sample", json={"model": "names", "n": 1, "prefix": "a\u00a0"})
        assert r.status_code == 422 and "U+00A0 NO-BREAK SPACE" in r.json()["error"]
