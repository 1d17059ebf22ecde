"""The pure parts of the PostgreSQL backend: placeholders, command statuses, catalog URLs."""

from __future__ import annotations

from pathlib import Path

import pytest

from s3compat.catalog import chunkrows, schema
from s3compat.catalog.backend import database_for, is_postgresql, redact, sqlite_path
from s3compat.catalog.pg import PgDatabase, dollar_params, rows_affected


def test_question_marks_become_numbered_parameters() -> None:
    sql = "SELECT a FROM t WHERE b = ? AND c IN (?, ?) LIMIT ?"
    assert dollar_params(sql) == "SELECT a FROM t WHERE b = $1 AND c IN ($2, $3) LIMIT $4"


def test_question_marks_inside_literals_and_identifiers_stay() -> None:
    sql = """SELECT '?', "we?ird" FROM t WHERE x = ? AND y = 'it''s ?' AND z = ?"""
    assert dollar_params(sql) == (
        """SELECT '?', "we?ird" FROM t WHERE x = $1 AND y = 'it''s ?' AND z = $2"""
    )


def test_an_unterminated_quote_is_refused() -> None:
    with pytest.raises(ValueError):
        dollar_params("SELECT 'oops FROM t WHERE a = ?")


@pytest.mark.parametrize(
    ("status", "count"),
    [("INSERT 0 1", 1), ("INSERT 0 0", 0), ("UPDATE 12", 12), ("DELETE 0", 0), ("BEGIN", 0)],
)
def test_rows_affected_reads_the_command_status(status: str, count: int) -> None:
    assert rows_affected(status) == count


def test_catalog_urls_choose_the_backend(tmp_path: Path) -> None:
    assert sqlite_path(f"sqlite://{tmp_path}/c.db") == tmp_path / "c.db"
    assert sqlite_path(str(tmp_path / "c.db")) == tmp_path / "c.db"
    assert database_for(str(tmp_path / "c.db")).dialect == "sqlite"
    assert isinstance(database_for("postgresql://u@h:5432/d"), PgDatabase)
    assert is_postgresql("postgres://u@h/d") and not is_postgresql("sqlite:///x")
    with pytest.raises(ValueError):
        database_for("mysql://u@h/d")


def test_passwords_are_redacted() -> None:
    assert redact("postgresql://user:secret@db:5432/s3") == "postgresql://user@db:5432/s3"
    assert redact("postgresql://user@db/s3") == "postgresql://user@db/s3"
    assert redact("/var/lib/catalog.db") == "/var/lib/catalog.db"


def test_every_migration_exists_for_both_backends() -> None:
    assert len(schema.MIGRATIONS) == len(schema.POSTGRESQL_MIGRATIONS)


def test_the_reserved_word_offset_is_quoted() -> None:
    # PostgreSQL reserves OFFSET; SQLite accepts the quoted name too.
    assert '"offset"' in chunkrows.CHUNK_COLUMNS
