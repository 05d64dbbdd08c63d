"""scripts/build_bidir_mlm.py, the build of the default masked LM, run on a tiny causal LM for a few
steps: a run stopped after one step and resumed trains exactly as one run would, and the exported
artefact loads with `explorer.load("mlm", folder)` and predicts."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import torch

from explorer import load, mlm

ROOT = Path(__file__).resolve().parents[3]
STEPS = 4


def _script():
    spec = importlib.util.spec_from_file_location("build_bidir_mlm", ROOT / "scripts" / "build_bidir_mlm.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _corpus(path: Path) -> Path:
    lines = [f"wordnet_examples\tThe {w} is on the table." for w in ("cup", "book", "cat", "key", "pen")]
    lines += [f"simple_english\tMy {w} likes to play in the garden every day." for w in ("dog", "sister", "friend")]
    path.write_text("\n".join(lines) + "\n")
    return path


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def _checkpoint(out: Path) -> dict:
    return torch.load(out / "checkpoint.pt", weights_only=False, map_location="cpu")


def test_build_resumes_where_it_stopped_and_exports_a_masked_lm_that_loads_and_predicts(tmp_path, tiny_clm_dir, capsys):
    build = _script()
    base = shutil.copytree(tiny_clm_dir, tmp_path / "base")  # a model of its own: the build shares its tensors
    flags = [
        "--base",
        str(base),
        "--corpus",
        str(_corpus(tmp_path / "corpus.tsv")),
        "--weights",
        "wordnet_examples=0.5,simple_english=0.5",
        "--layers",
        "1",
        "--lora-rank",
        "4",
        "--batch",
        "2",
        "--seq-len",
        "16",
        "--warmup",
        "1",
        "--threads",
        "1",
        "--save-every",
        "1",
        "--steps",
        str(STEPS),
        "--dev",
        str(tmp_path / "no-dev-set.tsv"),
    ]
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert build.main(flags + ["--out", str(whole)]) == 0
    assert build.main(flags + ["--out", str(parts), "--minutes", "1e-9"]) == 0  # stops after its first step
    assert _checkpoint(parts)["step"] == 1
    assert build.main(flags + ["--out", str(parts), "--resume"]) == 0
    assert "resumed at step 1" in capsys.readouterr().out

    # the resumed run went on from the checkpoint: the same batches, losses and weights as one whole run
    assert [r["step"] for r in _log(parts)] == list(range(1, STEPS + 1))
    assert [r["loss"] for r in _log(parts)] == [r["loss"] for r in _log(whole)]
    a, b = _checkpoint(whole), _checkpoint(parts)
    assert a["step"] == b["step"] == STEPS and a["tensors"].keys() == b["tensors"].keys()
    assert all(torch.equal(a["tensors"][k], b["tensors"][k]) for k in a["tensors"])
    start = _initial_updates(build, base)
    assert start.keys() == a["tensors"].keys() and not all(torch.equal(a["tensors"][k], start[k]) for k in start)

    artefact = tmp_path / "artefact"
    assert build.main(flags + ["--out", str(parts), "--export", "--artifact", str(artefact)]) == 0
    meta = json.loads((artefact / "artifact.json").read_text())
    assert meta["base_model"] == str(base) and meta["info"]["steps"] == STEPS
    assert meta["recipe"]["bidirectional_layers"] == 1 and meta["recipe"]["lora_rank"] == 4
    card = (artefact / "MODEL_CARD.md").read_text()
    assert "Phase 1: steps 1–1" in card and f"Phase 2: steps 2–{STEPS}" in card

    lm = load("mlm", str(artefact))
    assert lm.info.role == "mlm" and lm.tokenizer.mask_token_id == meta["recipe"]["mask_token_id"]
    stored = {n: p for n, p in lm.model.named_parameters() if ".lora_" in n}
    assert stored.keys() == b["tensors"].keys()
    for name, trained in b["tensors"].items():  # the trained updates, as stored (float16)
        assert torch.equal(stored[name], trained.to(torch.float16).to(stored[name].dtype)), name
    enc = mlm.encode_text(lm, "The cat is on the table.")
    result = mlm.fill_mask(lm, enc, mlm.positions_of_words(enc, ["table"]), k=5)
    (pred,) = result.predictions
    with torch.no_grad():
        row = torch.softmax(lm.model(input_ids=torch.tensor([result.input_ids])).logits[0, pred.position], -1)
    assert pred.top_ids == torch.topk(row, 5).indices.tolist()
    assert pred.top_probs == pytest.approx(torch.topk(row, 5).values.tolist(), abs=1e-5)


def _initial_updates(build, base: Path) -> dict[str, torch.Tensor]:
    """The LoRA updates as the build initialises them, before any step."""
    import argparse

    from explorer.models.made import bidirectional_artifact
    from explorer.models.made.bidirectional import masked_tokenizer

    causal = load("clm", str(base))
    args = argparse.Namespace(layers=1, readout="next", full=False, lora_rank=4, lora_alpha=32.0, seed=0)
    model = build.build_model(args, causal.model, masked_tokenizer(causal.tokenizer))
    return {k: v.detach().clone() for k, v in bidirectional_artifact.trained_tensors(model).items()}
