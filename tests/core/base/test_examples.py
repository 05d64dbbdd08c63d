"""Bundled examples and their claims: the loader, the claim collection, and that every preset has a claim."""

from __future__ import annotations

import pytest

from explorer import ExplorerError, examples, lessons


def write(folder, name: str, text: str):
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_presets_and_errors(tmp_path):
    examples._read.cache_clear()
    write(
        tmp_path, "p.toml", '[[example]]\nname = "A"\ntext = "x"\nclaim = "A shows x."\ncheck = { kind = "k", n = 1 }\n'
    )
    assert [e["name"] for e in examples.presets("p", tmp_path)] == ["A"]
    assert examples.preset("p", "A", tmp_path)["check"] == {"kind": "k", "n": 1}
    with pytest.raises(ExplorerError, match="no example called"):
        examples.preset("p", "B", tmp_path)
    write(tmp_path, "bad.toml", "[[example]\nname=")
    with pytest.raises(ExplorerError, match="not valid TOML"):
        examples.load("bad", tmp_path)
    write(tmp_path, "noname.toml", '[[example]]\ntext = "x"\n')
    with pytest.raises(ExplorerError, match="needs a name"):
        examples.presets("noname", tmp_path)
    with pytest.raises(ExplorerError, match="could not be read"):
        examples.load("missing", tmp_path)


def test_claims_are_found_at_any_depth_with_their_checks():
    data = {
        "example": [{"name": "A", "claim": "A shows x.", "check": {"kind": "k"}}],
        "defaults": {"probe": {"claim": "The probe works.", "check": {"kind": "j", "claim": "not a claim"}}},
        "other": {"text": "no claim here"},
    }
    found = examples.claims_in(data, "f")
    assert [(c.source, c.kind) for c in found] == [("f.example['A']", "k"), ("f.defaults.probe", "j")]
    assert examples.claims_in({"claim": "No check."}, "g")[0].kind == ""


def test_every_bundled_claim_source_is_collected(tmp_path):
    assets = tmp_path
    (assets / "examples").mkdir()
    (assets / "lessons").mkdir()
    (assets / "quizzes").mkdir()
    write(assets / "examples", "p.toml", '[[example]]\nname = "A"\nclaim = "A shows x."\ncheck = { kind = "k" }\n')
    write(
        assets / "lessons",
        "01-a.md",
        '+++\ntitle = "A"\nclaim = "The lesson shows y."\ncheck = { kind = "l" }\n'
        '[[try]]\ntext = "Do z."\nclaim = "Doing z shows w."\ncheck = { kind = "t" }\n'
        "+++\nBody",
    )
    write(
        assets / "quizzes",
        "01-a.toml",
        '[[question]]\nkind = "predict"\nrole = "clm"\ntext = "The"\n'
        'prompt = "Next?"\noptions = ["a", "b"]\nclaim = "The model says v."\n'
        'check = { kind = "q" }\n',
    )
    kinds = sorted(c.kind for c in examples.all_claims(assets))
    assert kinds == ["k", "l", "q", "t"]
    lesson = lessons.load_lesson(assets / "lessons" / "01-a.md", assets / "quizzes")
    assert lesson.tries == ["Do z."]  # a try table shows its text


def test_every_preset_of_the_pages_states_a_claim():
    for page in ("compare", "masked_lm", "attention"):
        for ex in examples.presets(page):
            assert ex.get("claim") and ex.get("check", {}).get("kind"), (page, ex["name"])
    for path in sorted(examples.ASSETS.glob("lessons/[0-9]*.md")):
        meta = lessons.front_matter(path)
        if meta.get("example"):
            assert meta.get("claim"), path.name
        for t in meta.get("try", []):
            assert isinstance(t, dict) and t.get("claim") and t.get("check"), (path.name, t)
