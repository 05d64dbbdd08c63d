"""Matrix products in bfloat16 (explorer.models.made.bfloat16) and the masked LM that uses them where the CPU can."""

from __future__ import annotations

import threading

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from explorer import load, mlm
from explorer.models.made import bfloat16
from explorer.models.made.bidirectional import _lora_forward, add_lora, vocabulary_logits


def _reference(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    out = F.linear(x.to(torch.bfloat16), w.to(torch.bfloat16)).to(torch.float32)
    return out if b is None else out + b


def test_cpu_flags_decide_and_the_setting_overrides(tmp_path, monkeypatch):
    with_bf16, without = tmp_path / "a", tmp_path / "b"
    with_bf16.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n")
    without.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni\n")
    assert bfloat16.native_bfloat16.__wrapped__(str(with_bf16))
    assert not bfloat16.native_bfloat16.__wrapped__(str(without))
    assert not bfloat16.native_bfloat16.__wrapped__(str(tmp_path / "missing"))
    monkeypatch.setenv(bfloat16.ENV, "1")
    assert bfloat16.enabled()
    monkeypatch.setenv(bfloat16.ENV, "0")
    assert not bfloat16.enabled()
    monkeypatch.setenv(bfloat16.ENV, "")
    assert bfloat16.enabled() == bfloat16.native_bfloat16()


def test_a_layer_multiplies_in_bfloat16_without_gradients_and_in_float32_with_them():
    torch.manual_seed(0)
    layer = nn.Linear(48, 80)
    weight = layer.weight.detach().clone()
    x = torch.randn(3, 5, 48)
    exact = layer(x).detach()
    assert bfloat16.use_bfloat16_products([layer]) == 1 and isinstance(layer, bfloat16.BFloat16ProductsLinear)
    with torch.no_grad():
        out = layer(x)
    assert out.dtype == torch.float32 and torch.equal(out, _reference(x, layer.weight, layer.bias))
    assert not torch.equal(out, exact) and torch.allclose(out, exact, atol=0.05)  # rounded, close
    assert torch.equal(layer(x), exact)  # autograd on: the float32 product, gradients flow
    assert torch.equal(layer.weight.detach(), weight)  # the weight itself is never written


def test_inference_mode_and_no_grad_calls_mix_in_one_thread():
    """A thread whose first call ran in inference mode (its buffer made there) still works without it."""
    torch.manual_seed(0)
    layer = nn.Linear(16, 32)
    bfloat16.use_bfloat16_products([layer])
    x = torch.randn(2, 16)
    out, errors = [], []

    def calls():  # a new thread: its buffer is made by its first call
        try:
            with torch.inference_mode():
                out.append(layer(x))
            with torch.no_grad():
                out.append(layer(x))
            with torch.inference_mode():
                out.append(layer(x))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    t = threading.Thread(target=calls)
    t.start()
    t.join()
    assert not errors and len(out) == 3 and torch.equal(out[0], out[1]) and torch.equal(out[1], out[2])


def test_each_thread_rounds_into_its_own_buffer():
    torch.manual_seed(0)
    layers = [nn.Linear(64, 96, bias=False), nn.Linear(96, 32, bias=False), nn.Linear(32, 200, bias=False)]
    bfloat16.use_bfloat16_products(layers)
    x = torch.randn(7, 64)

    def chain(inp):
        for layer in layers:
            inp = layer(inp)
        return inp

    with torch.no_grad():
        expected = _reference(_reference(_reference(x, layers[0].weight), layers[1].weight), layers[2].weight)
        assert torch.equal(chain(x), expected)  # shapes that grow and shrink reuse the buffer safely
        results, errors = [], []

        def work():
            try:
                with torch.no_grad():
                    for _ in range(200):
                        results.append(torch.equal(chain(x), expected))
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors and len(results) == 600 and all(results)


def test_low_rank_updates_without_gradients_add_the_same_in_place():
    torch.manual_seed(0)
    layer = nn.Linear(40, 24, bias=False)
    add_lora(layer, rank=4, alpha=8)
    with torch.no_grad():
        layer.lora_B.normal_()
    x = torch.randn(2, 6, 40)
    with_grad = layer(x)
    with torch.no_grad():
        without = layer(x)
    assert torch.allclose(without, with_grad.detach(), atol=1e-6)
    assert not torch.allclose(without, F.linear(x, layer.weight), atol=1e-3)  # the update is there
    out = F.linear(x, layer.weight)
    with torch.no_grad():
        assert torch.allclose(_lora_forward(layer, (x,), out.clone()), with_grad.detach(), atol=1e-6)


@pytest.mark.parametrize("rows", [1, 2, 3, 8, 9, 20])
def test_vocabulary_logits_at_a_few_rows_equal_the_plain_product(rows):
    torch.manual_seed(rows)
    weight, states = torch.randn(5000, 64), torch.randn(rows, 64)
    with torch.no_grad():
        out = vocabulary_logits(weight, states)
    assert out.shape == (rows, 5000) and out.is_contiguous()
    assert torch.allclose(out, F.linear(states, weight), atol=1e-4)


# --------------------------------------------------------------------------- the masked LM


def _hand_computed(causal_model, ids, lora_of, products):
    """The tiny masked LM by hand from the causal LM's modules: the top block with a full mask, every
    linear layer of it computed by `products`, LoRA updates added in float32, states shifted by one."""
    base = causal_model.model
    T = ids.shape[1]
    h = base.embed_tokens(ids)
    pos = torch.arange(T)[None]
    rope = base.rotary_emb(h, position_ids=pos)
    masks = [torch.full((T, T), torch.finfo(torch.float32).min).triu(1)[None, None], torch.zeros(1, 1, T, T)]
    handles = []
    for name, (a, b, scale) in lora_of.items():
        mod = causal_model.get_submodule(name)
        handles.append(
            mod.register_forward_hook(
                lambda m, i, o, a=a, b=b, s=scale: products(i[0], m.weight) + i[0] @ a.t() @ b.t() * s
            )
        )
    try:
        for i, layer in enumerate(base.layers):
            h = layer(h, attention_mask=masks[i], position_embeddings=rope, position_ids=pos)
    finally:
        for handle in handles:
            handle.remove()
    h = base.norm(h)
    return causal_model.lm_head(torch.cat([h[:, :1], h[:, :-1]], dim=1))


def test_the_masked_lm_uses_bfloat16_products_in_its_bidirectional_blocks_only(
    tiny_clm_dir, tiny_bidir_dir, monkeypatch
):
    from tests.core.models.test_bidirectional import _same, _state

    causal = load("clm", str(tiny_clm_dir))
    before = _state(causal.model)
    monkeypatch.setenv(bfloat16.ENV, "1")
    fast = load("mlm", str(tiny_bidir_dir))
    monkeypatch.setenv(bfloat16.ENV, "0")
    exact = load("mlm", str(tiny_bidir_dir))
    assert fast.extra["products"] == "bfloat16" and exact.extra["products"] == "float32"
    assert "bfloat16" in fast.info.note and "bfloat16" not in exact.info.note
    kinds = {n: type(m) for n, m in fast.model.named_modules() if isinstance(m, nn.Linear)}
    assert all((t is bfloat16.BFloat16ProductsLinear) == n.startswith("model.layers.1.") for n, t in kinds.items())
    assert not bfloat16.uses_bfloat16_products(exact.model)

    enc = mlm.encode_text(fast, "The dog [MASK] at the postman every single morning.")
    ids = torch.tensor([enc.ids])
    params = dict(fast.model.named_parameters())
    lora_of = {n.rsplit(".lora_", 1)[0]: None for n in params if ".lora_" in n}
    lora_of = {
        n: (params[n + ".lora_A"], params[n + ".lora_B"], fast.model.get_submodule(n).lora_scale) for n in lora_of
    }
    keep = torch.arange(len(fast.tokenizer)) != fast.tokenizer.mask_token_id
    with torch.no_grad():
        out = fast.model(input_ids=ids).logits
        ref = _hand_computed(causal.model, ids, lora_of, _reference)
        assert torch.allclose(out[..., keep], ref[..., keep], atol=1e-4)
        plain = exact.model(input_ids=ids).logits
    assert not torch.equal(out, plain) and torch.allclose(out[..., keep], plain[..., keep], atol=0.02)
    # fill-mask reads the head at the blank only: the same numbers as the whole pass of this same module
    fill = mlm.fill_mask(fast, enc, [], k=5)
    probs = torch.softmax(out[0, fill.predictions[0].position], -1)
    assert fill.predictions[0].top_ids == probs.topk(5).indices.tolist()
    assert fill.predictions[0].top_probs == pytest.approx(probs.topk(5).values.tolist(), rel=1e-5)
    assert _same(before, _state(causal.model))  # the shared causal LM is untouched


def test_continued_training_of_a_bfloat16_masked_lm_learns_in_float32(tiny_clm_dir, tiny_bidir_dir, monkeypatch):
    from explorer.training.modelling import private_copy
    from tests.core.models.test_bidirectional import _same, _state, training_losses

    causal = load("clm", str(tiny_clm_dir))
    before = _state(causal.model)
    monkeypatch.setenv(bfloat16.ENV, "1")
    fast = load("mlm", str(tiny_bidir_dir))
    losses = training_losses(fast, private_copy(fast.model, layers=1))
    assert losses[-1] < losses[0]
    monkeypatch.setenv(bfloat16.ENV, "0")
    exact = load("mlm", str(tiny_bidir_dir))
    assert training_losses(exact, private_copy(exact.model, layers=1), steps=1)[0] == losses[0]  # float32 alike
    assert _same(before, _state(causal.model))


def test_the_packaged_masked_lm_in_bfloat16_agrees_with_float32_on_development_sentences(monkeypatch):
    """On every CPU: the setting forces the bfloat16 products, which torch computes without the
    instructions too (more slowly), so the agreement is checked here whatever the machine."""
    from pathlib import Path

    from bench.cloze import load_items
    from explorer.mlm.predictions import log_probs_at
    from explorer.models.catalogue import SMOLLM2_MLM
    from explorer.models.loader import load_bidirectional

    models = {}
    for flag in ("0", "1"):
        monkeypatch.setenv(bfloat16.ENV, flag)
        models[flag] = load_bidirectional(None, SMOLLM2_MLM, None)
    assert models["1"].extra["products"] == "bfloat16"
    tok = models["0"].tokenizer
    items = load_items(Path(__file__).resolve().parents[3] / "bench" / "cloze_dev.tsv")[:40]
    kl, same = [], 0
    for item in items:
        ids = tok(item.sentence.replace("[MASK]", tok.mask_token))["input_ids"]
        pos = torch.tensor([ids.index(tok.mask_token_id)])
        a, b = (
            log_probs_at(models[f].model, torch.tensor([ids]), torch.zeros(1, dtype=torch.long), pos)[0]
            for f in ("0", "1")
        )
        kl.append(float((a.exp() * (a - b)).sum()))
        same += int(a.argmax() == b.argmax())
    assert sum(kl) / len(kl) < 1e-3 and max(kl) < 1e-2 and same >= len(items) - 1, (sum(kl) / len(kl), same)
