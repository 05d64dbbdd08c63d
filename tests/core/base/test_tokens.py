from __future__ import annotations

from types import SimpleNamespace

import pytest

from explorer import ExplorerError
from explorer.tokens import NO_LIMIT, clean_text, encode, max_positions, model_max_tokens, word_groups, word_text


def test_empty_and_whitespace_text_refused(minilm_tokenizer):
    for bad in ("", "   \n", None, "\x00\x01"):
        with pytest.raises(ExplorerError, match="empty"):
            encode(minilm_tokenizer, bad)


def test_long_text_is_cut_with_the_limit_said(minilm_tokenizer):
    enc = encode(minilm_tokenizer, "word " * 300, max_tokens=20)
    assert len(enc.ids) == 20 and enc.truncated and enc.original_length == 302
    assert enc.ids[-1] == minilm_tokenizer.sep_token_id
    assert "limit here is 20" in enc.notes[0]


def test_odd_unicode_is_handled(minilm_tokenizer, smollm2_tokenizer):
    text = "Cafe\u0301 🤖 日本語 \u202eabc"
    assert clean_text(text).startswith("Café")
    enc = encode(minilm_tokenizer, text)
    assert enc.pieces[0] == "[CLS]" and "[UNK]" in enc.pieces
    enc2 = encode(smollm2_tokenizer, text, add_special_tokens=False)
    assert smollm2_tokenizer.decode(enc2.ids) == clean_text(text)


def test_word_groups_align_subwords(minilm_tokenizer):
    enc = encode(minilm_tokenizer, "An unbelievably tall giraffe")
    groups = word_groups(enc)
    pieces = [enc.pieces[i] for i in groups[1]]
    assert pieces[0] == "un" and all(p.startswith("##") for p in pieces[1:])
    assert word_text(enc, groups[1]) == "unbelievably"
    assert enc.special[0] and enc.special[-1]


def test_a_text_over_a_box_limit_is_cut_with_the_limit_said():
    from explorer.tokens import cut_to_limit

    assert cut_to_limit("short", 10) == ("short", None)
    cut, message = cut_to_limit("é" * 12, 10, "sentence")
    assert cut == "é" * 10 and message.startswith("The sentence had 12 characters; this box takes up to 10")


def test_one_rule_for_how_many_tokens_a_model_reads():
    def model(**config):
        return SimpleNamespace(config=SimpleNamespace(**config))

    roberta, tok512 = model(max_position_embeddings=514), SimpleNamespace(model_max_length=512)
    assert max_positions(roberta) == 514 and max_positions(roberta, tok512) == 512  # the tokenizer lowers it
    assert max_positions(model(n_positions=128)) == 128 and max_positions(model(n_ctx=64)) == 64
    assert max_positions(model(max_position_embeddings=256, n_positions=1024)) == 256  # the first field set
    unset = SimpleNamespace(model_max_length=int(1e30))  # a tokenizer that sets no limit
    assert max_positions(model(), unset) == NO_LIMIT and max_positions(model(), unset, default=512) == 512
    assert max_positions(None, tok512) == 512
    wrapper = SimpleNamespace(config=None, encoder=model(max_position_embeddings=512))  # a classifier around an encoder
    assert max_positions(wrapper) == 512
    assert model_max_tokens(tok512, roberta) == 512 and model_max_tokens(tok512, roberta, cap=128) == 128
