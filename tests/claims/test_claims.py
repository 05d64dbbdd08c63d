"""Every bundled example's claim, checked with the real offline models (marker `claims`).

A claim is any table with a `claim` in `assets/examples/*.toml`, a lesson's front matter (its `try`
list included) or a quiz (`explorer.examples.all_claims`); its `check` names the function in
`tests/claim_checks*.py` that verifies it. A model or settings change that breaks a claim fails here.
This file checks the claims read from text; the training lessons' claims, whose default runs take minutes,
are in `test_claims_training.py` and `test_claims_dpo.py`.
"""

from __future__ import annotations

from explorer import examples
from tests import claim_checks

CLAIMS = claim_checks.claims_in("text")
models, test_claim_holds = claim_checks.lane_tests("text")


def test_every_claim_names_a_known_check_and_is_checked_in_one_file():
    claims = examples.all_claims()
    checks = claim_checks.all_checks()
    unknown = [f"{c.source}: {c.kind or '(no check)'}" for c in claims if c.kind not in checks]
    assert not unknown, "claims without a check function:\n" + "\n".join(unknown)
    lanes = {lane: claim_checks.claims_in(lane) for lane in ("text", "training", "dpo")}
    assert set(claim_checks.LANES.values()) <= set(lanes)
    assert sorted(c.source for group in lanes.values() for c in group) == sorted(c.source for c in claims)


def test_every_claim_is_a_sentence():
    assert CLAIMS
    for c in examples.all_claims():
        assert len(c.claim.split()) >= 3, c.source
