"""A masked LM made from a causal LM: the same weights, read with bidirectional attention.

A decoder-only LM such as SmolLM2 is trained to predict the next token with a causal
(lower-triangular) attention mask. Giving its top blocks a full attention mask lets every
position see the words on both sides; a short masked next-token prediction (MNTP) training
then teaches those blocks to use the right-hand context (LLM2Vec, BehnamGhader et al. 2024):
a random 20% of the tokens are replaced by ``<mask>`` and the hidden state at position i-1,
which the causal LM already reads as "what comes next", predicts the hidden token i.

`BidirectionalLlamaForMaskedLM` is an ordinary masked LM from the outside: its logits at
position i are the prediction for token i, whatever the readout inside, and it returns the
real attention weights of every layer (lower-triangular below, full in the bidirectional
blocks). It is made from a loaded causal LM by `from_causal`, which shares every tensor of the
causal LM (they are never modified) and adds only low-rank (LoRA) updates to the linear
layers of the bidirectional blocks, so it costs a few megabytes next to the causal LM.
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import torch
from torch import nn
from transformers import LlamaForCausalLM
from transformers.modeling_outputs import MaskedLMOutput

MASK_TOKEN = "<mask>"
RESERVED_FOR_MASK = "<reponame>"  # an unused special token of SmolLM2's vocabulary (id 4), renamed
START_TOKEN = "<|endoftext|>"  # what SmolLM2 saw before every document: position 0 reads the first token
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
READOUTS = {
    "next": "the hidden state at i-1 predicts token i (MNTP)",
    "same": "the hidden state at i predicts token i (BERT)",
}
_KW = "bidirectional_mask"


# --------------------------------------------------------------------------- LoRA


def _lora_forward(module: nn.Linear, args: tuple, output: torch.Tensor) -> torch.Tensor:
    x = args[0]
    if torch.is_grad_enabled() or output.dtype != module.lora_A.dtype:
        return output + (x @ module.lora_A.t()) @ module.lora_B.t() * module.lora_scale
    # no gradient: added in place, in one product (a fifth of the pass's time went to these small updates)
    out = output.view(-1, output.shape[-1])
    out.addmm_(x.reshape(-1, x.shape[-1]) @ module.lora_A.t(), module.lora_B.t(), alpha=module.lora_scale)
    return output


def add_lora(linear: nn.Linear, rank: int, alpha: float | None = None, seed: int = 0) -> None:
    """Give a linear layer a low-rank update W + (alpha / r) B A, with B = 0 (no change at first).

    The update lives on the layer itself (``lora_A``, ``lora_B``), so parameter names stay
    those of the base model, and the base weight is left as it is (it may be shared).
    """
    gen = torch.Generator().manual_seed(seed)
    a = torch.empty(rank, linear.in_features)
    nn.init.kaiming_uniform_(a, a=math.sqrt(5), generator=gen)
    linear.lora_A = nn.Parameter(a)
    linear.lora_B = nn.Parameter(torch.zeros(linear.out_features, rank))
    linear.lora_scale = float(alpha if alpha is not None else rank) / rank
    linear.register_forward_hook(_lora_forward)


def lora_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    return {n: p for n, p in model.named_parameters() if ".lora_" in n}


def make_trainable_blocks(model: "BidirectionalLlamaForMaskedLM") -> None:
    """Give the bidirectional blocks weights of their own (copies), for full fine-tuning instead of LoRA."""
    for i in model.bidirectional_blocks:
        model.model.layers[i] = copy.deepcopy(model.model.layers[i])


def vocabulary_logits(weight: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
    """`states @ weight.T`: logits over the vocabulary. For a few rows (the blanks of one text) the
    product is taken as `weight @ states.T`, which reads the 49k x 576 matrix once for all of them
    (as `states @ weight.T` MKL's small-batch path took 4x longer at two rows); the same sums, in
    another order."""
    if states.dim() != 2 or not 0 < states.shape[0] <= 8 or torch.is_grad_enabled():
        return nn.functional.linear(states, weight)
    rows = states if states.shape[0] > 1 else torch.cat([states, states])  # one row: a matrix-vector
    return (weight @ rows.t()).t()[: states.shape[0]].contiguous()  # product, slower than two rows


# --------------------------------------------------------------------------- attention masks


def full_attention_mask(
    attention_mask: torch.Tensor | None, batch: int, length: int, dtype: torch.dtype
) -> torch.Tensor:
    """An additive (B, 1, T, T) mask in which every position sees every real (non-padding) token."""
    if attention_mask is None:
        return torch.zeros(batch, 1, length, length, dtype=dtype)
    keys = attention_mask[:, None, None, :].to(torch.bool)
    mask = torch.zeros(batch, 1, length, length, dtype=dtype)
    return mask.masked_fill(~keys, torch.finfo(dtype).min)


def _bidirectional_hook(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """Decoder-layer pre-hook: the bidirectional blocks take the full mask passed along the forward call."""
    full = kwargs.pop(_KW, None)
    if getattr(module, "bidirectional", False) and full is not None:
        kwargs["attention_mask"] = full.to(args[0].dtype if args else full.dtype)
    return args, kwargs


# --------------------------------------------------------------------------- the model


class BidirectionalLlamaForMaskedLM(LlamaForCausalLM):
    """A Llama causal LM whose top `config.bidirectional_layers` blocks attend in both directions,
    used as a masked LM (see the module docstring). Build it with `from_causal`."""

    _keys_to_ignore_on_load_unexpected = [r"lora_"]

    @classmethod
    def from_causal(
        cls,
        causal: LlamaForCausalLM,
        *,
        bidirectional_layers: int,
        mask_token_id: int,
        readout: str = "next",
        lora_rank: int = 16,
        lora_alpha: float | None = None,
        lora_targets: tuple[str, ...] = LORA_TARGETS,
        seed: int = 0,
    ) -> "BidirectionalLlamaForMaskedLM":
        """A masked LM on the tensors of `causal` (shared, never written): new modules, the same weights.

        ``lora_rank=0`` adds no update (the bidirectional blocks as they are, untrained).
        """
        n_layers = causal.config.num_hidden_layers
        if not 0 <= bidirectional_layers <= n_layers:
            raise ValueError(f"bidirectional_layers must be within 0..{n_layers}")
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {sorted(READOUTS)}")
        shared = {id(p): p for p in causal.parameters()}
        shared.update({id(b): b for b in causal.buffers()})
        model = copy.deepcopy(causal, memo=shared)
        model.__class__ = cls
        cfg = model.config
        cfg.architectures = [cls.__name__]
        cfg.bidirectional_layers = int(bidirectional_layers)
        cfg.readout = readout
        cfg.mask_token_id = int(mask_token_id)
        cfg.lora_rank = int(lora_rank)
        cfg.lora_alpha = float(lora_alpha if lora_alpha is not None else lora_rank)
        cfg.lora_targets = list(lora_targets)
        cfg.use_cache = False
        model.requires_grad_(False)
        first = n_layers - bidirectional_layers
        for i, layer in enumerate(model.model.layers):
            layer.bidirectional = i >= first
            layer.register_forward_pre_hook(_bidirectional_hook, with_kwargs=True)
            if layer.bidirectional and lora_rank > 0:
                for j, name in enumerate(lora_targets):
                    holder = layer.self_attn if hasattr(layer.self_attn, name) else layer.mlp
                    add_lora(getattr(holder, name), lora_rank, cfg.lora_alpha, seed=seed * 1000 + i * 10 + j)
        model.eval()
        return model

    # ----------------------------------------------------------------------- reading

    @property
    def bidirectional_blocks(self) -> list[int]:
        return [i for i, layer in enumerate(self.model.layers) if getattr(layer, "bidirectional", False)]

    def _shift(self, hidden: torch.Tensor) -> torch.Tensor:
        """The state that predicts each position: i-1 for the MNTP readout (position 0 keeps its own)."""
        if self.config.readout != "next" or hidden.shape[-2] < 2:
            return hidden
        return torch.cat([hidden[..., :1, :], hidden[..., :-1, :]], dim=-2)

    def _head(self, states: torch.Tensor) -> torch.Tensor:
        logits = vocabulary_logits(self.lm_head.weight, states)
        logits[..., self.config.mask_token_id] = -1e4  # the mask token is never an answer
        return logits

    def _encode(self, input_ids, attention_mask, inputs_embeds=None, **kwargs):
        ref = input_ids if input_ids is not None else inputs_embeds
        full = full_attention_mask(attention_mask, ref.shape[0], ref.shape[1], torch.float32)
        kwargs[_KW] = full
        return self.model(
            input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds, use_cache=False, **kwargs
        )

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        **kwargs: Any,
    ) -> MaskedLMOutput:
        """Logits (B, T, vocabulary) for every position, as a masked LM's. With `labels` (-100 where
        there is no loss), only the loss is computed, from the labelled positions alone."""
        for unused in (
            "position_ids",
            "past_key_values",
            "use_cache",
            "cache_position",
            "logits_to_keep",
            "return_dict",
            "token_type_ids",
        ):
            kwargs.pop(unused, None)
        out = self._encode(
            input_ids,
            attention_mask,
            inputs_embeds,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            **kwargs,
        )
        states = self._shift(out.last_hidden_state)
        if labels is not None:
            targets = labels != -100
            loss = nn.functional.cross_entropy(self._head(states[targets]).float(), labels[targets])
            return MaskedLMOutput(loss=loss, logits=None, hidden_states=out.hidden_states, attentions=out.attentions)
        return MaskedLMOutput(logits=self._head(states), hidden_states=out.hidden_states, attentions=out.attentions)

    def logits_at(
        self,
        input_ids: torch.Tensor,
        rows: torch.Tensor,
        cols: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits at the (row, column) pairs only: the 49k-token head is applied where it is read (from
        `input_ids`, or from `inputs_embeds` for a token attribution)."""
        states = self._shift(self._encode(input_ids, attention_mask, inputs_embeds).last_hidden_state)
        return self._head(states[rows, cols])

    def lens_readouts(self):
        """(intermediate, last) hidden state → logits at each position, for the logit lens."""
        norm = self.model.norm
        return (lambda h: self._head(norm(self._shift(h)))), (lambda h: self._head(self._shift(h)))

    def generate(self, *args, **kwargs):  # pragma: no cover - a masked LM does not generate
        raise TypeError("A masked LM fills in blanks; it does not generate text.")


# --------------------------------------------------------------------------- tokenizer


def masked_tokenizer(causal_tokenizer: Any, max_length: int = 2048):
    """The causal LM's tokenizer with a mask token and a start token: the same vocabulary and ids.

    ``<reponame>`` (a reserved, unused special token) is renamed ``<mask>``; it swallows the space
    before it (``lstrip``), so "gives us <mask>." hides the word " milk" as one token, as in
    training. Every text starts with ``<|endoftext|>``, as SmolLM2's documents did, so even the
    first word has a position before it to be predicted from.
    """
    from tokenizers import Tokenizer, processors
    from transformers import PreTrainedTokenizerFast

    data = json.loads(causal_tokenizer.backend_tokenizer.to_str())
    found = False
    for tok in data["added_tokens"]:
        if tok["content"] == RESERVED_FOR_MASK:
            tok.update(content=MASK_TOKEN, lstrip=True, special=True)
            found = True
    vocab = data["model"]["vocab"]
    if not found or RESERVED_FOR_MASK not in vocab:
        raise ValueError(f"the tokenizer has no reserved token {RESERVED_FOR_MASK!r} to turn into {MASK_TOKEN}")
    vocab[MASK_TOKEN] = vocab.pop(RESERVED_FOR_MASK)
    backend = Tokenizer.from_str(json.dumps(data))
    start_id = backend.token_to_id(START_TOKEN)
    backend.post_processor = processors.TemplateProcessing(
        single=f"{START_TOKEN} $A", pair=f"{START_TOKEN} $A $B:1", special_tokens=[(START_TOKEN, start_id)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=START_TOKEN,
        eos_token=causal_tokenizer.eos_token,
        pad_token=causal_tokenizer.pad_token or causal_tokenizer.eos_token,
        unk_token=START_TOKEN,
        mask_token=MASK_TOKEN,
        model_max_length=max_length,
        padding_side="right",
    )
