"""Rebuild simple_english.txt: short stories in plain English written from templates.

    python assets/corpora/build_simple_english.py

The facts are consistent (dogs bark, the sky is blue, people eat bread at breakfast), so a
tiny model trained on the text can learn them and fill in blanks such as "The sky is [MASK].".
"""

from __future__ import annotations

import random
from pathlib import Path

NAMES = ["Tom", "Anna", "Sam", "Lily", "Ben", "Mia", "Max", "Emma", "Leo", "Sara", "Jack", "Nora"]
ANIMALS = {
    "dog": "barks",
    "cat": "meows",
    "cow": "moos",
    "duck": "quacks",
    "bird": "sings",
    "sheep": "baas",
    "horse": "neighs",
    "lion": "roars",
}
HOMES = {
    "dog": "kennel",
    "cat": "basket",
    "cow": "field",
    "duck": "pond",
    "bird": "nest",
    "sheep": "meadow",
    "horse": "stable",
    "lion": "zoo",
}
COLOURS = {
    "sky": "blue",
    "grass": "green",
    "snow": "white",
    "sun": "yellow",
    "night": "dark",
    "apple": "red",
    "banana": "yellow",
    "sea": "blue",
    "coal": "black",
    "leaf": "green",
}
MEALS = {
    "breakfast": ["bread", "eggs", "porridge", "toast"],
    "lunch": ["soup", "a sandwich", "rice"],
    "dinner": ["fish", "pasta", "potatoes", "stew"],
}
PLACES = {
    "school": "learns to read",
    "park": "plays on the swings",
    "market": "buys fruit",
    "library": "reads a book",
    "beach": "builds a sandcastle",
    "farm": "feeds the animals",
}
WEATHER = {
    "rain": "takes an umbrella",
    "sun": "wears a hat",
    "snow": "puts on warm boots",
    "wind": "holds on to the kite",
}
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
TOYS = ["ball", "kite", "train", "doll", "boat", "drum"]
FEELINGS = {
    "happy": "smiles",
    "sad": "cries",
    "tired": "goes to bed",
    "hungry": "eats a snack",
    "cold": "sits by the fire",
}


def he(name: str) -> str:
    return "he" if name in ("Tom", "Sam", "Ben", "Max", "Leo", "Jack") else "she"


def story(rng: random.Random) -> str:
    n = rng.choice(NAMES)
    p = he(n)
    a = rng.choice(list(ANIMALS))
    a2 = rng.choice([x for x in ANIMALS if x != a])
    thing = rng.choice(list(COLOURS))
    meal = rng.choice(list(MEALS))
    place = rng.choice(list(PLACES))
    weather = rng.choice(list(WEATHER))
    feeling = rng.choice(list(FEELINGS))
    toy = rng.choice(TOYS)
    day = rng.choice(DAYS)
    parts = [
        f"On {day}, {n} goes to the {place}.",
        f"At the {place}, {p} {PLACES[place]}.",
        f"{n} has a {a}. The {a} {ANIMALS[a]}.",
        f"The {a} lives in the {HOMES[a]}.",
        f"The {a2} {ANIMALS[a2]} too, but the {a2} lives in the {HOMES[a2]}.",
        f"The {thing} is {COLOURS[thing]}.",
        f"For {meal}, {n} eats {rng.choice(MEALS[meal])}.",
        f"When there is {weather}, {n} {WEATHER[weather]}.",
        f"{n} is {feeling}, so {p} {FEELINGS[feeling]}.",
        f"{n} plays with a {toy} and a {a}.",
        f'{n} says, "I like the {a}, because the {a} {ANIMALS[a]}."',
    ]
    rng.shuffle(parts)
    return " ".join(parts[: rng.randint(4, 7)])


def main(n_stories: int = 1500, seed: int = 7) -> None:
    rng = random.Random(seed)
    text = "\n\n".join(story(rng) for _ in range(n_stories)) + "\n"
    target = Path(__file__).resolve().parent / "simple_english.txt"
    target.write_text(text, encoding="utf-8")
    print(f"{target}: {len(text):,} characters")


if __name__ == "__main__":
    main()
