"""The real PostgreSQL 15 in the lab: a pg_dump snapshot restores into a database that passes its integrity check.

The test starts a PostgreSQL cluster of its own on mn-db-1 (as the database
role of provision.yml does: initdb with peer authentication, a socket folder,
``dynamic_shared_memory_type=mmap`` because a lab host has no /dev/shm of its
own) and one on dr-app-1 to restore into. The dump goes through restic's
``--stdin-from-command`` exactly as ``backup/databases.yml`` runs it; the
restored database is checked with ``amcheck`` (every B-tree index of the
table, with its heap) and its content against the source's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from controlplane.backup import engine, restore

if TYPE_CHECKING:
    from tests.integration.backup.conftest import BackupLab

pytestmark = [pytest.mark.root, pytest.mark.lab]
PG_BIN = "/usr/lib/postgresql/15/bin"
SOURCE, DRILL = "mn-db-1", "dr-app-1"
ROWS = 2000
DIGEST = "SELECT md5(string_agg(id || ':' || name || ':' || grade, ',' ORDER BY id)) FROM students"


def _as_postgres(bk: BackupLab, host: str, argv: list[str], timeout: float = 120) -> str:
    result = bk.sh(host, ["runuser", "-u", "postgres", "--", *argv], timeout=timeout)
    assert result.exit_code == 0, f"{host}: {argv[0]}: {result.stdout}{result.stderr}"
    return str(result.stdout).strip()


def _start_cluster(bk: BackupLab, host: str, folder: str) -> None:
    made = bk.sh(host, ["install", "-d", "-o", "postgres", "-g", "postgres", "-m", "0700", folder, f"{folder}/run"])
    assert made.exit_code == 0, made.stderr
    _as_postgres(bk, host, [f"{PG_BIN}/initdb", "-D", f"{folder}/data", "-A", "peer", "-U", "postgres", "-E", "UTF8",
                            "--locale=C.UTF-8"])  # fmt: skip
    options = f"-c listen_addresses='' -c unix_socket_directories={folder}/run -c dynamic_shared_memory_type=mmap"
    _as_postgres(bk, host, [f"{PG_BIN}/pg_ctl", "-D", f"{folder}/data", "-l", f"{folder}/log", "-o", options, "-w",
                            "start"])  # fmt: skip


def _stop_cluster(bk: BackupLab, host: str, folder: str) -> None:
    bk.sh(host, ["runuser", "-u", "postgres", "--", f"{PG_BIN}/pg_ctl", "-D", f"{folder}/data", "-m", "fast", "stop"])
    bk.sh(host, ["rm", "-rf", "--one-file-system", folder])


def _psql(bk: BackupLab, host: str, folder: str, sql: str, database: str = "edu") -> str:
    return _as_postgres(bk, host, ["psql", "-X", "-v", "ON_ERROR_STOP=1", "-tA", "-h", f"{folder}/run", "-d",
                                   database, "-c", sql])  # fmt: skip


@pytest.fixture
def clusters(bk: BackupLab) -> Iterator[tuple[str, str]]:
    from tests.integration.backup.conftest import pg_dir

    source, drill = pg_dir(bk.token), pg_dir(bk.token) + "-drill"
    try:
        _start_cluster(bk, SOURCE, source)
        _start_cluster(bk, DRILL, drill)
        yield source, drill
    finally:
        _stop_cluster(bk, SOURCE, source)
        _stop_cluster(bk, DRILL, drill)


def test_a_postgresql_dump_snapshot_restores_into_a_database_that_passes_its_integrity_check(
    bk: BackupLab, clusters: tuple[str, str]
) -> None:
    source, drill = clusters
    _as_postgres(bk, SOURCE, ["createdb", "-h", f"{source}/run", "-E", "UTF8", "edu"])
    _psql(bk, SOURCE, source, "CREATE TABLE students (id int PRIMARY KEY, name text NOT NULL, grade int NOT NULL)")
    _psql(bk, SOURCE, source, "CREATE INDEX students_grade ON students (grade)")
    _psql(
        bk, SOURCE, source,
        "INSERT INTO students SELECT n, '学生 ' || n, n % 12 FROM generate_series(1, 2000) AS n",
    )  # fmt: skip
    expected = _psql(bk, SOURCE, source, DIGEST)

    target = bk.ctx.target(bk.name("pg"), SOURCE)
    made = engine.backup(bk.ctx, target)
    assert made.status == "succeeded", made.message
    folder = f"/var/lib/egov/restore/it-{bk.token}/pg"
    restored = restore.restore(bk.ctx, target, directory=folder, to_host=DRILL)
    assert restored.status == "succeeded", restored.message
    # The restore root is root's (0700): hand the restored dump to the postgres user in its own folder.
    dump = f"{drill}/edu.dump"
    handed = bk.sh(DRILL, ["install", "-o", "postgres", "-g", "postgres", "-m", "0600", f"{folder}/edu.dump", dump])
    assert handed.exit_code == 0, handed.stderr

    _as_postgres(bk, DRILL, ["createdb", "-h", f"{drill}/run", "-E", "UTF8", "edu"])
    _as_postgres(bk, DRILL, ["pg_restore", "--exit-on-error", "-h", f"{drill}/run", "-d", "edu", dump])
    assert _psql(bk, DRILL, drill, "SELECT count(*) FROM students") == str(ROWS)
    assert _psql(bk, DRILL, drill, DIGEST) == expected
    _psql(bk, DRILL, drill, "CREATE EXTENSION amcheck")
    checked = _psql(
        bk, DRILL, drill,
        "SELECT count(bt_index_check(c.oid, true)) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE i.indrelid = 'students'::regclass",
    )  # fmt: skip
    assert checked == "2"  # the primary key and students_grade, each with its heap (heapallindexed)


def test_a_dump_whose_database_is_gone_fails_and_leaves_no_snapshot(bk: BackupLab, clusters: tuple[str, str]) -> None:
    source, _drill = clusters
    target = bk.ctx.target(bk.name("pg"), SOURCE)
    before = bk.restic_on_center("ministry", SOURCE, bk.name("pg"), "snapshots", "--json")
    _psql(bk, SOURCE, source, "DROP DATABASE IF EXISTS edu", database="postgres")
    result = engine.backup(bk.ctx, target)
    assert result.status == "failed" and result.summary["reason"] == "dump_failed", result.message
    after = bk.restic_on_center("ministry", SOURCE, bk.name("pg"), "snapshots", "--json")
    assert after.exit_code == before.exit_code and after.stdout == before.stdout
