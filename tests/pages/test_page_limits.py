"""Limits the participant meets the same way on every page (AppTest, through app.py, on tiny models):
every text box cuts over-long text to its limit with a message saying the limit, whether the text was
typed, pasted or came with a link; uploaders show their limits next to them and their errors under
them, as page messages (not a tooltip of the browser's file check)."""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import element_tree as et

from explorer import training
from explorer.lessons import load_lessons
from tests.fuzz_support import FuzzSession

LIMIT_RE = re.compile(r"Up to ([\d,]+) characters")


@pytest.fixture
def models(tiny_mlm_dir, tiny_clm_dir):
    return {"model_id_mlm": str(tiny_mlm_dir), "model_id_clm": str(tiny_clm_dir), "model_id_encoder": str(tiny_mlm_dir)}


def text_boxes(s: FuzzSession) -> list:
    return [
        w
        for w in s.widgets()
        if isinstance(w, (et.TextArea, et.TextInput)) and w.key and not w.key.startswith("pick_other")
    ]  # the model pickers' id boxes belong to the model picker


def open_boxes(page: str, models: dict) -> FuzzSession:
    s = FuzzSession(page, models)
    if page == "pages/lessons.py":
        s.set("lesson", load_lessons()[0][1].title)  # a lesson with a text box
    if page == "pages/training.py":
        s.set("train_corpus", "Paste text")
    return s


@pytest.mark.parametrize(
    "page",
    [
        "pages/masked_lm.py",
        "pages/causal_lm.py",
        "pages/compare.py",
        "pages/span_corruption.py",
        "pages/contrastive.py",
        "pages/attention.py",
        "pages/lessons.py",
        "pages/training.py",
    ],
)
def test_every_text_box_cuts_long_text_to_its_limit_and_says_so(page, models):
    s = open_boxes(page, models)
    keys = [w.key for w in text_boxes(s)]
    assert keys, "no text box on the page"
    for key in keys:
        w = s.widget(key)
        found = LIMIT_RE.search(w.proto.help or "")
        assert found, f"{key}: the box's help does not say its limit"
        limit = int(found.group(1).replace(",", ""))
        pasted = ("Lorem ipsum dolor sit amet. " * (limit // 28 + 3))[: limit + 37]
        s.set(key, pasted, f"paste {len(pasted)} characters into {key}")
        assert s.at.session_state[key] == pasted[:limit], key
        assert s.value_shown(key) == pasted[:limit], key  # the box shows the cut text
        said = [m.value for m in s.at.warning if f"{limit + 37:,} characters" in m.value]
        assert said and f"up to {limit:,}" in said[0], (key, [m.value for m in s.at.warning])
        s.set(key, "A short sentence.")  # the message goes with the long text
        assert not any("characters; this box takes" in m.value for m in s.at.warning), key


def test_a_linked_text_over_the_limit_is_cut_with_the_message(models):
    s = FuzzSession("pages/compare.py", models, query={"cmp_text": "The dog barked. " * 50})  # 800 characters
    s.goto("pages/compare.py")
    assert s.at.session_state["cmp_text"] == ("The dog barked. " * 50)[:600]
    assert s.value_shown("cmp_text") == s.at.session_state["cmp_text"]
    assert any("800 characters" in w.value and "up to 600" in w.value for w in s.at.warning)


# --------------------------------------------------------------------------- uploads


def block_of(s: FuzzSession, node) -> list:
    """The elements of the block that holds `node`, in page order."""
    for block in s.at._tree:
        if isinstance(block, et.Block) and any(child is node for child in block.children.values()):
            return [block.children[i] for i in sorted(block.children)]
    raise AssertionError("no block holds the node")


def errors_under(s: FuzzSession, key: str) -> list[str]:
    up = s.widget(key)
    items = block_of(s, up)
    after = items[[i for i, n in enumerate(items) if n is up][0] + 1 :]
    return [n.value for n in after if isinstance(n, et.Error)]


def open_upload(kind: str) -> tuple[FuzzSession, str]:
    s = FuzzSession("pages/training.py")
    if kind == "text":
        s.set("train_corpus", "Upload a .txt file")
        return s, "train_upload"
    s.set("train_mode", "Supervised fine-tuning")
    if kind == "sft":
        s.set("train_task", "SFT of the causal LM (prompt -> response)")
    s.set("train_data", "Upload a CSV")
    return s, f"train_upload_{kind}"


@pytest.mark.parametrize(
    "kind, must_say",
    [
        ("text", ["UTF-8", "1 MB", f"{training.MAX_TEXT_CHARS:,}", f"at least {training.MIN_TEXT_CHARS}"]),
        ("classify", ["text,label", "1 MB", f"{training.MAX_ROWS:,} rows", f"{training.MIN_ROWS} to"]),
        ("sft", ["prompt,response", "1 MB", f"{training.MAX_ROWS:,} rows"]),
    ],
)
def test_uploaders_show_their_limits_next_to_them(kind, must_say):
    s, key = open_upload(kind)
    up = s.widget(key)
    items = block_of(s, up)
    i = next(j for j, n in enumerate(items) if n is up)
    caption = items[i + 1]
    assert isinstance(caption, et.Caption), type(caption)
    for phrase in must_say:
        assert phrase in caption.value and phrase in up.proto.help, phrase
    assert not list(up.proto.type), "any type reaches the server's checks, whose messages show under it"
    # the browser refuses a larger file itself (its reason shown, test_browser_upload) at the same limit
    assert up.proto.max_upload_size_mb * 1_000_000 == training.MAX_UPLOAD_BYTES


@pytest.mark.parametrize(
    "kind, name, data, message",
    [
        ("text", "notes.pdf", b"%PDF-1.4 " + bytes(100), "binary"),
        ("text", "story.csv", "caf\xe9 au lait, ".encode("latin-1") * 30, "not UTF-8"),
        ("text", "huge.txt", b"word " * 240_000, "is 1.2 MB; the limit here is 1 MB"),
        ("text", "short.md", b"Too short.", "only 10 characters"),
        ("classify", "data.xlsx", b"PK\x03\x04" + bytes(200), "binary"),
        ("classify", "data.csv", b"sentence,category\nhello,a\n", "needs the columns text and label"),
        ("sft", "pairs.txt", b"prompt,response\nHi?,Hello.\n", "at least 8 are needed"),
    ],
)
def test_upload_errors_are_shown_under_the_uploader(kind, name, data, message):
    s, key = open_upload(kind)
    s.upload(key, name, data, "application/octet-stream")
    shown = errors_under(s, key)
    assert shown and message in shown[0], shown
