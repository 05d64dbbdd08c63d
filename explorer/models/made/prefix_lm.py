"""A span-corruption model made from a causal LM: the same weights under a prefix-LM attention mask.

T5 (Raffel et al. 2020, section 3.2) compares three attention masks on one transformer: causal (a
decoder: each token sees the ones before it), fully visible (an encoder) and causal with a prefix (a
"prefix LM": the input is read in both directions, the output is written left to right, each output
token seeing the whole input and the output before it). Trained on span corruption, a prefix LM
behaves like an encoder-decoder; UL2 (Tay et al. 2022) trains decoder-only models this way.

`PrefixLlamaForSpanCorruption` is SmolLM2 read with that mask. Its input is T5's corrupted text, the
dropped spans replaced by sentinels (``<extra_id_0>``, ``<extra_id_1>``, … new rows of the vocabulary,
trained with it); it writes the target ``<extra_id_0> span <extra_id_1> span … <extra_id_n>`` and then
``<|endoftext|>``. From the outside it answers as a seq2seq model does: `generate(input_ids=…)` returns
the generated target only. It is made from a loaded causal LM by `from_causal`, which shares every tensor
of the causal LM (never written) and adds LoRA updates and the sentinels' rows, a few megabytes.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers import LlamaForCausalLM
from transformers.modeling_outputs import CausalLMOutputWithPast

from explorer.models.made.bidirectional import LORA_TARGETS, add_lora

SENTINELS = 100  # T5's vocabulary has <extra_id_0> … <extra_id_99> (explorer.span.sentinels reads them back)
START_TOKEN = "<|endoftext|>"  # before every input, as before every SmolLM2 document; also ends the target
_KW = "prefix_mask"


# --------------------------------------------------------------------------- sentinel rows


class SentinelEmbedding(nn.Module):
    """The base embedding (shared) for ids below its size; the sentinels' own rows above it."""

    def __init__(self, base: nn.Embedding, extra: nn.Parameter):
        super().__init__()
        self.base = base
        self.extra = extra
        self.base_size = base.num_embeddings

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        new = ids >= self.base_size
        out = self.base(ids.clamp(max=self.base_size - 1))
        if bool(new.any()):
            rows = self.extra[(ids - self.base_size).clamp(min=0)]
            out = torch.where(new[..., None], rows.to(out.dtype), out)
        return out


class SentinelHead(nn.Module):
    """The base head's logits followed by the sentinels' (their rows tied to their embeddings, as the base's)."""

    def __init__(self, base: nn.Linear, extra: nn.Parameter):
        super().__init__()
        self.base = base
        self.extra = extra

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.base(states), states @ self.extra.t().to(states.dtype)], dim=-1)


# --------------------------------------------------------------------------- the mask


def prefix_lm_mask(
    prefix_lengths: torch.Tensor, attention_mask: torch.Tensor | None, length: int, dtype: torch.dtype
) -> torch.Tensor:
    """An additive (B, 1, T, T) mask: query i sees key j when j is in the row's prefix (both directions) or
    j <= i (left to right); padding is never seen (a padding query sees itself, so no row is empty)."""
    batch = prefix_lengths.shape[0]
    pos = torch.arange(length)
    allowed = (pos[None, :] <= pos[:, None])[None] | (pos[None, None, :] < prefix_lengths[:, None, None])
    if attention_mask is not None:
        allowed = allowed & attention_mask[:, None, :].to(torch.bool)
    allowed = allowed | torch.eye(length, dtype=torch.bool)[None]
    mask = torch.zeros(batch, 1, length, length, dtype=dtype)
    return mask.masked_fill(~allowed[:, None], torch.finfo(dtype).min)


def _prefix_hook(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """Decoder-layer pre-hook: every block takes the prefix-LM mask passed along the forward call."""
    mask = kwargs.pop(_KW, None)
    if mask is not None:
        kwargs["attention_mask"] = mask.to(args[0].dtype if args else mask.dtype)
    return args, kwargs


@dataclass
class Generated:
    """What `generate(..., return_dict_in_generate=True, output_scores=True)` returns, as transformers does."""

    sequences: torch.Tensor
    scores: tuple[torch.Tensor, ...]


# --------------------------------------------------------------------------- the model


class PrefixLlamaForSpanCorruption(LlamaForCausalLM):
    """SmolLM2 under a prefix-LM mask, with T5's sentinels (see the module docstring). Build it with `from_causal`."""

    _keys_to_ignore_on_load_unexpected = [r"lora_"]

    @classmethod
    def from_causal(
        cls,
        causal: LlamaForCausalLM,
        *,
        sentinels: int = SENTINELS,
        lora_rank: int = 16,
        lora_alpha: float | None = None,
        lora_targets: tuple[str, ...] = LORA_TARGETS,
        seed: int = 0,
    ) -> "PrefixLlamaForSpanCorruption":
        """A span-corruption model on the tensors of `causal` (shared, never written): new modules, the same
        weights, plus LoRA updates in every block and `sentinels` new vocabulary rows."""
        shared = {id(p): p for p in causal.parameters()}
        shared.update({id(b): b for b in causal.buffers()})
        model = copy.deepcopy(causal, memo=shared)
        model.__class__ = cls
        cfg = model.config
        base_size = model.model.embed_tokens.num_embeddings
        cfg.architectures = [cls.__name__]
        cfg.base_vocab_size = int(base_size)
        cfg.sentinels = int(sentinels)
        cfg.vocab_size = int(base_size + sentinels)
        cfg.lora_rank = int(lora_rank)
        cfg.lora_alpha = float(lora_alpha if lora_alpha is not None else lora_rank)
        cfg.lora_targets = list(lora_targets)
        cfg.use_cache = True
        model.requires_grad_(False)
        weight = causal.model.embed_tokens.weight.detach()
        gen = torch.Generator().manual_seed(seed)
        rows = weight.mean(0) + weight.std(0) * torch.randn(sentinels, weight.shape[1], generator=gen)
        extra = nn.Parameter(rows.to(weight.dtype))
        model.model.embed_tokens = SentinelEmbedding(model.model.embed_tokens, extra)
        model.lm_head = SentinelHead(model.lm_head, extra)
        for i, layer in enumerate(model.model.layers):
            layer.register_forward_pre_hook(_prefix_hook, with_kwargs=True)
            for j, name in enumerate(lora_targets if lora_rank > 0 else ()):
                holder = layer.self_attn if hasattr(layer.self_attn, name) else layer.mlp
                add_lora(getattr(holder, name), lora_rank, cfg.lora_alpha, seed=seed * 1000 + i * 10 + j)
        model.eval()
        return model

    def get_input_embeddings(self) -> nn.Module:
        return self.model.embed_tokens

    def get_output_embeddings(self) -> nn.Module:
        return self.lm_head

    @property
    def sentinel_rows(self) -> nn.Parameter:
        return self.model.embed_tokens.extra

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        prefix_lengths: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        past_key_values: Any = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        **kwargs: Any,
    ) -> CausalLMOutputWithPast:
        """Logits (B, T, vocabulary + sentinels): position i predicts token i + 1, as a causal LM's.

        `prefix_lengths` (B,): how many tokens of each row are the input, read in both directions; without
        it and without a cache the whole text is the input (what `generate` reads first). A call with a cache
        continues left to right. With `labels` (-100 where there is no loss), the loss of the next token."""
        keep = int(kwargs.pop("logits_to_keep", 0) or 0)  # the last `keep` positions' logits only (0: all)
        for unused in ("position_ids", "cache_position", "return_dict", "token_type_ids"):
            kwargs.pop(unused, None)
        length = input_ids.shape[1]
        continuing = past_key_values is not None and past_key_values.get_seq_length() > 0
        if not continuing:
            if prefix_lengths is None:
                prefix_lengths = torch.full((input_ids.shape[0],), length)
            kwargs[_KW] = prefix_lm_mask(prefix_lengths, attention_mask, length, torch.float32)
        out = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            past_key_values=past_key_values,
            use_cache=bool(use_cache),
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            **kwargs,
        )
        hidden = out.last_hidden_state
        if labels is not None:
            targets = labels[:, 1:] != -100
            states = hidden[:, :-1][targets]
            loss = nn.functional.cross_entropy(self.lm_head(states).float(), labels[:, 1:][targets])
            return CausalLMOutputWithPast(loss=loss, logits=None)
        return CausalLMOutputWithPast(
            logits=self.lm_head(hidden[:, -keep:] if keep else hidden),
            past_key_values=out.past_key_values,
            hidden_states=out.hidden_states,
            attentions=out.attentions,
        )

    @torch.no_grad()
    def generate(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        max_new_tokens: int = 32,
        do_sample: bool = False,
        num_beams: int = 1,
        return_dict_in_generate: bool = False,
        output_scores: bool = False,
        **unused: Any,
    ):
        """Greedy decoding of the target after the input, as a seq2seq model's `generate`: the returned ids are
        the generated target only (up to and including ``<|endoftext|>``), one row per input row."""
        from transformers import DynamicCache

        if do_sample or num_beams != 1:
            raise ValueError("This model decodes greedily (do_sample=False, num_beams=1).")
        stop = self.config.eos_token_id
        rows, all_scores = [], []
        for r in range(input_ids.shape[0]):
            ids = input_ids[r : r + 1]
            if attention_mask is not None:
                ids = ids[:, attention_mask[r].to(torch.bool)]
            cache = DynamicCache()
            out = self(input_ids=ids, past_key_values=cache, use_cache=True, logits_to_keep=1)
            logits, made, scores = out.logits[0, -1], [], []
            for _ in range(int(max_new_tokens)):
                scores.append(logits)
                nxt = int(logits.argmax())
                made.append(nxt)
                if nxt == stop:
                    break
                out = self(input_ids=torch.tensor([[nxt]]), past_key_values=cache, use_cache=True, logits_to_keep=1)
                logits = out.logits[0, -1]
            rows.append(made)
            all_scores.append(scores)
        width = max(len(m) for m in rows)
        pad = self.config.pad_token_id if isinstance(self.config.pad_token_id, int) else stop
        sequences = torch.tensor([m + [pad] * (width - len(m)) for m in rows], dtype=torch.long)
        if not return_dict_in_generate:
            return sequences
        steps = tuple(
            torch.stack([s[t] if t < len(s) else torch.full_like(s[0], -math.inf) for s in all_scores])
            for t in range(width)
        )
        return Generated(sequences, steps if output_scores else ())


# --------------------------------------------------------------------------- tokenizer


def span_tokenizer(causal_tokenizer: Any, sentinels: int = SENTINELS, max_length: int = 2048):
    """The causal LM's tokenizer plus T5's sentinels as new special tokens (ids after the vocabulary, in
    order), each taking the space before it; every text starts with ``<|endoftext|>``, which also ends
    a target."""
    from tokenizers import AddedToken, Tokenizer, processors
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer.from_str(causal_tokenizer.backend_tokenizer.to_str())
    size = backend.get_vocab_size(with_added_tokens=True)
    backend.add_special_tokens([AddedToken(f"<extra_id_{n}>", lstrip=True, special=True) for n in range(sentinels)])
    if backend.token_to_id("<extra_id_0>") != size:
        raise ValueError("the sentinels did not take the ids after the vocabulary")
    start_id = backend.token_to_id(START_TOKEN)
    backend.post_processor = processors.TemplateProcessing(
        single=f"{START_TOKEN} $A", pair=f"{START_TOKEN} $A $B:1", special_tokens=[(START_TOKEN, start_id)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=START_TOKEN,
        eos_token=START_TOKEN,
        pad_token=START_TOKEN,
        unk_token=START_TOKEN,
        model_max_length=max_length,
        padding_side="right",
    )


def configure(model: PrefixLlamaForSpanCorruption, tokenizer: Any) -> None:
    """The model's special ids are the span tokenizer's."""
    model.config.eos_token_id = tokenizer.eos_token_id
    model.config.bos_token_id = tokenizer.bos_token_id
    model.config.pad_token_id = tokenizer.pad_token_id
