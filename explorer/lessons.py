"""Lessons and quizzes from `assets/` (markdown with TOML front matter, TOML quizzes).

A teacher edits or adds lessons without touching Python:

- `assets/lessons/NN-name.md`: front matter between `+++` lines (``title``, ``widget``,
  optional ``example`` and ``try`` prompts), then the lesson text in markdown.
- `assets/quizzes/NN-name.toml`: ``[[question]]`` tables with ``kind = "choice"``
  (``options``, ``answer`` index, ``why``) or ``kind = "predict"`` (``role``, ``text`` with the
  blank/prompt, ``options`` to guess from, ``why``): the user guesses, then the model reveals.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from explorer import paths
from explorer.errors import ExplorerError

ASSETS = paths.ASSETS
WIDGETS = ("none", "fill_mask", "next_token", "compare", "span", "contrastive", "stages")


def read_markdown(name: str, folder: str = "lessons") -> str:
    path = ASSETS / folder / name
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ExplorerError(f"The lesson file {folder}/{name} could not be read ({type(exc).__name__}).") from exc


def nested_markdown(text: str, top: int = 3) -> str:
    """Markdown to show under a page's own headings: its headings moved down so the first level is `top`
    (a model card's title must not be larger than the section it sits in). Code blocks are left alone."""
    lines, fenced = [], False
    levels = [len(m.group(1)) for m in re.finditer(r"^(#{1,6})\s", text, flags=re.M)]
    shift = max(0, top - min(levels)) if levels else 0
    for line in text.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        m = None if fenced else re.match(r"(#{1,6})(\s.*)", line)
        lines.append("#" * min(6, len(m.group(1)) + shift) + m.group(2) if m else line)
    return "\n".join(lines)


@dataclass
class Question:
    kind: str
    prompt: str
    options: list[str]
    why: str
    answer: int | None = None  # choice: index of the right option
    role: str | None = None  # predict: which model answers
    text: str | None = None  # predict: the sentence / prompt given to the model

    def check(self, chosen: int) -> bool:
        """Multiple choice: is option `chosen` right?"""
        return self.answer is not None and chosen == self.answer


@dataclass
class Lesson:
    slug: str
    title: str
    body: str
    widget: str = "none"
    example: str = ""
    word: str = ""  # the word the compare widget hides first (a word of `example`)
    tries: list[str] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)


def _split_front_matter(text: str, name: str) -> tuple[dict, str]:
    if not text.startswith("+++"):
        raise ExplorerError(
            f"Lesson {name} has no front matter: it must start with a '+++' line.",
            "See assets/lessons/README.md for the format.",
        )
    parts = text.split("+++", 2)
    if len(parts) < 3:
        raise ExplorerError(f"Lesson {name}: the front matter is not closed by a second '+++' line.")
    try:
        meta = tomllib.loads(parts[1])
    except tomllib.TOMLDecodeError as exc:
        raise ExplorerError(f"Lesson {name}: the front matter is not valid TOML ({exc}).") from exc
    return meta, parts[2].strip()


def _question(q: dict, where: str) -> Question:
    kind = q.get("kind", "choice")
    prompt = q.get("prompt")
    options = q.get("options")
    why = q.get("why", "")
    if kind not in ("choice", "predict"):
        raise ExplorerError(f"{where}: kind must be 'choice' or 'predict', not '{kind}'.")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ExplorerError(f"{where}: every question needs a prompt.")
    if not isinstance(options, list) or len(options) < 2 or not all(isinstance(o, str) for o in options):
        raise ExplorerError(f"{where}: every question needs at least two text options.")
    if kind == "choice":
        ans = q.get("answer")
        if not isinstance(ans, int) or not 0 <= ans < len(options):
            raise ExplorerError(f"{where}: 'answer' must be the index (0-{len(options) - 1}) of the right option.")
        return Question(kind, prompt, options, why, answer=ans)
    role, text = q.get("role"), q.get("text")
    if role not in ("mlm", "clm") or not isinstance(text, str) or not text.strip():
        raise ExplorerError(f"{where}: a 'predict' question needs role = 'mlm' or 'clm' and a text.")
    return Question(kind, prompt, options, why, role=role, text=text)


def load_quiz(path: Path) -> list[Question]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ExplorerError(f"The quiz file {path.name} could not be read ({type(exc).__name__}).") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ExplorerError(f"The quiz file {path.name} is not valid TOML ({exc}).") from exc
    return [_question(q, f"{path.name}, question {i + 1}") for i, q in enumerate(data.get("question", []))]


def _read_lesson(path: Path) -> tuple[dict, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ExplorerError(f"The lesson file {path.name} could not be read ({type(exc).__name__}).") from exc
    return _split_front_matter(text, path.name)


def front_matter(path: Path) -> dict:
    """A lesson file's front matter (its title, widget, example, `try` list and their claims)."""
    return _read_lesson(path)[0]


def load_lesson(path: Path, quiz_dir: Path | None = None) -> Lesson:
    meta, body = _read_lesson(path)
    title = meta.get("title")
    if not isinstance(title, str) or not title.strip():
        raise ExplorerError(f"Lesson {path.name} needs a title in its front matter.")
    widget = meta.get("widget", "none")
    if widget not in WIDGETS:
        raise ExplorerError(f"Lesson {path.name}: unknown widget '{widget}'. Use one of: {', '.join(WIDGETS)}.")
    tries = meta.get("try", [])
    if not isinstance(tries, list):
        raise ExplorerError(f"Lesson {path.name}: 'try' must be a list.")
    # a "try this" is a string, or a table with its text and the claim it makes ({text = ..., claim = ...})
    tries = [t.get("text") if isinstance(t, dict) else t for t in tries]
    if not all(isinstance(t, str) for t in tries):
        raise ExplorerError(f"Lesson {path.name}: every 'try' needs a text.")
    lesson = Lesson(
        slug=path.stem,
        title=title.strip(),
        body=body,
        widget=widget,
        example=str(meta.get("example", "")),
        word=str(meta.get("word", "")),
        tries=tries,
    )
    quiz = (quiz_dir or ASSETS / "quizzes") / f"{path.stem}.toml"
    if quiz.exists():
        lesson.questions = load_quiz(quiz)
    return lesson


def load_lessons(folder: Path | None = None, quiz_dir: Path | None = None) -> tuple[list[Lesson], list[str]]:
    """All lessons in order of file name, and a message per lesson that could not be loaded."""
    folder = folder or ASSETS / "lessons"
    lessons, problems = [], []
    for path in sorted(folder.glob("[0-9]*.md")):
        try:
            lessons.append(load_lesson(path, quiz_dir))
        except ExplorerError as exc:
            problems.append(str(exc))
    return lessons, problems


@dataclass
class Score:
    """Quiz score, kept for the browser (`ui.browser_value`: a reload keeps it): question id → right or
    wrong (first answer counts), and the option each question was answered with (an answer is final:
    the page shows it locked)."""

    answers: dict[str, bool] = field(default_factory=dict)
    choices: dict[str, int] = field(default_factory=dict)

    def record(self, qid: str, right: bool) -> None:
        self.answers.setdefault(qid, right)

    def answer(self, qid: str, choice: int) -> None:
        """Lock the answer to a question (the first one stays)."""
        self.choices.setdefault(qid, int(choice))

    def chosen(self, qid: str) -> int | None:
        """The locked answer to a question, None while it is open."""
        return self.choices.get(qid)

    @property
    def right(self) -> int:
        return sum(self.answers.values())

    @property
    def answered(self) -> int:
        return len(self.answers)


def predict_verdict(guess: str, model_top: list[str], k: int = 5) -> tuple[bool, int | None]:
    """Was the user's guess among the model's top-k? Returns (hit, 1-based rank or None)."""
    norm = [t.strip().lower().lstrip("##").lstrip("␣") for t in model_top[:k]]
    g = guess.strip().lower()
    if g in norm:
        return True, norm.index(g) + 1
    return False, None
