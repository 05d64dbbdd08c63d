"""The masked LM made from a causal LM: tiny Llamas built here, then the real packaged artefact."""

from __future__ import annotations

import pytest
import torch

from explorer import load, mlm
from explorer.errors import ExplorerError
from explorer.models.made import bidirectional_artifact
from explorer.models.made.bidirectional import (
    BidirectionalLlamaForMaskedLM,
    full_attention_mask,
    lora_parameters,
    make_trainable_blocks,
    masked_tokenizer,
)


def _state(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def tiny_causal(tiny_clm_dir):
    return load("clm", str(tiny_clm_dir))


@pytest.fixture(scope="module")
def tiny_masked(tiny_bidir_dir):
    return load("mlm", str(tiny_bidir_dir))


def reference_logits(causal_model, ids: torch.Tensor, bidirectional: int, lora: dict | None = None) -> torch.Tensor:
    """The masked LM computed by hand from the causal LM's modules: each block run with a lower-triangular
    mask or a zero (full) mask, LoRA updates added to the linear layers, states shifted by one (MNTP)."""
    base = causal_model.model
    T = ids.shape[1]
    h = base.embed_tokens(ids)
    pos = torch.arange(T)[None]
    rope = base.rotary_emb(h, position_ids=pos)
    causal = torch.full((T, T), torch.finfo(torch.float32).min).triu(1)[None, None]
    full = torch.zeros(1, 1, T, T)
    handles = []
    for name, (a, b, scale) in (lora or {}).items():
        mod = causal_model.get_submodule(name)
        handles.append(mod.register_forward_hook(lambda m, i, o, a=a, b=b, s=scale: o + i[0] @ a.t() @ b.t() * s))
    try:
        first = len(base.layers) - bidirectional
        for i, layer in enumerate(base.layers):
            h = layer(h, attention_mask=full if i >= first else causal, position_embeddings=rope, position_ids=pos)
    finally:
        for hd in handles:
            hd.remove()
    h = base.norm(h)
    h = torch.cat([h[:, :1], h[:, :-1]], dim=1)
    return causal_model.lm_head(h)


def test_masked_positions_equal_a_hand_computed_pass(tiny_causal, tiny_masked):
    model = tiny_masked.model
    enc = mlm.encode_text(tiny_masked, "The dog [MASK] at the postman every single morning.")
    ids = torch.tensor([enc.ids])
    lora = {n.rsplit(".lora_", 1)[0]: None for n in lora_parameters(model)}
    params = dict(model.named_parameters())
    lora = {n: (params[n + ".lora_A"], params[n + ".lora_B"], model.get_submodule(n).lora_scale) for n in lora}
    assert lora and all(float(b.abs().sum()) > 0 for _, b, _ in lora.values())  # the updates matter
    with torch.no_grad():
        ref = reference_logits(tiny_causal.model, ids, 1, lora)
        out = model(input_ids=ids).logits
    mask = tiny_masked.tokenizer.mask_token_id
    keep = torch.arange(ref.shape[-1]) != mask
    assert torch.allclose(out[..., keep], ref[..., keep], atol=1e-5)
    # fill-mask reads the head only at the blank (logits_at), with the same numbers
    fill = mlm.fill_mask(tiny_masked, enc, [], k=5)
    p = fill.predictions[0].position
    probs = torch.softmax(out[0, p], -1)
    assert fill.predictions[0].top_ids == probs.topk(5).indices.tolist()
    assert fill.predictions[0].top_probs == pytest.approx(probs.topk(5).values.tolist(), rel=1e-5)


def test_no_bidirectional_block_is_the_causal_lm_read_one_position_later(tiny_causal):
    tok = masked_tokenizer(tiny_causal.tokenizer)
    m = BidirectionalLlamaForMaskedLM.from_causal(
        tiny_causal.model, bidirectional_layers=0, mask_token_id=tok.mask_token_id, lora_rank=0
    )
    ids = torch.tensor([tok("Bees make honey in the hive.").input_ids])
    with torch.no_grad():
        a, b = m(input_ids=ids).logits, tiny_causal.model(input_ids=ids).logits
    keep = torch.arange(a.shape[-1]) != tok.mask_token_id
    assert torch.allclose(a[0, 1:][:, keep], b[0, :-1][:, keep], atol=1e-5)


def test_attention_is_causal_below_and_full_in_the_bidirectional_blocks(tiny_masked):
    enc = mlm.encode_text(tiny_masked, "She cut the bread with a [MASK].")
    with torch.no_grad():
        att = tiny_masked.model(input_ids=torch.tensor([enc.ids]), output_attentions=True).attentions
    assert len(att) == 2
    assert float(att[0][0].triu(1).abs().sum()) == 0  # block 1: nothing after a position
    assert float(att[1][0].triu(1).amin(0).triu(1).sum()) > 0  # block 2: every later position seen
    assert tiny_masked.extra["bidirectional_blocks"] == [1]


def test_padding_changes_nothing(tiny_masked):
    tok, model = tiny_masked.tokenizer, tiny_masked.model
    texts = ["The cow gives us <mask>.", "Bees make <mask> in the hive every day of the year."]
    batch = tok(texts, return_tensors="pt", padding=True)
    assert int(batch["attention_mask"].sum()) < batch["attention_mask"].numel()
    with torch.no_grad():
        padded = model(**batch).logits
        alone = model(input_ids=torch.tensor([tok(texts[0]).input_ids])).logits
    assert torch.allclose(padded[0, : alone.shape[1]], alone[0], atol=1e-5)
    m = full_attention_mask(batch["attention_mask"], 2, batch["input_ids"].shape[1], torch.float32)
    assert m.shape == (2, 1, batch["input_ids"].shape[1], batch["input_ids"].shape[1]) and float(m.min()) < -1e30


def test_tokenizer_has_a_real_mask_token_and_a_start_token(smollm2_tokenizer):
    tok = masked_tokenizer(smollm2_tokenizer)
    assert tok.mask_token == "<mask>" and tok.mask_token_id == smollm2_tokenizer.convert_tokens_to_ids("<reponame>")
    ids = tok("The cow gives us <mask>.").input_ids
    plain = smollm2_tokenizer("The cow gives us milk.").input_ids
    assert ids[0] == tok.bos_token_id == smollm2_tokenizer.convert_tokens_to_ids("<|endoftext|>")
    # the same ids as the causal LM's tokenizer; the blank swallows the space before it, as " milk" would
    assert ids[1:] == plain[:4] + [tok.mask_token_id] + plain[5:]
    assert len(tok) == len(smollm2_tokenizer)


def test_sharing_and_training_leave_the_causal_lm_bit_identical(tiny_clm_dir, tiny_bidir_dir):
    from explorer.training.modelling import private_copy

    causal = load("clm", str(tiny_clm_dir))
    before = _state(causal.model)
    model, tok, _, _ = bidirectional_artifact.load(causal.model, causal.tokenizer, tiny_bidir_dir)
    masked = type(causal)(model, tok, causal.info)
    assert masked.model.model.embed_tokens.weight is causal.model.model.embed_tokens.weight
    assert masked.model.model.layers[0].mlp.up_proj.weight is causal.model.model.layers[0].mlp.up_proj.weight
    losses = training_losses(masked, private_copy(masked.model, layers=1))
    assert losses[-1] < losses[0]
    assert _same(before, _state(causal.model))


def training_losses(masked, copy, steps: int = 5) -> list[float]:
    """A few masked-LM training steps of `copy` (a private copy of `masked`'s model) on one sentence."""
    opt = torch.optim.AdamW([p for p in copy.parameters() if p.requires_grad], lr=1e-2)
    enc = mlm.encode_text(masked, "The dog barked at the postman.")
    labels = torch.full((1, len(enc.ids)), -100)
    labels[0, 2] = enc.ids[2]
    ids = torch.tensor([enc.ids])
    ids[0, 2] = masked.tokenizer.mask_token_id
    losses = []
    for _ in range(steps):
        loss = copy(input_ids=ids, labels=labels).loss
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return losses


def test_full_block_training_copies_the_blocks(tiny_causal):
    tok = masked_tokenizer(tiny_causal.tokenizer)
    m = BidirectionalLlamaForMaskedLM.from_causal(
        tiny_causal.model, bidirectional_layers=1, mask_token_id=tok.mask_token_id, lora_rank=0
    )
    make_trainable_blocks(m)
    assert m.model.layers[1].mlp.up_proj.weight is not tiny_causal.model.model.layers[1].mlp.up_proj.weight
    assert m.model.layers[0].mlp.up_proj.weight is tiny_causal.model.model.layers[0].mlp.up_proj.weight
    names = set(bidirectional_artifact.trained_tensors(m))
    assert names and all(n.startswith("model.layers.1.") for n in names)


def test_artefact_round_trip(tmp_path, tiny_causal, tiny_masked, tiny_clm_dir):
    path = bidirectional_artifact.save(tiny_masked.model, tmp_path / "again", base_model=str(tiny_clm_dir))
    again = load("mlm", str(path))
    ids = torch.tensor([mlm.encode_text(tiny_masked, "A [MASK] of tea.").ids])
    with torch.no_grad():
        assert torch.equal(again.model(input_ids=ids).logits, tiny_masked.model(input_ids=ids).logits)
    (path / "delta.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(ExplorerError):
        load("mlm", str(path))


def test_bad_input_is_handled_like_any_masked_lm(tiny_masked):
    with pytest.raises(ExplorerError):
        mlm.encode_text(tiny_masked, "   ")
    enc = mlm.encode_text(tiny_masked, "No blank here.")
    with pytest.raises(ExplorerError, match="Nothing is masked"):
        mlm.fill_mask(tiny_masked, enc, [])
    long = mlm.encode_text(tiny_masked, "word " * 400)
    assert len(long.ids) <= mlm.MAX_TOKENS and long.notes
    for text in ("I love 🍕 and [MASK].", "Le café est <MASK> ici.", "ein [mask] und noch ein <mask>"):
        enc = mlm.encode_text(tiny_masked, text)
        blanks = mlm.typed_masks(enc, tiny_masked.tokenizer)
        assert blanks
        fill = mlm.fill_mask(tiny_masked, enc, [])
        assert [p.position for p in fill.predictions] == blanks and all(p.loss is None for p in fill.predictions)
    enc = mlm.encode_text(tiny_masked, "The cat sat on the mat.")
    pll = mlm.pseudo_log_likelihood(tiny_masked, enc)
    assert len(pll.positions) == len(enc.content_positions) and pll.pseudo_perplexity > 1


# --------------------------------------------------------------------------- the packaged artefact


@pytest.fixture(scope="module")
def real():
    return load("mlm"), load("clm")


def test_default_masked_lm_is_smollm2_read_both_ways_and_shares_its_weights(real):
    masked, causal = real
    assert masked.info.model_id == "ssl-explorer-smollm2-mlm" and masked.info.source == "project"
    assert masked.extra["shares_weights_with"] == causal.info.model_id
    shared = dict(causal.model.named_parameters())
    own = dict(masked.model.named_parameters())
    assert all(own[n] is p for n, p in shared.items())  # every causal-LM tensor is the same object
    extra = sum(p.numel() for n, p in own.items() if n not in shared)
    assert 0 < extra < 10_000_000  # only the LoRA updates are its own
    path = bidirectional_artifact.default_dir()
    assert sum(f.stat().st_size for f in path.iterdir()) < 25 * 1024 * 1024
    card = masked.extra["card"]
    for needed in ("SmolLM2-135M-Instruct", "WordNet", "licence", "top-5", "held out", "development set", "LoRA"):
        assert needed in card, needed


def test_both_sides_beat_the_left_only_reading_on_held_out_sentences(real):
    from bench.cloze import SETS, evaluate, load_items

    masked, causal = real
    items = load_items(SETS["heldout"][0])
    both = evaluate(masked.model, masked.tokenizer, items)["overall"]
    left = evaluate(causal.model, causal.tokenizer, items, left_only=True)["overall"]
    assert both["top5"] > left["top5"] + 0.15 and both["top1"] > left["top1"] + 0.1


def test_everyday_blanks_are_filled(real):
    masked, _ = real
    cases = {
        "The cow gives us [MASK].": "milk",
        "Bees make [MASK].": "honey",
        "She cut the bread with a [MASK].": "knife",
        "Paris is the [MASK] of France.": "capital",
    }
    for text, answer in cases.items():
        fill = mlm.fill_mask(masked, mlm.encode_text(masked, text), [], k=5)
        guesses = [p.strip("␣ ").lower() for p in fill.predictions[0].top_pieces]
        assert answer in guesses, (text, guesses)


def test_loading_the_masked_lm_leaves_the_causal_lm_bit_identical(smollm2):
    from explorer.models.catalogue import SMOLLM2_MLM
    from explorer.models.loader import load_bidirectional

    before = _state(smollm2.model)
    again = load_bidirectional(None, SMOLLM2_MLM, None)
    with torch.no_grad():
        again.model(input_ids=torch.tensor([mlm.encode_text(again, "A [MASK] day.").ids]))
    assert _same(before, _state(smollm2.model))


def test_a_folder_of_a_made_masked_lm_is_named_without_its_server_path(tiny_bidir_dir):
    import explorer

    lm = explorer.load("mlm", str(tiny_bidir_dir))
    assert lm.info.name == f"{tiny_bidir_dir.name} (local folder)" and str(tiny_bidir_dir.parent) not in lm.info.name
