"""Backup and restore of the platform: the database and the file store (`flask backup`, `flask restore`).

A backup is a directory of three files:

- database.dump (PostgreSQL: `pg_dump --format=custom`) or database.sqlite3 (SQLite: a copy made with SQLite's
  online backup API, a consistent snapshot of a database in use);
- files.tar: the file store, UPLOAD_FOLDER under uploads/ and LEARNING_FOLDER under learning/;
- manifest.json, written last: the time, the Alembic revision, the row count of every table, the SHA-256 of every
  stored file and of the two files above.

Consistency: on PostgreSQL the row counts are taken in the very snapshot pg_dump dumps (a REPEATABLE READ
transaction exports its snapshot, `pg_dump --snapshot` uses it), so the counts describe the dump exactly while the
platform keeps running. The file store is copied right after the snapshot: every file the dump refers to is in the
archive unless it was deleted within those seconds (the platform writes new files only; a file added meanwhile is
in the archive without a row, which does no harm).

A restore goes into a new (or empty) database, created when it does not exist, and an empty file store directory;
it refuses a database with tables in it, or a non-empty directory, unless forced; then it counts the rows of every
table and hashes every file again and compares them with the manifest.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
from dataclasses import dataclass, field

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.pool import NullPool

MANIFEST = "manifest.json"
FILES_ARCHIVE = "files.tar"
PG_DUMP_FILE = "database.dump"
SQLITE_FILE = "database.sqlite3"
FORMAT_VERSION = 1
CHUNK = 1024 * 1024


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why and what to do."""


# ------------------------------------------------------------------ helpers


def file_stores(config) -> dict[str, str]:
    """The file store: name in the archive -> directory (config.py: UPLOAD_FOLDER, LEARNING_FOLDER)."""
    return {"uploads": config["UPLOAD_FOLDER"], "learning": config["LEARNING_FOLDER"]}


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _HashingReader:
    """Hashes what tarfile reads, so the checksum is that of the bytes archived (a file being written meanwhile
    cannot get a checksum of other bytes)."""

    def __init__(self, f):
        self.f, self.digest = f, hashlib.sha256()

    def read(self, size=-1):
        data = self.f.read(size)
        self.digest.update(data)
        return data


def _safe_url(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _libpq(url: URL) -> tuple[str, dict]:
    """A libpq connection string without the password (it goes in PGPASSWORD, never on a command line)."""
    params = {"dbname": url.database, "host": url.host, "port": url.port, "user": url.username}
    params.update({k: v for k, v in url.query.items() if isinstance(v, str)})
    conninfo = " ".join(f"{k}='" + str(v).replace("\\", "\\\\").replace("'", "\\'") + "'"
                        for k, v in params.items() if v not in (None, ""))
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return conninfo, env


def _pg_tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise BackupError(f"{name} is not installed: install the PostgreSQL client programs "
                          "(Debian: apt-get install postgresql-client; scripts/setup.sh does it).")
    return path


def _tool_major(path: str) -> int:
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=True).stdout
    found = re.search(r"(\d+)(?:\.\d+)?", out)
    return int(found.group(1)) if found else 0


def _run(args: list[str], env: dict, what: str) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip()
        raise BackupError(f"{what} failed (exit {done.returncode}): {detail}")


def table_counts(conn: Connection) -> dict[str, int]:
    """Rows of every table of the database's default schema, by table name."""
    quote = conn.dialect.identifier_preparer.quote
    return {name: conn.execute(text(f"SELECT count(*) FROM {quote(name)}")).scalar_one()
            for name in sorted(inspect(conn).get_table_names())}


def _alembic_revision(conn: Connection) -> str | None:
    if "alembic_version" not in inspect(conn).get_table_names():
        return None
    revisions = sorted(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    return ",".join(revisions) or None


def _is_empty_dir(path: str) -> bool:
    return not os.path.exists(path) or (os.path.isdir(path) and not os.listdir(path))


# ------------------------------------------------------------------ backup


def backup(config, engine, to_dir: str, echo=print) -> dict:
    """Writes a backup of the configured database (`engine`) and file store into `to_dir`, which must not exist or
    be empty. Returns the manifest."""
    target = os.path.abspath(to_dir)
    if os.path.exists(target) and not _is_empty_dir(target):
        raise BackupError(f"{target} exists and is not empty: give a new directory for each backup.")
    for name, root in file_stores(config).items():
        root = os.path.abspath(root)
        if os.path.commonpath([target, root]) == root:
            raise BackupError(f"{target} is inside the file store ({root}): the backup would archive itself. "
                              "Choose a directory outside it.")
    partial = f"{target}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    try:
        url = engine.url
        if url.get_backend_name() == "postgresql":
            database = _backup_postgresql(engine, partial, echo)
        elif url.get_backend_name() == "sqlite":
            database = _backup_sqlite(engine, partial, echo)
        else:
            raise BackupError(f"No backup for a {url.get_backend_name()} database: PostgreSQL or SQLite only.")
        echo("archiving the file store ...")
        files = _archive_files(config, os.path.join(partial, FILES_ARCHIVE))
        manifest = {
            "format": FORMAT_VERSION,
            "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "alembic_revision": database.pop("alembic_revision"),
            "database": database,
            "files": files,
        }
        with open(os.path.join(partial, MANIFEST), "w", encoding="utf-8") as f:
            json.dump(manifest, f, ensure_ascii=False, indent=1, sort_keys=True)
        if os.path.isdir(target):
            os.rmdir(target)  # empty (checked above)
        os.rename(partial, target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    tables = manifest["database"]["tables"]
    echo(f"backup written to {target}: {len(tables)} tables, {sum(tables.values())} rows, "
         f"{len(files['entries'])} files ({files['bytes']} bytes), Alembic revision {manifest['alembic_revision']}")
    return manifest


def _backup_postgresql(engine, into: str, echo) -> dict:
    pg_dump = _pg_tool("pg_dump")
    path = os.path.join(into, PG_DUMP_FILE)
    conninfo, env = _libpq(engine.url)
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
        with conn.begin():
            server_major = conn.execute(text("SHOW server_version_num")).scalar_one()
            server_major = int(server_major) // 10000
            if _tool_major(pg_dump) < server_major:
                raise BackupError(f"{pg_dump} is older than the server (PostgreSQL {server_major}): install the "
                                  f"postgresql-client of version {server_major} or later.")
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            echo(f"counting rows in snapshot {snapshot} ...")
            counts = table_counts(conn)
            revision = _alembic_revision(conn)
            echo(f"pg_dump of {_safe_url(engine.url)} ...")
            # the transaction holding the snapshot stays open until pg_dump has started from it (and finished)
            _run([pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--file={path}", f"--dbname={conninfo}"],
                 env, "pg_dump")
    return {"dialect": "postgresql", "file": PG_DUMP_FILE, "format": "pg_dump custom",
            "server_version": server_major, "sha256": sha256_of(path), "tables": counts,
            "alembic_revision": revision}


def _sqlite_path(url: URL) -> str:
    if not url.database or url.database == ":memory:":
        raise BackupError("The SQLite database is in memory: nothing to back up.")
    return os.path.abspath(url.database)


def _backup_sqlite(engine, into: str, echo) -> dict:
    source = _sqlite_path(engine.url)
    path = os.path.join(into, SQLITE_FILE)
    echo(f"copying {source} (SQLite online backup) ...")
    src = sqlite3.connect(source)
    dst = sqlite3.connect(path)
    try:
        src.backup(dst)  # a consistent snapshot, even while the platform writes
    finally:
        dst.close()
        src.close()
    copy = create_engine(f"sqlite:///{path}", poolclass=NullPool)
    try:
        with copy.connect() as conn:
            counts, revision = table_counts(conn), _alembic_revision(conn)
    finally:
        copy.dispose()
    return {"dialect": "sqlite", "file": SQLITE_FILE, "format": "sqlite", "sha256": sha256_of(path),
            "tables": counts, "alembic_revision": revision}


def _archive_files(config, archive: str) -> dict:
    entries: dict[str, str] = {}
    total = 0
    stores = file_stores(config)
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, root in stores.items():
            if not os.path.isdir(root):
                continue
            tar.add(root, arcname=name, recursive=False)  # the store's own directory
            for folder, dirs, names in os.walk(root):
                dirs.sort()
                for entry in sorted(names):
                    full = os.path.join(folder, entry)
                    if not os.path.isfile(full) or os.path.islink(full):
                        continue  # only regular files are stored (no links, sockets, devices)
                    member = f"{name}/{os.path.relpath(full, root).replace(os.sep, '/')}"
                    info = tar.gettarinfo(full, arcname=member)
                    with open(full, "rb") as f:
                        reader = _HashingReader(f)
                        tar.addfile(info, reader)
                    entries[member] = reader.digest.hexdigest()
                    total += info.size
    return {"archive": FILES_ARCHIVE, "sha256": sha256_of(archive), "stores": stores, "entries": entries,
            "bytes": total}


# ------------------------------------------------------------------ restore


@dataclass
class Verification:
    tables: list[tuple[str, int | None, int | None]] = field(default_factory=list)  # name, backup, restored
    files: list[tuple[str, str, str | None]] = field(default_factory=list)  # member, backup sha, restored sha
    revision: tuple[str | None, str | None] = (None, None)

    @property
    def table_mismatches(self):
        return [t for t in self.tables if t[1] != t[2]]

    @property
    def file_mismatches(self):
        return [f for f in self.files if f[1] != f[2]]

    @property
    def ok(self) -> bool:
        return not self.table_mismatches and not self.file_mismatches and self.revision[0] == self.revision[1]


def read_manifest(from_dir: str) -> dict:
    path = os.path.join(from_dir, MANIFEST)
    if not os.path.isfile(path):
        raise BackupError(f"{from_dir} holds no {MANIFEST}: not a backup, or an unfinished one.")
    with open(path, encoding="utf-8") as f:
        manifest = json.load(f)
    if manifest.get("format") != FORMAT_VERSION:
        raise BackupError(f"{path}: unknown backup format {manifest.get('format')!r}.")
    for part in (manifest["database"], manifest["files"]):
        name = part.get("file") or part.get("archive")
        full = os.path.join(from_dir, name)
        if not os.path.isfile(full):
            raise BackupError(f"{full} is missing: the backup is incomplete.")
        if sha256_of(full) != part["sha256"]:
            raise BackupError(f"{full} does not match its checksum in the manifest: the backup is damaged.")
    return manifest


def restore(config, from_dir: str, database_url: str, files_to: str | None = None, force: bool = False,
            jobs: int = 1, echo=print) -> Verification:
    """Restores the backup in `from_dir` into the database at `database_url` (created if it does not exist) and the
    file store (`files_to`/uploads and `files_to`/learning, or the configured UPLOAD_FOLDER and LEARNING_FOLDER),
    then verifies row counts and checksums against the manifest."""
    from_dir = os.path.abspath(from_dir)
    manifest = read_manifest(from_dir)
    try:
        url = make_url(database_url)
    except Exception as exc:  # noqa: BLE001 - sqlalchemy.exc.ArgumentError and friends
        raise BackupError(f"--database-url is not a database URL: {exc}") from None
    dialect = manifest["database"]["dialect"]
    if url.get_backend_name() != dialect:
        raise BackupError(f"This backup is of a {dialect} database; --database-url names a "
                          f"{url.get_backend_name()} one. Restore it into a {dialect} database.")
    stores = ({name: os.path.join(os.path.abspath(files_to), name) for name in manifest["files"]["stores"]}
              if files_to else {name: os.path.abspath(path) for name, path in file_stores(config).items()})
    busy = [path for path in stores.values() if not _is_empty_dir(path)]
    if busy and not force:
        raise BackupError(f"The file store directory {', '.join(busy)} is not empty: restore into empty directories "
                          "(--files-to DIR), or pass --force to write the backup's files over what is there.")

    if dialect == "postgresql":
        _restore_postgresql(url, os.path.join(from_dir, manifest["database"]["file"]), force, jobs, echo)
    else:
        _restore_sqlite(url, os.path.join(from_dir, manifest["database"]["file"]), force, echo)

    echo("extracting the file store ...")
    _extract_files(os.path.join(from_dir, manifest["files"]["archive"]), stores)
    echo("verifying ...")
    return verify(manifest, url, stores)


def _pg_database_state(url: URL) -> int | None:
    """None if the database does not exist, else the number of relations in it outside the system schemas."""
    admin = create_engine(url.set(database="postgres"), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                  {"name": url.database}).scalar()
    finally:
        admin.dispose()
    if not exists:
        return None
    target = create_engine(url, poolclass=NullPool)
    try:
        with target.connect() as conn:
            return conn.execute(text(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND n.nspname NOT IN ('pg_catalog', "
                "'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'"
            )).scalar_one()
    finally:
        target.dispose()


def _restore_postgresql(url: URL, dump: str, force: bool, jobs: int, echo) -> None:
    pg_restore = _pg_tool("pg_restore")
    if not url.database:
        raise BackupError("--database-url names no database.")
    try:
        relations = _pg_database_state(url)
    except Exception as exc:  # noqa: BLE001 - the server is not reachable, a wrong password ...
        raise BackupError(f"Cannot reach {_safe_url(url)}: {str(exc).splitlines()[0]}") from None
    if relations is None:
        admin = create_engine(url.set(database="postgres"), poolclass=NullPool, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f"CREATE DATABASE {conn.dialect.identifier_preparer.quote(url.database)}"))
        finally:
            admin.dispose()
        echo(f"created the database {url.database}")
    elif relations and not force:
        raise BackupError(f"The database {url.database} is not empty ({relations} tables, views or sequences): "
                          "restore into a new or empty database, or pass --force to replace the backup's tables "
                          "in it.")
    conninfo, env = _libpq(url)
    args = [pg_restore, "--no-owner", "--no-privileges", "--exit-on-error", f"--dbname={conninfo}"]
    if relations:
        args += ["--clean", "--if-exists"]
    if jobs > 1:
        args.append(f"--jobs={jobs}")
    echo(f"pg_restore into {_safe_url(url)} ...")
    _run(args + [dump], env, "pg_restore")


def _restore_sqlite(url: URL, copy: str, force: bool, echo) -> None:
    path = _sqlite_path(url)
    if os.path.exists(path) and os.path.getsize(path) > 0:
        probe = create_engine(f"sqlite:///{path}", poolclass=NullPool)
        try:
            tables = inspect(probe).get_table_names()
        finally:
            probe.dispose()
        if tables and not force:
            raise BackupError(f"The database {path} is not empty ({len(tables)} tables): restore into a new file, "
                              "or pass --force to replace it.")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    echo(f"copying the database into {path} ...")
    src, dst = sqlite3.connect(copy), sqlite3.connect(path)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _extract_files(archive: str, stores: dict[str, str]) -> None:
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            store, _, rest = member.name.partition("/")
            if store not in stores:
                raise BackupError(f"{archive}: unexpected entry {member.name!r}")
            if not rest:
                os.makedirs(stores[store], exist_ok=True)
                continue
            try:  # the "data" filter refuses absolute names, "..", links out of the directory, device files
                tar.extract(member.replace(name=rest, deep=False), stores[store], filter="data")
            except tarfile.FilterError as exc:
                raise BackupError(f"{archive}: refused entry {member.name!r} ({exc})") from None


def verify(manifest: dict, url: URL, stores: dict[str, str]) -> Verification:
    result = Verification()
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            restored = table_counts(conn)
            revision = _alembic_revision(conn)
    finally:
        engine.dispose()
    expected = manifest["database"]["tables"]
    result.tables = [(name, expected.get(name), restored.get(name)) for name in sorted(set(expected) | set(restored))]
    result.revision = (manifest["alembic_revision"], revision)
    for member, digest in sorted(manifest["files"]["entries"].items()):
        store, _, rest = member.partition("/")
        path = os.path.join(stores[store], *rest.split("/"))
        result.files.append((member, digest, sha256_of(path) if os.path.isfile(path) else None))
    return result


def report(result: Verification, echo=print) -> None:
    """The comparison, table by table, then the files."""
    width = max([len(name) for name, _, _ in result.tables] + [5])
    echo(f"{'table'.ljust(width)}  {'backup':>10}  {'restored':>10}")
    for name, before, after in result.tables:
        mark = "" if before == after else "  <-- differs"
        echo(f"{name.ljust(width)}  {'-' if before is None else before:>10}  {'-' if after is None else after:>10}"
             f"{mark}")
    rows = sum(b or 0 for _, b, _ in result.tables)
    echo(f"tables: {len(result.tables) - len(result.table_mismatches)} of {len(result.tables)} equal ({rows} rows)")
    for member, digest, found in result.file_mismatches:
        echo(f"file {member}: " + ("missing" if found is None else f"sha256 {found} instead of {digest}"))
    echo(f"files: {len(result.files) - len(result.file_mismatches)} of {len(result.files)} equal (sha256)")
    echo(f"Alembic revision: backup {result.revision[0]}, restored {result.revision[1]}"
         + ("" if result.revision[0] == result.revision[1] else "  <-- differs"))


def serve_hint(database_url: str, files_to: str | None) -> str:
    """What to set to serve a restored copy (said by `flask restore`): empty when it went to the configured stores."""
    if not files_to:
        return ""
    stores = {name: os.path.join(os.path.abspath(files_to), name) for name in ("uploads", "learning")}
    return (f" Serve it with DATABASE_URL={_safe_url(make_url(database_url))} UPLOAD_FOLDER={stores['uploads']} "
            f"LEARNING_FOLDER={stores['learning']}")
