"""SQLAlchemy storage for the leaderboard: students (hashed tokens), scored submissions (file kept compressed), the
TA's per-student overrides with who/when, and one meta row (board version, server secret).

:class:`Store` is the database: context-managed, with one transaction helper (``with store.transaction() as
c:``) that commits on success and rolls back on any error. Each area is a small class on it, using that helper:

- ``store.accounts``   (:mod:`.accounts`)   students and their hashed tokens;
- ``store.uploads``    (:mod:`.uploads`)    scored uploads and their files;
- ``store.selections`` (:mod:`.selections`) each student's final selection;
- ``store.overrides``  (:mod:`.overrides`)  the TA's deadlines and daily limits, with who and when;
- ``store.boards``     (:mod:`.boards`)     the change log and the read that keeps cached boards current;
- ``store.backup``     (:mod:`.backup`)     the integrity check and copies between databases.

The tables and the statements built once from them are in :mod:`.schema`.

An upload is counted against the daily limit and stored together, or not at all: the service counts the
student's uploads of the day and stores the new one in one write transaction, under a per-student write lock
(``SELECT ... FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so concurrent uploads, from threads or
from several server processes, never exceed it.

**Acknowledge or don't count.** An upload is stored with ``acked = false`` and a wall-clock ``ack_by`` a few seconds
ahead; the web app marks it acknowledged right after its response has been sent. A row counts (limit, boards,
selection) while it is acknowledged *or* still inside that grace time, so racing uploads cannot exceed the limit;
a row whose server was killed between the commit and the answer stops counting when the grace time ends, and the
student sees it as "not confirmed" without a score (a score shown there would be a free, uncounted probe).

SQLite runs in WAL mode with ``synchronous=FULL``: an acknowledged upload survives the server being killed (and the
machine losing power). The acknowledgement itself is written with ``synchronous=NORMAL`` (PostgreSQL:
``synchronous_commit=off``): it survives the process being killed, and after a power loss the upload is merely
shown as unconfirmed and not counted, the safe side. Times are stored as naive UTC and returned as aware UTC.

A SQLite database file (and its -wal/-shm companions, which SQLite creates with the same mode) is mode 0600.
"""
from grader.leaderboard.store.accounts import hash_token
from grader.leaderboard.store.database import Store, remove_sqlite
from grader.leaderboard.store.overrides import Override
from grader.leaderboard.store.schema import MAX_ID, StoreError, Student
from grader.leaderboard.store.uploads import Fingerprint, FingerprintRow, NewUpload

__all__ = ["Fingerprint", "FingerprintRow", "MAX_ID", "NewUpload", "Override", "Store", "StoreError",
           "Student", "hash_token", "remove_sqlite"]
