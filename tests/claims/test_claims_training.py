"""The training lessons' claims (three stages on one model, the MAE, SimCLR, sampled answers, best-of-n),
checked with the real offline models and each lesson's default run (`tests/claim_checks_training.py`).
A file of their own so that `make test`'s two workers share the long runs out."""

from __future__ import annotations

import pytest

from tests import claim_checks

CLAIMS = claim_checks.claims_in("training")


@pytest.fixture(scope="module")
def models():
    return claim_checks.Models()


@pytest.mark.claims
@pytest.mark.parametrize("claim", CLAIMS, ids=[c.source for c in CLAIMS])
def test_claim_holds(claim, models):
    claim_checks.verify(claim, models)
