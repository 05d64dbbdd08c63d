"""Where a room's shared state lives: one small interface, two real backends.

State the whole room shares (rooms, participants, answers, each participant's quiz score, what the teacher is
showing) cannot live in a server process: every worker behind nginx, and every pod, has its own. It lives in a
database that all of them reach:

- **SQLite in WAL mode** (the default): one file in the cache folder, shared by every worker on the machine;
  WAL lets readers go on while one writer writes, and a busy timeout makes writers queue instead of failing;
- **PostgreSQL** (`SSL_EXPLORER_DATABASE_URL=postgresql://...`, psycopg 3 with a connection pool): for
  several machines.

Plain SQL rather than SQLAlchemy Core: the statements are few, written once in the dialect both databases
share (`INSERT ... ON CONFLICT ... DO UPDATE`, `?` placeholders turned into psycopg's `%s`), and no ORM
layer sits between a test and what the database does. The schema is created and migrated by the app
(`MIGRATIONS`, versioned in the `schema_version` table); a second process opening the same database finds
it migrated.

Every method raises `RoomUnavailable` when the database cannot be reached, so a page can say so and go on
with what needs no room.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

from explorer.errors import ExplorerError

ENV = "SSL_EXPLORER_DATABASE_URL"

# Each entry: (version, statements). Append, never edit: a database at version n runs entries n+1.. in order.
MIGRATIONS: list[tuple[int, list[str]]] = [
    (
        1,
        [
            "CREATE TABLE rooms (id TEXT PRIMARY KEY, code TEXT NOT NULL, created DOUBLE PRECISION NOT NULL, "
            "showing TEXT NOT NULL DEFAULT '')",
            "CREATE TABLE participants (room TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, "
            "seen DOUBLE PRECISION NOT NULL, PRIMARY KEY (room, id))",
            "CREATE TABLE questions (room TEXT NOT NULL, id TEXT NOT NULL, open INTEGER NOT NULL, "
            "PRIMARY KEY (room, id))",
            "CREATE TABLE answers (room TEXT NOT NULL, question TEXT NOT NULL, participant TEXT NOT NULL, "
            "answer TEXT NOT NULL, at DOUBLE PRECISION NOT NULL, PRIMARY KEY (room, question, participant))",
            "CREATE TABLE scores (room TEXT NOT NULL, participant TEXT NOT NULL, quiz TEXT NOT NULL, "
            "correct INTEGER NOT NULL, answered INTEGER NOT NULL, PRIMARY KEY (room, participant, quiz))",
        ],
    ),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]
MAX_NAME = 40
MAX_ANSWER = 200


class RoomUnavailable(ExplorerError):
    """The room's database cannot be reached: class features wait, the rest of the app goes on."""

    def __init__(self, detail: str = ""):
        super().__init__(
            "The room is unavailable right now: its database cannot be reached.",
            "Everything that needs no room still works; class answers come back when it returns."
            + (f" ({detail})" if detail else ""),
        )


def default_url() -> str:
    """The database every worker of this server shares: the environment's, else a SQLite file in the cache."""
    url = os.environ.get(ENV, "").strip()
    if url:
        return url
    from explorer.paths import cache_dir

    return f"sqlite:///{cache_dir() / 'classroom.sqlite3'}"


def clean_name(name: str) -> str:
    """A participant's display name: printable, one line, at most MAX_NAME characters; refused when empty."""
    text = " ".join("".join(ch for ch in str(name or "") if ch.isprintable()).split())[:MAX_NAME]
    if not text:
        raise ExplorerError("A name needs at least one letter or sign.", "Type a name, or keep the one you were given.")
    return text


class Store:
    """Rooms, participants, questions, answers and quiz scores, in SQLite or PostgreSQL (see the module)."""

    def __init__(self, url: str | None = None, *, pool_size: int = 4):
        self.url = url or default_url()
        self.kind = "postgresql" if self.url.startswith(("postgresql://", "postgres://")) else "sqlite"
        self._local = threading.local()
        self._pool = None
        if self.kind == "sqlite":
            if not self.url.startswith("sqlite:///"):
                raise ExplorerError(f"Unknown database address {self.url!r}.", "Use sqlite:///path or postgresql://…")
            self.path = Path(self.url[len("sqlite:///") :])
            self.path.parent.mkdir(parents=True, exist_ok=True)
        else:
            from psycopg_pool import ConnectionPool

            self._pool = ConnectionPool(self.url, min_size=0, max_size=pool_size, open=False, timeout=5)
        self.migrate()

    # ------------------------------------------------------------------ connections

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Any]:
        """A connection in a transaction: committed when the block ends, rolled back on an error."""
        try:
            if self.kind == "sqlite":
                conn = getattr(self._local, "conn", None)
                if conn is None:
                    conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
                    conn.execute("PRAGMA journal_mode=WAL")
                    conn.execute("PRAGMA busy_timeout=30000")
                    self._local.conn = conn
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            else:
                if self._pool.closed:
                    self._pool.open(wait=False)
                with self._pool.connection() as conn:
                    yield conn
        except ExplorerError:
            raise
        except Exception as exc:  # noqa: BLE001 - any driver error: the database is not there
            if _is_database_error(exc):
                raise RoomUnavailable(type(exc).__name__) from exc
            raise

    def _sql(self, statement: str) -> str:
        return statement if self.kind == "sqlite" else statement.replace("?", "%s")

    def _run(self, statement: str, params: Sequence = ()) -> list[tuple]:
        with self._connection() as conn:
            cur = conn.execute(self._sql(statement), tuple(params))
            return list(cur.fetchall()) if cur.description else []

    def migrate(self) -> int:
        """Bring the schema to SCHEMA_VERSION (once, whatever the number of processes); returns the version."""
        with self._connection() as conn:
            if self.kind == "postgresql":
                conn.execute("SELECT pg_advisory_xact_lock(7316)")  # one migrating process at a time
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
            current = int(row[0]) if row and row[0] is not None else 0
            for version, statements in MIGRATIONS:
                if version > current:
                    for s in statements:
                        conn.execute(s)
                    conn.execute(self._sql("INSERT INTO schema_version (version) VALUES (?)"), (version,))
                    current = version
            return current

    def execute_admin(self, statement: str) -> None:
        """A statement outside a transaction (PostgreSQL's CREATE DATABASE, for tests and set-up)."""
        if self.kind == "sqlite":
            self._run(statement)
            return
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(statement)

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # ------------------------------------------------------------------ rooms and people

    def create_room(self, room: str, code: str) -> None:
        self._run(
            "INSERT INTO rooms (id, code, created) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING",
            (room, code, time.time()),
        )

    def room_code(self, room: str) -> str | None:
        rows = self._run("SELECT code FROM rooms WHERE id = ?", (room,))
        return rows[0][0] if rows else None

    def join(self, room: str, participant: str, name: str) -> str:
        """Add or rename a participant (seen now); returns the name as stored."""
        name = clean_name(name)
        self._require_room(room)
        self._run(
            "INSERT INTO participants (room, id, name, seen) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (room, id) DO UPDATE SET name = excluded.name, seen = excluded.seen",
            (room, participant, name, time.time()),
        )
        return name

    def participants(self, room: str, *, since: float = 0.0) -> list[tuple[str, str]]:
        rows = self._run("SELECT id, name FROM participants WHERE room = ? AND seen >= ? ORDER BY name", (room, since))
        return [(r[0], r[1]) for r in rows]

    def _require_room(self, room: str) -> None:
        if self.room_code(room) is None:
            raise ExplorerError("There is no such room.", "Ask your teacher for the room's link.")

    # ------------------------------------------------------------------ questions and answers

    def ask(self, room: str, question: str) -> None:
        """Make a question answerable in the room, unless it is there already (a closed one stays closed)."""
        self._run(
            "INSERT INTO questions (room, id, open) VALUES (?, ?, 1) ON CONFLICT (room, id) DO NOTHING",
            (room, question),
        )

    def open_question(self, room: str, question: str, is_open: bool = True) -> None:
        """Open (or with `is_open=False` close) a question: the teacher's control."""
        self._run(
            "INSERT INTO questions (room, id, open) VALUES (?, ?, ?) ON CONFLICT (room, id) DO UPDATE SET open = excluded.open",
            (room, question, int(is_open)),
        )

    def answer(self, room: str, question: str, participant: str, answer: str) -> None:
        """Store one participant's answer (a new one replaces theirs); refused for an unknown or closed question."""
        text = " ".join(str(answer or "").split())[:MAX_ANSWER]
        if not text:
            raise ExplorerError("An empty answer is not counted.", "Pick or type an answer first.")
        rows = self._run("SELECT open FROM questions WHERE room = ? AND id = ?", (room, question))
        if not rows:
            raise ExplorerError("This question is not asked in this room.")
        if not rows[0][0]:
            raise ExplorerError("The teacher has closed this question.", "Your earlier answer, if any, still counts.")
        self._run(
            "INSERT INTO answers (room, question, participant, answer, at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (room, question, participant) DO UPDATE SET answer = excluded.answer, at = excluded.at",
            (room, question, participant, text, time.time()),
        )

    def results(self, room: str, question: str) -> dict[str, int]:
        """How many participants gave each answer, most first."""
        rows = self._run(
            "SELECT answer, count(*) FROM answers WHERE room = ? AND question = ? GROUP BY answer ORDER BY count(*) DESC, answer",
            (room, question),
        )
        return {r[0]: int(r[1]) for r in rows}

    def my_answer(self, room: str, question: str, participant: str) -> str | None:
        rows = self._run(
            "SELECT answer FROM answers WHERE room = ? AND question = ? AND participant = ?",
            (room, question, participant),
        )
        return rows[0][0] if rows else None

    def clear_answers(self, room: str) -> None:
        self._run("DELETE FROM answers WHERE room = ?", (room,))

    # ------------------------------------------------------------------ scores and what is shown

    def save_score(self, room: str, participant: str, quiz: str, correct: int, answered: int) -> None:
        self._run(
            "INSERT INTO scores (room, participant, quiz, correct, answered) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (room, participant, quiz) DO UPDATE SET correct = excluded.correct, answered = excluded.answered",
            (room, participant, quiz, int(correct), int(answered)),
        )

    def score(self, room: str, participant: str, quiz: str) -> tuple[int, int]:
        rows = self._run(
            "SELECT correct, answered FROM scores WHERE room = ? AND participant = ? AND quiz = ?",
            (room, participant, quiz),
        )
        return (int(rows[0][0]), int(rows[0][1])) if rows else (0, 0)

    def show(self, room: str, showing: str) -> None:
        self._run("UPDATE rooms SET showing = ? WHERE id = ?", (showing, room))

    def showing(self, room: str) -> str:
        rows = self._run("SELECT showing FROM rooms WHERE id = ?", (room,))
        return rows[0][0] if rows else ""


def _is_database_error(exc: Exception) -> bool:
    if isinstance(exc, sqlite3.Error):
        return True
    mod = type(exc).__module__
    return mod.startswith(("psycopg", "psycopg_pool"))
