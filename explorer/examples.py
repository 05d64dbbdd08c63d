"""Bundled examples and the claims they are there to show.

A page's presets and the defaults a lesson rests on live in `assets/examples/<page>.toml`, not in
Python, so a teacher can read (and change) them. Every example says what it shows:

```toml
[[example]]
name = "Barked"                                    # the label in the page's Example menu
text = "The dog barked at the mailman."           # page-specific fields
claim = "The masked side recovers 'barked'; the causal side does not."
check = { kind = "compare_recovers", word = "barked", masked = true, causal = false }
```

`claim` is the sentence a participant can read; `check` says how the claims test
(`tests/claims/test_claims.py`, marker `claims`) verifies it with the real offline models: `kind` names
a check function, the other keys are its parameters. Any table with a `claim` (in the example files,
a lesson's front matter or its `try` list, a quiz question) is a claim, and a claim whose `check`
is missing or unknown fails the test.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from explorer import paths
from explorer.errors import ExplorerError

ASSETS = paths.ASSETS
FOLDER = ASSETS / "examples"


@functools.lru_cache(maxsize=32)
def _read(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ExplorerError(f"The examples file {path.name} could not be read ({type(exc).__name__}).") from exc
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ExplorerError(f"The examples file {path.name} is not valid TOML ({exc}).") from exc


def load(page: str, folder: Path | None = None) -> dict:
    """The whole examples file of `page` (`assets/examples/<page>.toml`), as parsed TOML."""
    return _read((folder or FOLDER) / f"{page}.toml")


def presets(page: str, folder: Path | None = None) -> list[dict]:
    """The page's `[[example]]` tables, in file order (each has at least a `name`)."""
    out = load(page, folder).get("example", [])
    for i, ex in enumerate(out):
        if not isinstance(ex.get("name"), str) or not ex["name"].strip():
            raise ExplorerError(f"examples/{page}.toml, example {i + 1}: every example needs a name.")
    return out


def preset(page: str, name: str, folder: Path | None = None) -> dict:
    """One example of `page` by name."""
    for ex in presets(page, folder):
        if ex["name"] == name:
            return ex
    raise ExplorerError(f"There is no example called '{name}' on this page.")


@dataclass(frozen=True)
class Claim:
    """A sentence an example makes, where it is written, and how it is checked."""

    source: str  # e.g. "examples/compare.toml: example 'Barked'"
    claim: str
    check: dict
    item: dict  # the whole table the claim belongs to (the example's text, settings…)

    @property
    def kind(self) -> str:
        return str(self.check.get("kind", ""))


def _walk(node: Any, where: str) -> Iterator[tuple[str, dict]]:
    if isinstance(node, dict):
        if "claim" in node:
            yield where, node
        for key, value in node.items():
            if isinstance(value, (dict, list)) and key != "check":
                yield from _walk(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            label = value.get("name") if isinstance(value, dict) else None
            yield from _walk(value, f"{where}[{label!r}]" if label else f"{where}[{i}]")


def claims_in(data: dict, source: str) -> list[Claim]:
    """Every table with a `claim` in parsed TOML data (nested tables and lists included)."""
    out = []
    for where, table in _walk(data, source):
        check = table.get("check")
        out.append(Claim(where, str(table["claim"]), dict(check) if isinstance(check, dict) else {}, table))
    return out


def all_claims(assets: Path | None = None) -> list[Claim]:
    """The claims of every bundled example: example files, lessons (front matter and `try` list), quizzes."""
    from explorer.lessons import front_matter

    assets = assets or ASSETS
    out: list[Claim] = []
    for path in sorted((assets / "examples").glob("*.toml")):
        out += claims_in(_read(path), f"examples/{path.name}")
    for path in sorted((assets / "lessons").glob("[0-9]*.md")):
        out += claims_in(front_matter(path), f"lessons/{path.name}")
    for path in sorted((assets / "quizzes").glob("[0-9]*.toml")):
        out += claims_in(_read(path), f"quizzes/{path.name}")
    return out
