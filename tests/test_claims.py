"""Every bundled example's claim, checked with the real offline models (marker `claims`).

A claim is any table with a `claim` in `assets/examples/*.toml`, a lesson's front matter (its `try`
list included) or a quiz (`explorer.examples.all_claims`); its `check` names the function in
`tests/claim_checks*.py` that verifies it. A model or settings change that breaks a claim fails here.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

from explorer import examples
from tests import claim_checks

for _mod in pkgutil.iter_modules([str(Path(__file__).parent)]):
    if _mod.name.startswith("claim_checks_"):
        importlib.import_module(f"tests.{_mod.name}")

CLAIMS = examples.all_claims()


@pytest.fixture(scope="module")
def models():
    return claim_checks.Models()


def test_every_claim_names_a_known_check():
    unknown = [f"{c.source}: {c.kind or '(no check)'}" for c in CLAIMS if c.kind not in claim_checks.CHECKS]
    assert not unknown, "claims without a check function:\n" + "\n".join(unknown)


def test_every_claim_is_a_sentence():
    assert CLAIMS
    for c in CLAIMS:
        assert len(c.claim.split()) >= 3, c.source


@pytest.mark.claims
@pytest.mark.parametrize("claim", CLAIMS, ids=[c.source for c in CLAIMS])
def test_claim_holds(claim, models):
    fn = claim_checks.CHECKS.get(claim.kind)
    if fn is None:
        pytest.fail(f"{claim.source}: no check called {claim.kind!r}")
    fn(claim.item, claim.check, models)
