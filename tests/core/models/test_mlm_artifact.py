"""The project's own masked LM: the artefact, the cloze benchmark and the build scripts."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from explorer import load
from explorer.models.catalogue import PROJECT_MLM, minilm_dir, project_mlm_dir
from explorer.models.made import minilm_mlm as mlm_artifact

ROOT = Path(__file__).resolve().parents[3]
IRREGULAR_PLURALS = {"people", "children", "men", "women", "feet", "teeth", "mice", "geese", "sheep", "fish"}


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def project_mlm():
    return load("mlm", PROJECT_MLM)


def _top(lm, sentence: str, k: int = 5) -> list[str]:
    from bench.cloze import predict_topk

    return predict_topk(lm.model, lm.tokenizer, [sentence], k=k)[0]


# --------------------------------------------------------------------------- the committed artefact


def test_artifact_is_small_and_described():
    path = project_mlm_dir()
    assert mlm_artifact.available(path)
    size = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    assert size < 25 * 1024 * 1024
    card = (path / "MODEL_CARD.md").read_text()
    for needed in (
        "SmolLM2-135M-Instruct",
        "distilled",
        "WordNet",
        "licence",
        "top-5",
        "bert-base-uncased",
        "2 CPU cores",
    ):
        assert needed in card, needed


def test_project_mlm_loads_as_standard_masked_lm(project_mlm):
    from transformers import BertForMaskedLM

    model = project_mlm.model
    assert isinstance(model, BertForMaskedLM)
    assert not model.training
    assert project_mlm.info.source == "project" and project_mlm.info.layers == 6
    assert "SmolLM2" in project_mlm.extra["card"]
    enc = project_mlm.tokenizer(["The cat sat on the [MASK]."], return_tensors="pt")
    with torch.no_grad():
        out = model(**enc, output_attentions=True)
    assert out.logits.shape == (1, enc["input_ids"].shape[1], 30522)
    assert len(out.attentions) == 6 and out.attentions[0].shape[1] == 12
    # the output layer is tied to the frozen word embeddings, which equal the packaged MiniLM's
    assert model.cls.predictions.decoder.weight.data_ptr() == model.bert.embeddings.word_embeddings.weight.data_ptr()
    from safetensors.torch import load_file

    base = load_file(str(minilm_dir() / "model.safetensors"))
    key = next(k for k in base if k.endswith("word_embeddings.weight"))
    assert torch.equal(model.bert.embeddings.word_embeddings.weight, base[key])


def test_project_mlm_is_deterministic(project_mlm):
    again = load("mlm", PROJECT_MLM)
    assert again.model is not project_mlm.model
    enc = project_mlm.tokenizer(["I drink a cup of [MASK] every morning."], return_tensors="pt")
    with torch.no_grad():
        a = project_mlm.model(**enc).logits
        b = again.model(**enc).logits
    assert torch.equal(a, b)


def test_clear_cloze_cases(project_mlm):
    # a plural noun after "two" / "three"
    for sentence in ("She has two [MASK] and a cat.", "There are three [MASK] on the table."):
        top1 = _top(project_mlm, sentence)[0]
        assert top1.isalpha() and (top1.endswith("s") or top1 in IRREGULAR_PLURALS), (sentence, top1)
    # the verb agrees with a plural subject
    assert _top(project_mlm, "The children [MASK] playing in the garden.")[0] in ("are", "were")
    # function-word slots get the right function word
    assert _top(project_mlm, "I am going [MASK] visit my aunt tomorrow.")[0] == "to"
    assert _top(project_mlm, "He is afraid [MASK] spiders.")[0] == "of"
    # everyday knowledge, among the five best guesses
    assert {"coffee", "tea"} & set(_top(project_mlm, "He drinks a cup of [MASK] every morning."))
    assert "water" in _top(project_mlm, "I wash my hands with soap and [MASK].")


def test_bench_scores_the_project_model(project_mlm):
    from bench.cloze import evaluate, load_items

    items = load_items()
    assert len(items) >= 150
    assert {i.category for i in items} == {"grammar", "common", "facts"}
    res = evaluate(project_mlm.model, project_mlm.tokenizer, items)
    assert res["overall"]["n"] == len(items)
    # the trained model must do far better than an untrained head (which scores about 0)
    assert res["overall"]["top5"] > 0.3
    assert res["overall"]["top1"] <= res["overall"]["top5"]


def test_bench_sentences_are_well_formed():
    from transformers import AutoTokenizer

    from bench.cloze import load_items

    tok = AutoTokenizer.from_pretrained(minilm_dir())
    items = load_items()
    assert len({i.sentence for i in items}) == len(items)
    for it in items:
        assert it.sentence.count("[MASK]") == 1 and it.answers
        for a in it.answers:
            assert len(tok(a, add_special_tokens=False)["input_ids"]) == 1, (it.sentence, a)


# --------------------------------------------------------------------------- artefact format


def test_saved_delta_rebuilds_the_same_model(tmp_path):
    model, tok = mlm_artifact.base_model(minilm_dir())
    torch.manual_seed(1)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n in mlm_artifact.trainable_names(model):
                p.add_(torch.randn_like(p) * 0.02)
    mlm_artifact.save(model, tmp_path, minilm_dir(), "# card\n", info={"steps": 0})
    assert (tmp_path / "MODEL_CARD.md").read_text() == "# card\n"
    rebuilt, _, card = mlm_artifact.load(tmp_path, minilm_dir())
    assert card == "# card\n"
    want = model.state_dict()
    got = rebuilt.state_dict()
    assert set(want) == set(got)
    for k in want:
        assert torch.equal(want[k], got[k]), k
    model.eval()
    enc = tok(["A [MASK] is barking."], return_tensors="pt")
    with torch.no_grad():
        assert torch.equal(model(**enc).logits, rebuilt(**enc).logits)
    # word embeddings are not stored: the delta is much smaller than the full model
    assert (tmp_path / "delta.safetensors").stat().st_size < 0.3 * (minilm_dir() / "model.safetensors").stat().st_size


def test_load_refuses_a_delta_that_does_not_match(tmp_path):
    from safetensors.torch import load_file, save_file

    model, _ = mlm_artifact.base_model(minilm_dir())
    mlm_artifact.save(model, tmp_path, minilm_dir())
    delta = load_file(str(tmp_path / "delta.safetensors"))
    delta.pop("cls.predictions.transform.dense.weight")
    save_file(delta, str(tmp_path / "delta.safetensors"))
    with pytest.raises(ValueError, match="missing"):
        mlm_artifact.load(tmp_path, minilm_dir())


# --------------------------------------------------------------------------- build scripts


def test_wordnet_parser_takes_glosses_and_examples(tmp_path):
    bc = _script("build_corpus")
    (tmp_path / "data.noun").write_text(
        "  1 This software and database is provided by Princeton University\n"
        "02084071 05 n 02 dog 0 domestic_dog 0 010 @ 02083346 n 0000 | a member of the genus Canis; "
        '"the dog barked all night"\n'
    )
    for pos in ("verb", "adj", "adv"):
        (tmp_path / f"data.{pos}").write_text(
            '00001740 29 v 01 breathe 0 | draw air into, and expel out of, the lungs; "I can breathe better"; '
            '"The patient is breathing"\n'
            if pos == "verb"
            else ""
        )
    glosses, examples = bc.wordnet_lines(tmp_path)
    assert glosses == ["A member of the genus Canis.", "Draw air into, and expel out of, the lungs."]
    assert examples == ["The dog barked all night.", "I can breathe better.", "The patient is breathing."]


def test_clean_line_drops_chatty_and_broken_lines():
    bc = _script("build_corpus")
    assert bc.clean_line("1. The dog sleeps under the table.") == "The dog sleeps under the table."
    assert bc.clean_line("- We walked to the park after lunch.") == "We walked to the park after lunch."
    for bad in (
        "Sure! Here are five sentences about dogs:",
        "the dog sleeps under the table.",
        "The dog sleeps under the",
        "Dogs: loyal, friendly and kind.",
        "Hi.",
        "Le chien dort sous la table.",
    ):
        assert bc.clean_line(bad) is None, bad


def test_assemble_dedupes_and_holds_out_bench_sentences(tmp_path):
    bc = _script("build_corpus")
    bench = tmp_path / "bench.tsv"
    bench.write_text("# header\ncommon\tI wash my hands with soap and [MASK].\twater\n")
    (tmp_path / "wordnet_glosses.txt").write_text("A domestic animal.\nA domestic animal.\n")
    (tmp_path / "wordnet_examples.txt").write_text(
        "Every morning I wash my hands with soap and water.\nHe washed the car.\n"
    )
    (tmp_path / "synthetic_raw.txt").write_text(
        "I wash my hands with soap and water.\n"
        "The bus was late again this morning.\n"
        "Sure, here are some sentences about buses.\n"
    )
    stories = tmp_path / "stories.txt"
    stories.write_text(
        "The sky is blue. Mia has a cow.\n\nThe sky is blue. I wash my hands with soap and water daily.\n"
    )
    stats = bc.assemble(tmp_path, bench, simple_english=stories)
    rows = (tmp_path / "corpus.tsv").read_text().splitlines()
    assert rows == [
        "wordnet_glosses\tA domestic animal.",
        "wordnet_examples\tHe washed the car.",
        "synthetic\tThe bus was late again this morning.",
        "simple_english\tThe sky is blue.",
        "simple_english\tMia has a cow.",
    ]
    assert stats["simple_english"]["duplicates"] == 1 and stats["simple_english"]["bench_overlap"] == 1
    assert stats["wordnet_glosses"]["duplicates"] == 1
    assert stats["wordnet_examples"]["bench_overlap"] == 1
    assert stats["synthetic"]["bench_overlap"] == 1 and stats["synthetic"]["rejected"] == 1
    assert json.loads((tmp_path / "corpus_stats.json").read_text())["synthetic"]["kept"] == 1


def test_the_build_masks_with_the_one_bert_recipe_and_never_chooses_padding(minilm_tokenizer):
    from explorer.training.tasks import mask_batch

    bm = _script("build_mlm")
    assert "mask_batch(ids, tok, gen)" in Path(bm.__file__).read_text() and not hasattr(bm, "mask_tokens")
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(2000, 30000, (64, 128))
    ids[:, 0] = minilm_tokenizer.cls_token_id
    ids[:, -1] = minilm_tokenizer.sep_token_id
    ids[:8, 100:] = minilm_tokenizer.pad_token_id
    inputs, labels = mask_batch(ids, minilm_tokenizer, gen)
    chosen = labels != -100
    assert not chosen[:, 0].any() and not chosen[:, -1].any() and not chosen[:8, 100:].any()
    assert torch.equal(labels[chosen], ids[chosen])
    assert chosen[8:].sum(1).tolist() == [round(0.15 * 126)] * 56  # exactly round(15%) of each row's tokens
    masked = (inputs[chosen] == minilm_tokenizer.mask_token_id).float().mean().item()
    unchanged = (inputs[chosen] == ids[chosen]).float().mean().item()
    assert 0.75 < masked < 0.85 and 0.07 < unchanged < 0.14
    assert torch.equal(inputs[~chosen], ids[~chosen])


def _tiny_corpus(path: Path) -> Path:
    lines = [f"wordnet_examples\tThe {w} is on the table." for w in ("cup", "book", "cat", "key", "pen")]
    lines += [f"synthetic\tMy {w} likes to play in the garden every day." for w in ("dog", "sister", "friend")]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_build_script_runs_end_to_end_and_is_reproducible(tmp_path, capsys):
    bm = _script("build_mlm")
    corpus = _tiny_corpus(tmp_path / "corpus.tsv")
    args = [
        "--corpus",
        str(corpus),
        "--steps",
        "3",
        "--batch-size",
        "2",
        "--seq-len",
        "24",
        "--warmup",
        "1",
        "--log-every",
        "1",
        "--eval-every",
        "0",
        "--save-every",
        "0",
        "--weights",
        "synthetic=0.5,wordnet_examples=0.5",
    ]
    first = bm.main(args + ["--out", str(tmp_path / "a")])
    printed = capsys.readouterr().out
    assert "step 1/3  loss" in printed and "step 3/3" in printed
    assert first["info"]["steps"] == 3 and first["info"]["tokens_seen"] > 0
    second = bm.main(args + ["--out", str(tmp_path / "b")])
    assert second["info"]["steps"] == 3 and second["info"]["tokens_seen"] == first["info"]["tokens_seen"]  # same run
    for name in ("a", "b"):
        assert mlm_artifact.available(tmp_path / name)
    from safetensors.torch import load_file

    da, db = (load_file(str(tmp_path / n / "delta.safetensors")) for n in ("a", "b"))
    assert set(da) == set(db) and all(torch.equal(da[k], db[k]) for k in da)
    # the saved artefact rebuilds exactly the model the script trained
    rebuilt, _, card = mlm_artifact.load(tmp_path / "a", minilm_dir())
    assert "Phase 1: 3 steps" in card
    trained = first["model"].state_dict()
    for k, v in rebuilt.state_dict().items():
        assert torch.equal(v, trained[k]), k
    # training changed the encoder (not only the head)
    base, _ = mlm_artifact.base_model(minilm_dir())
    key = "bert.encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(base.state_dict()[key], trained[key])
