"""The training lessons' claims (three stages on one model, the MAE, SimCLR, sampled answers, best-of-n),
checked with the real offline models and each lesson's default run (`tests/claim_checks_training.py`).
A file of their own so that `make test`'s two workers share the long runs out."""

from tests import claim_checks

models, test_claim_holds = claim_checks.lane_tests("training")
