"""The classroom: state a whole room shares, kept where every worker reaches it (never in a process).

- `store`: rooms, participants, questions, answers, quiz scores and what the teacher is showing, behind one
  small interface with two real backends: SQLite in WAL mode (one file in the cache folder, the default) and
  PostgreSQL (`SSL_EXPLORER_DATABASE_URL`), its schema created and migrated by the app.
- `names`: a participant's anonymous name (an adjective and an animal), no personal data.
"""

from explorer.classroom.names import random_name
from explorer.classroom.store import (
    ENV,
    MAX_ANSWER,
    MAX_NAME,
    MIGRATIONS,
    SCHEMA_VERSION,
    RoomUnavailable,
    Store,
    clean_name,
    default_url,
)

__all__ = [
    # names
    "random_name",
    # store
    "ENV",
    "MAX_ANSWER",
    "MAX_NAME",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "RoomUnavailable",
    "Store",
    "clean_name",
    "default_url",
]
