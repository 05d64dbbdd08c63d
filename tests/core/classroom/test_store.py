"""The classroom's store on both real backends (SQLite in WAL mode, PostgreSQL started here from Debian's
package): the same tests for each: migrations, joining, answers stored once, closed and unknown questions,
scores that survive a new connection, several processes writing at once, and the database going away."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from explorer.classroom import store as S
from explorer.errors import ExplorerError

PG_BIN = Path("/usr/lib/postgresql")


def _pg_bin() -> Path | None:
    versions = sorted(PG_BIN.glob("*/bin/initdb")) if PG_BIN.exists() else []
    return versions[-1].parent if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres:
    """A PostgreSQL server of its own in a temporary folder (as the `postgres` user when the tests run as root,
    which initdb refuses)."""

    def __init__(self, folder: Path):
        self.bin = _pg_bin()
        self.data = folder / "data"
        self.port = _free_port()
        self.prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        folder.mkdir(parents=True, exist_ok=True)
        if self.prefix:
            shutil.chown(folder, "postgres", "postgres")
        self._do("initdb", "-D", str(self.data), "--auth=trust", "-U", "postgres", "--no-sync")
        self.start()

    def _do(self, tool: str, *args: str) -> None:
        subprocess.run([*self.prefix, str(self.bin / tool), *args], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} -c fsync=off"
        self._do("pg_ctl", "-D", str(self.data), "-o", opts, "-w", "-l", str(self.data / "log"), "start")

    def stop(self) -> None:
        self._do("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"


@pytest.fixture(scope="module")
def postgres():
    if _pg_bin() is None:
        pytest.fail("PostgreSQL is not installed: `make setup-dev` installs Debian's postgresql")
    folder = Path(tempfile.mkdtemp(prefix="sslx-pg-"))  # not under pytest's folder: the postgres user reads it
    pg = Postgres(folder)
    yield pg
    pg.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'room.sqlite3'}"
    pg = request.getfixturevalue("postgres")
    db = f"t{abs(hash(request.node.name)) % 10**8}"
    with S.Store(pg.url) as admin:  # a database of its own for each test
        admin.execute_admin(f"DROP DATABASE IF EXISTS {db}")
        admin.execute_admin(f"CREATE DATABASE {db}")
    return pg.url.rsplit("/", 1)[0] + "/" + db


@pytest.fixture
def store(url):
    s = S.Store(url)
    s.create_room("r1", "1234")
    yield s
    s.close()


def test_the_schema_is_created_once_and_versioned(url):
    with S.Store(url) as a, S.Store(url) as b:  # a second worker opening the same database
        assert a.migrate() == b.migrate() == S.SCHEMA_VERSION
        assert a._run("SELECT count(*) FROM schema_version") == [(len(S.MIGRATIONS),)]


def test_join_rename_and_names_that_are_cleaned_or_refused(store):
    assert store.join("r1", "p1", "  Brave   Otter ") == "Brave Otter"
    assert store.join("r1", "p1", "Calm Heron") == "Calm Heron"  # a rename, not a second participant
    long = store.join("r1", "p2", "x" * 10_000)
    assert long == "x" * S.MAX_NAME
    assert store.join("r1", "p3", "<b>🦉 owl</b>") == "<b>🦉 owl</b>"  # stored as typed; pages escape it
    assert len(store.participants("r1")) == 3
    with pytest.raises(ExplorerError, match="at least one letter"):
        store.join("r1", "p4", "\n\t ")
    with pytest.raises(ExplorerError, match="no such room"):
        store.join("nowhere", "p1", "Owl")


def test_one_answer_per_participant_and_questions_open_or_closed(store):
    store.open_question("r1", "q1")
    for p, a in [("p1", "mat"), ("p2", "mat"), ("p3", "floor"), ("p1", "floor")]:  # p1 changes their answer
        store.answer("r1", "q1", p, a)
    assert store.results("r1", "q1") == {"floor": 2, "mat": 1}
    assert store.my_answer("r1", "q1", "p1") == "floor"
    with pytest.raises(ExplorerError, match="not asked in this room"):
        store.answer("r1", "q-none", "p1", "mat")
    store.open_question("r1", "q1", False)
    store.ask("r1", "q1")  # a participant's page asking it again does not reopen it
    with pytest.raises(ExplorerError, match="closed this question"):
        store.answer("r1", "q1", "p2", "floor")
    assert store.results("r1", "q1") == {"floor": 2, "mat": 1}  # nothing changed
    with pytest.raises(ExplorerError, match="empty answer"):
        store.answer("r1", "q1", "p2", "   ")
    store.clear_answers("r1")
    assert store.results("r1", "q1") == {}


def test_scores_and_what_is_shown_survive_a_new_connection(store, url):
    store.save_score("r1", "p1", "lesson-1", 3, 4)
    store.show("r1", "Masked LM — The cat sat on the [MASK]")
    with S.Store(url) as again:  # a reload on another worker
        assert again.score("r1", "p1", "lesson-1") == (3, 4)
        assert again.score("r1", "p2", "lesson-1") == (0, 0)
        assert again.showing("r1").startswith("Masked LM")


def _answer_many(url: str, first: int, n: int) -> None:
    with S.Store(url) as s:
        for i in range(first, first + n):
            s.join("r1", f"p{i}", f"Participant {i}")
            s.answer("r1", "q1", f"p{i}", "mat" if i % 3 else "floor")


def test_sixty_participants_in_four_processes_each_stored_once(store, url):
    store.open_question("r1", "q1")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_answer_many, args=(url, k * 15, 15)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    results = store.results("r1", "q1")
    assert sum(results.values()) == 60 and results == {"mat": 40, "floor": 20}
    assert len(store.participants("r1")) == 60


def test_the_database_going_away_is_a_clear_message_and_it_recovers(postgres):
    with S.Store(postgres.url) as s:
        s.create_room("r-down", "1")
        postgres.stop()
        try:
            with pytest.raises(S.RoomUnavailable, match="room is unavailable"):
                s.room_code("r-down")
        finally:
            postgres.start()
        deadline = time.time() + 30
        while True:
            try:
                assert s.room_code("r-down") == "1"
                break
            except S.RoomUnavailable:
                assert time.time() < deadline
                time.sleep(0.5)


def test_a_broken_sqlite_file_is_a_clear_message(tmp_path):
    bad = tmp_path / "room.sqlite3"
    bad.write_bytes(b"not a database" * 100)
    with pytest.raises(S.RoomUnavailable):
        S.Store(f"sqlite:///{bad}")
