"""The 'Inside the model' page through the real navigation (AppTest): what it shows is the model's own output."""

from __future__ import annotations

import base64

import numpy as np
import plotly.io as pio
import torch
from streamlit.testing.v1 import AppTest

from app import ROOT
from explorer import load
from explorer.inside import attention as A
from explorer.inside import bertviz as B
from explorer.inside import summaries as S
from explorer.inside.lens import prepare_text
from explorer.tokens import display_piece
from tests.core.inside.test_attention import attn_t5_dir  # noqa: F401 - fixture

PAGE = "pages/attention.py"


def open_page(**state) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
    at.run()
    at.switch_page(PAGE)
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def default_text() -> str:
    return A.EXAMPLES["Capital cities"]


def values(v) -> np.ndarray:
    """Numbers from a figure: plotly writes numpy arrays as {dtype, bdata (base64), shape}."""
    if not isinstance(v, dict):
        return np.asarray(v, dtype=float)
    dims = tuple(int(n) for n in str(v.get("shape", "")).split(",") if n.strip()) or (-1,)
    return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).reshape(dims).astype(float)


def figure(at, i=0):
    """The i-th plotly figure of the page, decoded (plotly stores arrays as typed binary in its JSON)."""
    return pio.from_json(at.get("plotly_chart")[i].proto.spec)


def own_attentions(lm, text):
    ids = lm.tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        out = lm.model(**ids, output_attentions=True)
    return np.stack([a[0].numpy() for a in out.attentions])


def test_default_heatmap_is_the_mean_of_layer_0_of_the_causal_lm(smollm2):
    at = open_page()
    z = values(figure(at).data[0].z)
    own = own_attentions(smollm2, default_text())
    np.testing.assert_allclose(z, own[0].mean(0), atol=1e-6)
    assert "cannot look at later tokens" in " ".join(c.value for c in at.caption)


def test_picking_a_layer_and_head_shows_that_head(smollm2):
    at = open_page()
    at.slider(key="attn_layer").set_value(17)
    at.selectbox(key="attn_head").set_value(4)
    at.run()
    assert not at.exception
    fig = figure(at)
    np.testing.assert_allclose(values(fig.data[0].z), own_attentions(smollm2, default_text())[17, 4], atol=1e-6)
    assert "layer 17, head 4" in fig.layout.title.text


def test_hiding_special_tokens_of_the_encoder(minilm):
    text = "The cat sat on the mat."
    at = open_page(attn_role="encoder", attn_text=text, attn_hide_special=True, attn_renormalize=False)
    own = own_attentions(minilm, text)[0].mean(0)
    z = values(figure(at).data[0].z)
    np.testing.assert_allclose(z, own[1:-1, 1:-1], atol=1e-6)  # the model's weights, [CLS]/[SEP] removed
    assert "[CLS]" not in list(figure(at).data[0].x)
    at.toggle(key="attn_renormalize").set_value(True)
    at.run()
    z = values(figure(at).data[0].z)
    np.testing.assert_allclose(z.sum(-1), 1.0, atol=1e-6)
    assert any("rescaled to sum to 1" in c.value for c in at.caption)


def test_all_heads_grid_and_head_patterns(smollm2):
    at = open_page(attn_view="All heads")
    grid, pattern = figure(at, 0), figure(at, 1)
    assert grid.layout.yaxis.ticktext[0] == "layer 0" and grid.layout.yaxis.ticktext[-1] == "layer 29"
    assert len(grid.layout.xaxis.ticktext) == 9
    scores = values(pattern.data[0].z)
    assert scores.shape == (30, 9)
    part = A.get_attentions(smollm2, default_text()).parts["self"]
    np.testing.assert_allclose(scores, S.head_scores(part, "previous token"), atol=1e-9)
    top = at.dataframe[0].value
    assert (top.iloc[0]["layer"], top.iloc[0]["head"]) == np.unravel_index(np.nanargmax(scores), scores.shape)


def test_bertviz_view_is_offline_with_the_models_weights_and_a_download(smollm2):
    at = open_page(attn_view="bertviz (interactive)")
    doc = at.get("iframe")[0].proto.srcdoc
    assert B.external_urls(doc) == [] and "cdnjs" not in doc
    params = B.parse_bertviz_params(doc)
    assert params["include_layers"] == list(range(30))  # short text: every layer fits
    own = own_attentions(smollm2, default_text())
    np.testing.assert_allclose(np.array(params["attention"][0]["attn"]), own, atol=1e-4)
    assert at.get("download_button")
    at.radio(key="attn_bv_view").set_value("model")
    at.run()
    params = B.parse_bertviz_params(at.get("iframe")[0].proto.srcdoc)
    assert params["include_layers"] == [0, 10, 19, 29]  # the model view starts with a few layers


def test_long_text_gets_a_message_instead_of_a_frozen_bertviz():
    at = open_page(
        attn_view="bertviz (interactive)", attn_max_tokens=200, attn_text=" ".join(["The cat sat on the mat."] * 25)
    )
    assert not at.get("iframe")
    assert any("limited to 100 tokens" in e.value for e in at.error)


def test_layer_by_layer_table_ends_with_the_models_prediction(smollm2):
    at = open_page(attn_view="Layer by layer")
    table = at.dataframe[0].value
    ids = smollm2.tokenizer(default_text(), return_tensors="pt")
    with torch.no_grad():
        top = int(smollm2.model(**ids).logits[0, -1].argmax())
    assert table.iloc[-1]["#1"] == display_piece(smollm2.tokenizer, top) == "␣Rome"
    assert len(table) == 31
    assert figure(at).data[0].text[-1][-1] == "␣Rome"


def test_layer_by_layer_embeddings_row_shows_the_tokens_read():
    """Read through the head, the embedding of ' France' showed the reserved token '<filename>'."""
    at = open_page(attn_view="Layer by layer", attn_text="The capital of France is")
    heat = figure(at).data[0]
    assert list(heat.y)[0] == "embeddings" and list(heat.text[0]) == ["The", "␣capital", "␣of", "␣France", "␣is"]
    assert not any("<filename>" in cell for row in heat.text for cell in row)
    table = at.dataframe[0].value
    assert table.iloc[0]["layer"] == "embeddings (nearest tokens, cosine)"
    assert "nearest" in " ".join(c.value for c in at.caption)


def test_encoder_has_attention_but_no_layer_by_layer_view():
    at = open_page(attn_role="encoder", attn_layer=29, attn_view="Layer by layer")
    assert any("no head that predicts tokens" in i.value for i in at.info)
    for view in ("Heatmap", "All heads", "bertviz (interactive)"):
        at.radio(key="attn_view").set_value(view)
        at.run()
        assert not at.exception and not at.error, view
    assert at.get("iframe")  # MiniLM's 6 layers x 12 heads in bertviz


def test_masked_lm_role_shows_its_prediction():
    """The bundled masked LM ships in the repository (assets/models): the page always has it."""
    text = "Paris is the [MASK] of France."
    at = open_page(attn_role="mlm", attn_text=text, attn_view="Layer by layer")
    assert not at.error, [e.value for e in at.error]
    lm = load("mlm")
    ids = lm.tokenizer(prepare_text(lm.tokenizer, text), return_tensors="pt")
    pos = ids["input_ids"][0].tolist().index(lm.tokenizer.mask_token_id)
    with torch.no_grad():
        top = int(lm.model(**ids).logits[0, pos].argmax())
    assert at.selectbox(key="attn_lens_pos").value == pos  # the table starts at the blank
    assert at.dataframe[0].value.iloc[-1]["#1"] == display_piece(lm.tokenizer, top)


def test_seq2seq_page_shows_encoder_decoder_and_cross_attention(attn_t5_dir):
    text, target = "the cat sat on the mat", "a cat sat"
    at = open_page(attn_role="seq2seq", model_id_seq2seq=str(attn_t5_dir), attn_text=text, attn_target=target)
    assert not at.error
    assert at.radio(key="attn_part").options == [
        "Encoder self-attention",
        "Decoder self-attention",
        "Cross-attention (decoder to encoder)",
    ]
    at.radio(key="attn_part").set_value("cross")
    at.slider(key="attn_layer").set_value(1)
    at.run()
    lm = load("seq2seq", str(attn_t5_dir))
    tok = lm.tokenizer
    dec = [tok.pad_token_id] + tok(target, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        out = lm.model(
            input_ids=tok(text, return_tensors="pt")["input_ids"],
            decoder_input_ids=torch.tensor([dec]),
            output_attentions=True,
        )
    np.testing.assert_allclose(values(figure(at).data[0].z), out.cross_attentions[1][0].mean(0).numpy(), atol=1e-6)
    at.radio(key="attn_view").set_value("bertviz (interactive)")
    at.run()
    params = B.parse_bertviz_params(at.get("iframe")[0].proto.srcdoc)
    assert [d["name"] for d in params["attention"]] == ["Encoder", "Decoder", "Cross"]
    at.radio(key="attn_view").set_value("Layer by layer")
    at.run()
    assert not at.exception and any("causal and masked LMs" in i.value for i in at.info)


def test_markup_in_the_text_is_escaped():
    at = open_page(attn_view="bertviz (interactive)", attn_text='<b>bold</b> </script><img src=x onerror="alert(1)">')
    doc = at.get("iframe")[0].proto.srcdoc
    assert "<b>bold" not in doc and "<img src=x" not in doc


def test_presenter_mode_enlarges_the_charts():
    small, big = open_page(), open_page(presenter=True)
    assert figure(big).layout.font.size > figure(small).layout.font.size


def test_example_box_names_an_example_only_while_the_text_is_that_example():
    """After an edit the Example box kept saying 'Capital cities' for a text that no longer was it."""
    at = open_page()
    box = at.selectbox(key="attn_preset")
    assert box.value == "Capital cities" and at.text_area(key="attn_text").value == default_text()
    at.text_area(key="attn_text").set_value(default_text() + " And so on.").run()
    assert not at.exception
    assert at.selectbox(key="attn_preset").value is None  # the placeholder: "Your own text"
    assert at.selectbox(key="attn_preset").placeholder == "Your own text"
    at.selectbox(key="attn_preset").set_value("Capital cities").run()  # the same example again restores it
    assert at.text_area(key="attn_text").value == default_text()
    assert at.selectbox(key="attn_preset").value == "Capital cities"
    other = next(name for name in A.EXAMPLES if name != "Capital cities")
    at.selectbox(key="attn_preset").set_value(other).run()
    assert at.text_area(key="attn_text").value == A.EXAMPLES[other]
    assert not at.warning and not at.exception


def test_example_box_is_empty_for_a_linked_text(app_page):
    at = app_page(PAGE, query={"attn_text": "A text from a link."})
    assert at.text_area(key="attn_text").value == "A text from a link."
    assert at.selectbox(key="attn_preset").value is None
