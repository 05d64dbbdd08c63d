"""The Alignment page's DPO claims (its probes after the default run, held-out accuracy), checked with
the real SmolLM2 and the page's default DPO run, made once and shared (`tests/claim_checks_training.py`).
A file of their own so that `make test`'s two workers share the long runs out."""

from tests import claim_checks

models, test_claim_holds = claim_checks.lane_tests("dpo")
