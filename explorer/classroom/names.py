"""A participant's anonymous name: an adjective and an animal ("Brave Otter"), drawn at random; they may
change it. No personal data is asked for or kept."""

from __future__ import annotations

import random

ADJECTIVES = (
    "Brave",
    "Calm",
    "Clever",
    "Curious",
    "Eager",
    "Gentle",
    "Happy",
    "Jolly",
    "Kind",
    "Lively",
    "Lucky",
    "Merry",
    "Nimble",
    "Patient",
    "Quick",
    "Quiet",
    "Sunny",
    "Swift",
    "Wise",
    "Witty",
)
ANIMALS = (
    "Badger",
    "Beaver",
    "Crane",
    "Dolphin",
    "Falcon",
    "Fox",
    "Gecko",
    "Heron",
    "Koala",
    "Lynx",
    "Marmot",
    "Otter",
    "Owl",
    "Panda",
    "Puffin",
    "Raven",
    "Seal",
    "Stork",
    "Tapir",
    "Wombat",
)


def random_name(rng: random.Random | None = None) -> str:
    """One of 400 names; two participants may draw the same one (ids, not names, tell them apart)."""
    r = rng or random.SystemRandom()
    return f"{r.choice(ADJECTIVES)} {r.choice(ANIMALS)}"
