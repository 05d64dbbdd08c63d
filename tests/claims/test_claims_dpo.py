"""The Alignment page's DPO claims (its probes after the default run, held-out accuracy), checked with
the real SmolLM2 and the page's default DPO run, made once and shared (`tests/claim_checks_training.py`).
A file of their own so that `make test`'s two workers share the long runs out."""

from __future__ import annotations

import pytest

from tests import claim_checks

CLAIMS = claim_checks.claims_in("dpo")


@pytest.fixture(scope="module")
def models():
    return claim_checks.Models()


@pytest.mark.claims
@pytest.mark.parametrize("claim", CLAIMS, ids=[c.source for c in CLAIMS])
def test_claim_holds(claim, models):
    claim_checks.verify(claim, models)
