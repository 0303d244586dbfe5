"""The rollup of the completion statistics (完成情况统计): per unit its staff headcount, per unit and year how many
of its staff have a year summary, took part and passed. Kept by database triggers in the same transaction as
every write that changes a figure, whatever path makes it:

* year_summary (hours credited by a declaration, a base report, online learning, a test factory);
* person.is_staff and person.unit_id (a membership approved, removed or moved, a transfer, a profile edit);
* org.region_id and org.path (the region whose standard applies to a unit's people);
* the yearly standards: `completion_standard` holds, per region key (a region id, or NO_REGION) and year, the
  standard that applies (annual.standards: the region's own, else the nearest region above it, else the default;
  a year without a row takes the latest earlier one). It is rebuilt after every ORM flush that touches
  AnnualStandard or Region (`_standards_flushed`), and the rollup rows whose standard changed are recounted in
  that same flush.

The trigger DDL (migration 5e1f0c2d3b4a) and the set-based rebuild below share the SQL fragments of this module.
"""
from __future__ import annotations

from contextlib import contextmanager
from decimal import Decimal

from flask_appbuilder import Model
from sqlalchemy import Integer, event, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from .hours import HOURS, AnnualStandard
from .org import Region

NO_REGION = -1  # the region key of units under no region at all (the default standard applies)


class CompletionUnit(Model):
    """Per unit: how many staff professionals it has (trigger-kept, never written by the application)."""

    __tablename__ = "completion_unit"
    unit_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    headcount: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    def __repr__(self) -> str:
        return f"<CompletionUnit {self.unit_id}: {self.headcount}>"


class CompletionRollup(Model):
    """Per unit and year, among its staff: how many have a year summary, took part (hours > 0), passed."""

    __tablename__ = "completion_rollup"
    unit_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    counted: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    took_part: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    passed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    def __repr__(self) -> str:
        return f"<CompletionRollup {self.unit_id}/{self.year}: {self.took_part} took part, {self.passed} passed>"


class CompletionOrg(Model):
    """Per org: the staff headcount of its whole subtree (itself included), summed from completion_unit."""

    __tablename__ = "completion_org"
    org_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    headcount: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    def __repr__(self) -> str:
        return f"<CompletionOrg {self.org_id}: {self.headcount}>"


class CompletionOrgYear(Model):
    """Per org and year: completion_rollup summed over its whole subtree (itself included)."""

    __tablename__ = "completion_org_year"
    org_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    counted: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    took_part: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    passed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    def __repr__(self) -> str:
        return f"<CompletionOrgYear {self.org_id}/{self.year}: {self.took_part} took part, {self.passed} passed>"


class CompletionStandard(Model):
    """The standard that applies to a region key from a year on (until the key's next row)."""

    __tablename__ = "completion_standard"
    region_key: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    public_min: Mapped[Decimal] = mapped_column(HOURS, nullable=False)
    professional_min: Mapped[Decimal] = mapped_column(HOURS, nullable=False)
    total_min: Mapped[Decimal] = mapped_column(HOURS, nullable=False)

    def __repr__(self) -> str:
        return f"<CompletionStandard {self.region_key}/{self.year}>"


# ------------------------------------------------------------------ SQL fragments (triggers and rebuilds)

def region_sql(unit: str) -> str:
    """The region key of the unit whose id is the SQL `unit`: its own region, else the nearest HR bureau's above it
    (annual.region_of), else NO_REGION."""
    return (f"coalesce((SELECT coalesce(u.region_id, (SELECT hr.region_id FROM org hr"
            f" WHERE hr.kind IN ('hr_district', 'hr_city') AND hr.region_id IS NOT NULL"
            f" AND u.path LIKE hr.path || '%' ORDER BY length(hr.path) DESC LIMIT 1))"
            f" FROM org u WHERE u.id = {unit}), {NO_REGION})")


def took_sql(s: str) -> str:
    """1 if the year summary `s` (a row alias, NEW or OLD) has any hours, else 0."""
    return f"CASE WHEN {s}.public_hours + {s}.professional_hours > 0 THEN 1 ELSE 0 END"


def passed_sql(s: str, unit: str) -> str:
    """1 if the year summary `s` meets the standard of its year for the people of `unit`, else 0 (no standard:
    nobody passes)."""
    return passed_by_key_sql(s, region_sql(unit))


def passed_by_key_sql(s: str, key: str) -> str:
    """passed_sql for the people of a unit whose region key is the SQL `key`."""
    return (f"coalesce((SELECT CASE WHEN {s}.public_hours >= c.public_min"
            f" AND {s}.professional_hours >= c.professional_min"
            f" AND {s}.public_hours + {s}.professional_hours >= c.total_min THEN 1 ELSE 0 END"
            f" FROM completion_standard c WHERE c.region_key = {key} AND c.year <= {s}.year"
            f" ORDER BY c.year DESC LIMIT 1), 0)")


def _upsert(table: str, key: str, columns: tuple[str, ...]) -> str:
    adds = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in columns)
    return f"ON CONFLICT ({key}) DO UPDATE SET {adds}"


FIGURES = ("counted", "took_part", "passed")
UPSERT_ROLLUP = _upsert("completion_rollup", "unit_id, year", FIGURES)
UPSERT_ORG = _upsert("completion_org", "org_id", ("headcount",))
UPSERT_ORG_YEAR = _upsert("completion_org_year", "org_id, year", FIGURES)
HR_KINDS_SQL = "('hr_district', 'hr_city')"


def summary_removed(s: str = "OLD") -> str:
    return (f"UPDATE completion_rollup SET counted = counted - 1, took_part = took_part - {took_sql(s)},"
            f" passed = passed - {passed_sql(s, 'completion_rollup.unit_id')}"
            f" WHERE year = {s}.year AND unit_id = (SELECT p.unit_id FROM person p WHERE p.id = {s}.person_id"
            f" AND p.is_staff)")


def summary_added(s: str = "NEW") -> str:
    return (f"INSERT INTO completion_rollup (unit_id, year, counted, took_part, passed)"
            f" SELECT p.unit_id, {s}.year, 1, {took_sql(s)}, {passed_sql(s, 'p.unit_id')} FROM person p"
            f" WHERE p.id = {s}.person_id AND p.is_staff AND p.unit_id IS NOT NULL {UPSERT_ROLLUP}")


def person_left(p: str = "OLD") -> list[str]:
    """The person's headcount and year summaries leave the unit's rollup."""
    of_year = f"FROM year_summary ys WHERE ys.person_id = {p}.id AND ys.year = completion_rollup.year"
    return [f"UPDATE completion_unit SET headcount = headcount - 1 WHERE unit_id = {p}.unit_id AND {p}.is_staff",
            f"UPDATE completion_rollup SET counted = counted - (SELECT count(*) {of_year}),"
            f" took_part = took_part - (SELECT coalesce(sum({took_sql('ys')}), 0) {of_year}),"
            f" passed = passed - (SELECT coalesce(sum({passed_sql('ys', f'{p}.unit_id')}), 0) {of_year})"
            f" WHERE {p}.is_staff AND unit_id = {p}.unit_id"
            f" AND year IN (SELECT y.year FROM year_summary y WHERE y.person_id = {p}.id)"]


def person_joined(p: str = "NEW") -> list[str]:
    """The person's headcount and year summaries join the unit's rollup."""
    return [f"INSERT INTO completion_unit (unit_id, headcount) SELECT {p}.unit_id, 1"
            f" WHERE {p}.is_staff AND {p}.unit_id IS NOT NULL"
            f" ON CONFLICT (unit_id) DO UPDATE SET headcount = completion_unit.headcount + 1",
            f"INSERT INTO completion_rollup (unit_id, year, counted, took_part, passed)"
            f" SELECT {p}.unit_id, ys.year, 1, {took_sql('ys')}, {passed_sql('ys', f'{p}.unit_id')}"
            f" FROM year_summary ys WHERE ys.person_id = {p}.id AND {p}.is_staff AND {p}.unit_id IS NOT NULL"
            f" {UPSERT_ROLLUP}"]


def org_region_moved(distinct: str) -> list[str]:
    """Recount the rollup of the units whose region key may have changed with this org's region or path: the org
    itself, and (an HR bureau) the units below it without a region of their own. `distinct` is the dialect's
    null-safe "differs" operator."""
    units = (f"SELECT u.id FROM org u WHERE (u.id = NEW.id AND (OLD.region_id {distinct} NEW.region_id"
             f" OR NEW.region_id IS NULL)) OR (NEW.kind IN {HR_KINDS_SQL} AND u.region_id IS NULL"
             f" AND u.path LIKE NEW.path || '%')")
    return [f"DELETE FROM completion_rollup WHERE unit_id IN ({units})",
            f"INSERT INTO completion_rollup (unit_id, year, counted, took_part, passed)"
            f" SELECT p.unit_id, ys.year, count(*), sum({took_sql('ys')}), sum({passed_sql('ys', 'p.unit_id')})"
            f" FROM person p JOIN year_summary ys ON ys.person_id = p.id"
            f" WHERE p.is_staff AND p.unit_id IN ({units}) GROUP BY p.unit_id, ys.year"]


def ancestors_sql(path: str, dialect: str) -> str:
    """The ids of the orgs of a materialised path ("/1/5/23/": 1, 5 and 23), as a one-column (id) SELECT."""
    if dialect == "postgresql":
        return f"SELECT CAST(a AS integer) AS id FROM unnest(string_to_array(trim(both '/' from {path}), '/')) a"
    return f"SELECT CAST(value AS INTEGER) AS id FROM json_each('[' || replace(trim({path}, '/'), '/', ',') || ']')"


def _path_of(unit: str) -> str:
    return f"(SELECT o.path FROM org o WHERE o.id = {unit})"


def tree_headcount(row: str, sign: str, dialect: str) -> str:
    """A completion_unit row (NEW or OLD) added to (sign "") or taken from (sign "-") every org above it."""
    return (f"INSERT INTO completion_org (org_id, headcount)"
            f" SELECT a.id, {sign}{row}.headcount FROM ({ancestors_sql(_path_of(f'{row}.unit_id'), dialect)}) a"
            f" WHERE {row}.headcount <> 0 {UPSERT_ORG}")


def tree_figures(row: str, sign: str, dialect: str) -> str:
    """A completion_rollup row (NEW or OLD) added to or taken from every org above it, that year."""
    return (f"INSERT INTO completion_org_year (org_id, year, counted, took_part, passed)"
            f" SELECT a.id, {row}.year, {sign}{row}.counted, {sign}{row}.took_part, {sign}{row}.passed"
            f" FROM ({ancestors_sql(_path_of(f'{row}.unit_id'), dialect)}) a"
            f" WHERE {row}.counted <> 0 OR {row}.took_part <> 0 OR {row}.passed <> 0 {UPSERT_ORG_YEAR}")


def org_path_moved(dialect: str, guard: str = "TRUE") -> list[str]:
    """The org's own rows leave the orgs of its old path and join those of its new one (its descendants' rows
    move with their own path updates); `guard` is a condition on the trigger's row."""
    statements = []
    for path, sign in (("OLD.path", "-"), ("NEW.path", "")):
        ancestors = ancestors_sql(path, dialect)
        statements += [
            f"INSERT INTO completion_org (org_id, headcount) SELECT a.id, {sign}c.headcount"
            f" FROM completion_unit c, ({ancestors}) a WHERE c.unit_id = NEW.id AND c.headcount <> 0 AND {guard}"
            f" {UPSERT_ORG}",
            f"INSERT INTO completion_org_year (org_id, year, counted, took_part, passed)"
            f" SELECT a.id, r.year, {sign}r.counted, {sign}r.took_part, {sign}r.passed"
            f" FROM completion_rollup r, ({ancestors}) a WHERE r.unit_id = NEW.id AND {guard} {UPSERT_ORG_YEAR}"]
    return statements


TREE_TRIGGERS = ("completion_unit_", "completion_rollup_")  # name prefixes of the triggers that keep the subtree rows


# PostgreSQL: a recount of whole years rewrites 20,000 units' rows; it turns the subtree triggers off for itself
# (a transaction-local setting) and rebuilds those years' subtree rows set-based instead (`recount`).
BULK = "completion.bulk"
BULK_SKIP = f"IF current_setting('{BULK}', true) = 'on' THEN RETURN NULL; END IF;\n"
LOCK_ROOTS = ("PERFORM 1 FROM completion_org h WHERE h.org_id IN (SELECT o.id FROM org o WHERE o.parent_id IS NULL)"
              " ORDER BY h.org_id FOR UPDATE")
# PostgreSQL: a transaction that inserts many people (a staff import) sets this (transaction-local) while it writes
# them: the person inserts neither lock the root rows nor touch the rollup, and the transaction's people join the
# rollup at its commit (statement_triggers.DEFERRED_INSERT). The rows every writer waits for (the city's) are then
# held from that fold to the commit only, not for the whole import.
DEFER_PEOPLE = "completion.defer_people"
DEFERRED = f"current_setting('{DEFER_PEOPLE}', true) = 'on'"
# PostgreSQL: every statement that writes what the rollup counts first locks the root orgs' rows (the city's), before
# it locks any row of its own: writers of the rollup take their locks in one order, so that a transaction writing
# for many people (a base report, a batch of transfers) and one writing for a person of the same units or the
# same person wait for each other instead of each holding a row the other needs (a deadlock).
LOCKED_WRITES = {"year_summary": "INSERT OR DELETE OR UPDATE",
                 "person": "INSERT OR DELETE OR UPDATE OF is_staff, unit_id", "org": "UPDATE OF region_id, path"}


LOCK_ROOTS_UNLESS_DEFERRED = (f"IF TG_TABLE_NAME = 'person' AND {DEFERRED} THEN RETURN NULL; END IF;\n"
                              f"{LOCK_ROOTS};")


def trigger_ddl(dialect: str) -> tuple[list[str], list[str], list[str]]:
    """(create the units' triggers, create the subtree triggers, drop them all) for PostgreSQL or SQLite: the units'
    own rows follow year_summary, person and org; the subtree rows follow the units' own rows (and org paths)."""
    if dialect == "postgresql":
        def function(name: str, body: str) -> str:
            return (f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n{body}\n"
                    "RETURN NULL;\nEND $$")

        def run(statements: list[str]) -> str:
            return "".join(f"  {s};\n" for s in statements)

        def on_rows(removed: list[str], added: list[str]) -> str:
            return (f"IF TG_OP IN ('DELETE', 'UPDATE') THEN\n{run(removed)}END IF;\n"
                    f"IF TG_OP IN ('INSERT', 'UPDATE') THEN\n{run(added)}END IF;")

        pg = "postgresql"
        functions = {
            "completion_summary_sync": ("year_summary", "INSERT OR DELETE OR UPDATE", "",
                                        on_rows([summary_removed()], [summary_added()])),
            "completion_person_sync": ("person", "INSERT OR DELETE OR UPDATE OF is_staff, unit_id", "",
                                       "IF TG_OP = 'UPDATE' AND OLD.is_staff IS NOT DISTINCT FROM NEW.is_staff"
                                       " AND OLD.unit_id IS NOT DISTINCT FROM NEW.unit_id THEN RETURN NULL; END IF;\n"
                                       + on_rows(person_left(), person_joined())),
            "completion_org_sync": ("org", "UPDATE OF region_id, path",
                                    "WHEN (OLD.region_id IS DISTINCT FROM NEW.region_id"
                                    " OR OLD.path IS DISTINCT FROM NEW.path)",
                                    f"IF OLD.path IS DISTINCT FROM NEW.path THEN\n{run(org_path_moved(pg))}END IF;\n"
                                    + run(org_region_moved("IS DISTINCT FROM"))),
            "completion_unit_tree": ("completion_unit", "INSERT OR DELETE OR UPDATE", "",
                                     BULK_SKIP + on_rows([tree_headcount("OLD", "-", pg)],
                                                         [tree_headcount("NEW", "", pg)])),
            "completion_rollup_tree": ("completion_rollup", "INSERT OR DELETE OR UPDATE", "",
                                       BULK_SKIP + on_rows([tree_figures("OLD", "-", pg)],
                                                           [tree_figures("NEW", "", pg)])),
        }
        units, tree, drop = [], [], []
        for name, (table, events, when, body) in functions.items():
            (tree if name.startswith(TREE_TRIGGERS) else units).extend([
                function(name, body),
                f"CREATE TRIGGER {name} AFTER {events} ON {table} FOR EACH ROW {when} EXECUTE FUNCTION {name}()"])
            drop += [f"DROP TRIGGER IF EXISTS {name} ON {table}", f"DROP FUNCTION IF EXISTS {name}()"]
        units.append(function("completion_lock", LOCK_ROOTS_UNLESS_DEFERRED))
        for table, events in LOCKED_WRITES.items():
            units.append(f"CREATE TRIGGER completion_lock BEFORE {events} ON {table} FOR EACH STATEMENT"
                         " EXECUTE FUNCTION completion_lock()")
            drop.append(f"DROP TRIGGER IF EXISTS completion_lock ON {table}")
        drop.append("DROP FUNCTION IF EXISTS completion_lock()")
        return units, tree, drop

    def trigger(name: str, event_on: str, statements: list[str], when: str = "") -> str:
        body = "".join(f" {s};" for s in statements)
        return f"CREATE TRIGGER {name} AFTER {event_on} {f'WHEN {when} ' if when else ''}BEGIN{body} END"

    lite = "sqlite"
    create = [
        trigger("completion_summary_insert", "INSERT ON year_summary", [summary_added()]),
        trigger("completion_summary_delete", "DELETE ON year_summary", [summary_removed()]),
        trigger("completion_summary_update", "UPDATE ON year_summary", [summary_removed(), summary_added()]),
        trigger("completion_person_insert", "INSERT ON person", person_joined()),
        trigger("completion_person_delete", "DELETE ON person", person_left()),
        trigger("completion_person_update", "UPDATE OF is_staff, unit_id ON person", person_left() + person_joined(),
                "OLD.is_staff IS NOT NEW.is_staff OR OLD.unit_id IS NOT NEW.unit_id"),
        trigger("completion_org_update", "UPDATE OF region_id, path ON org",
                org_path_moved(lite, "OLD.path IS NOT NEW.path") + org_region_moved("IS NOT"),
                "OLD.region_id IS NOT NEW.region_id OR OLD.path IS NOT NEW.path"),
        trigger("completion_unit_insert", "INSERT ON completion_unit", [tree_headcount("NEW", "", lite)]),
        trigger("completion_unit_delete", "DELETE ON completion_unit", [tree_headcount("OLD", "-", lite)]),
        trigger("completion_unit_update", "UPDATE ON completion_unit",
                [tree_headcount("OLD", "-", lite), tree_headcount("NEW", "", lite)]),
        trigger("completion_rollup_insert", "INSERT ON completion_rollup", [tree_figures("NEW", "", lite)]),
        trigger("completion_rollup_delete", "DELETE ON completion_rollup", [tree_figures("OLD", "-", lite)]),
        trigger("completion_rollup_update", "UPDATE ON completion_rollup",
                [tree_figures("OLD", "-", lite), tree_figures("NEW", "", lite)]),
    ]
    drop = [f"DROP TRIGGER IF EXISTS {c.split()[2]}" for c in create]
    return ([c for c in create if not c.split()[2].startswith(TREE_TRIGGERS)],
            [c for c in create if c.split()[2].startswith(TREE_TRIGGERS)], drop)


# ------------------------------------------------------------------ standards and set-based rebuilds

Marks = tuple[Decimal, Decimal, Decimal]


def resolve_standards(rows, parents: dict[int, int | None]) -> dict[tuple[int, int], Marks]:
    """(region key, year) -> the marks of the standard set for that year that applies to the key (annual.standards:
    the region's own, else the nearest region above it, else the default). Only years with a standard set."""
    resolved = {}
    for key in [*parents, NO_REGION]:
        depth, region, chain = 0, key, {}
        while region in parents and region not in chain:
            chain[region] = depth
            region, depth = parents[region], depth + 1
        best: dict[int, tuple[int, Marks]] = {}
        for year, region_id, *marks in rows:
            rank = chain.get(region_id) if region_id is not None else 10 ** 6
            if rank is not None and (year not in best or rank < best[year][0]):
                best[year] = (rank, _marks(marks))
        resolved.update({(key, year): marks for year, (_rank, marks) in best.items()})
    return resolved


def _marks(values) -> Marks:
    """Hours as exact decimals (SQLite hands numerics back as floats)."""
    return tuple(Decimal(str(v)) for v in values)


def effective(resolved: dict[tuple[int, int], Marks], key: int, year: int) -> Marks | None:
    """The marks that apply to `key` in `year`: its latest row of that year or before."""
    years = [y for k, y in resolved if k == key and y <= year]
    return resolved[(key, max(years))] if years else None


def _literal_table(resolved, keys, years) -> str:
    """The applying standard of each (key, year) as a small literal table (numbers only, inlined)."""
    rows = []
    for key in keys:
        for year in years:
            marks = effective(resolved, key, year)
            if marks is not None:
                rows.append(f"SELECT {int(key)} AS region_key, {int(year)} AS year, {marks[0]:f} AS public_min,"
                            f" {marks[1]:f} AS professional_min, {marks[2]:f} AS total_min")
    return " UNION ALL ".join(rows) or (f"SELECT {NO_REGION - 1} AS region_key, 0 AS year, 0 AS public_min,"
                                        " 0 AS professional_min, 0 AS total_min")


def load_resolved(conn) -> dict[tuple[int, int], Marks]:
    return {(k, y): _marks(marks) for k, y, *marks in conn.execute(text(
        "SELECT region_key, year, public_min, professional_min, total_min FROM completion_standard"))}


def recount(conn, resolved, years: list[int], keys: list[int] | None = None) -> None:
    """Rebuild the rollup rows of these years (of the units of these region keys; None: every unit) from the year
    summaries, set-based: one DELETE and one INSERT … SELECT … GROUP BY."""
    if not years:
        return
    all_keys = sorted({k for k, _y in resolved} | {NO_REGION}) if keys is None else keys
    year_list = ", ".join(str(int(y)) for y in years)
    units = f"SELECT o.id AS id, {region_sql('o.id')} AS region_key FROM org o"
    key_filter = "" if keys is None else f" WHERE k.region_key IN ({', '.join(str(int(k)) for k in keys)})"
    chosen = f"SELECT k.id, k.region_key FROM ({units}) k{key_filter}"
    with _bulk(conn) as bulk:
        conn.execute(text(f"DELETE FROM completion_rollup WHERE year IN ({year_list})"
                          + ("" if keys is None else f" AND unit_id IN (SELECT id FROM ({chosen}) c)")))
        conn.execute(text(
            "INSERT INTO completion_rollup (unit_id, year, counted, took_part, passed)"
            f" SELECT p.unit_id, ys.year, count(*), sum({took_sql('ys')}),"
            " sum(CASE WHEN s.region_key IS NOT NULL AND ys.public_hours >= s.public_min"
            " AND ys.professional_hours >= s.professional_min"
            " AND ys.public_hours + ys.professional_hours >= s.total_min THEN 1 ELSE 0 END)"
            f" FROM person p JOIN year_summary ys ON ys.person_id = p.id JOIN ({chosen}) k ON k.id = p.unit_id"
            f" LEFT JOIN ({_literal_table(resolved, all_keys, years)}) s"
            " ON s.region_key = k.region_key AND s.year = ys.year"
            f" WHERE p.is_staff AND ys.year IN ({year_list}) GROUP BY p.unit_id, ys.year"))
        if bulk:
            rebuild_tree(conn, years)


@contextmanager
def _bulk(conn):
    """PostgreSQL: the subtree triggers are off inside (the caller rebuilds the subtree rows); yields whether they
    are. The setting is local to the transaction and put back as it was."""
    if conn.dialect.name != "postgresql":
        yield False
        return
    before = conn.execute(text(f"SELECT current_setting('{BULK}', true)")).scalar() or "off"
    conn.execute(text(f"SELECT set_config('{BULK}', 'on', true)"))
    yield True
    conn.execute(text(f"SELECT set_config('{BULK}', :before, true)"), {"before": before})


def refresh_standards(conn) -> bool:
    """Bring completion_standard up to the annual standards and regions, and recount the rollup rows whose
    applying standard changed (those years, the units of those region keys). True if anything changed."""
    parents = dict(conn.execute(text("SELECT id, parent_id FROM region")).all())
    rows = conn.execute(text("SELECT year, region_id, public_min, professional_min, total_min FROM annual_standard"))
    new = resolve_standards(rows.all(), parents)
    old = load_resolved(conn)
    if new == old:
        return False
    if conn.dialect.name == "postgresql":  # the order of the triggers' locks (LOCK_ROOTS)
        conn.execute(text(LOCK_ROOTS.replace("PERFORM", "SELECT", 1)))
    conn.execute(text("DELETE FROM completion_standard"))
    if new:
        conn.execute(CompletionStandard.__table__.insert(), [
            {"region_key": k, "year": y, "public_min": a, "professional_min": b, "total_min": c}
            for (k, y), (a, b, c) in new.items()])
    keys = sorted({k for k, _y in old} | {k for k, _y in new} | {NO_REGION})
    for year in conn.execute(text("SELECT DISTINCT year FROM completion_rollup ORDER BY year")).scalars():
        changed = [k for k in keys if effective(old, k, year) != effective(new, k, year)]
        if changed:
            recount(conn, new, [year], None if len(changed) == len(keys) else changed)
    return True


def rebuild(conn) -> None:
    """Everything from scratch: the standards, the headcounts and every year's rollup (a migration's backfill,
    or a database loaded with its triggers off)."""
    with _bulk(conn):
        for table in ("completion_standard", "completion_rollup", "completion_unit"):
            conn.execute(text(f"DELETE FROM {table}"))
        refresh_standards(conn)
        conn.execute(text("INSERT INTO completion_unit (unit_id, headcount) SELECT unit_id, count(*) FROM person"
                          " WHERE is_staff AND unit_id IS NOT NULL GROUP BY unit_id"))
        years = list(conn.execute(text("SELECT DISTINCT year FROM year_summary ORDER BY year")).scalars())
        recount(conn, load_resolved(conn), years)
        rebuild_tree(conn)


def rebuild_tree(conn, years: list[int] | None = None) -> None:
    """The subtree rows from the units' own rows, set-based (each unit's row added to every org of its path): the
    headcounts and every year, or only these years' rows."""
    if conn.dialect.name == "postgresql":
        ancestors = "LATERAL unnest(string_to_array(trim(both '/' from o.path), '/')) a(id)"
        org_id = "CAST(a.id AS integer)"
    else:
        ancestors = "json_each('[' || replace(trim(o.path, '/'), '/', ',') || ']') a"
        org_id = "CAST(a.value AS INTEGER)"
    of_years = "" if years is None else f" WHERE r.year IN ({', '.join(str(int(y)) for y in years)})"
    if years is None:
        conn.execute(text("DELETE FROM completion_org"))
        conn.execute(text(f"INSERT INTO completion_org (org_id, headcount) SELECT {org_id}, sum(c.headcount)"
                          f" FROM completion_unit c JOIN org o ON o.id = c.unit_id, {ancestors}"
                          f" GROUP BY {org_id}"))
    conn.execute(text(f"DELETE FROM completion_org_year AS r{of_years}"))
    conn.execute(text(f"INSERT INTO completion_org_year (org_id, year, counted, took_part, passed)"
                      f" SELECT {org_id}, r.year, sum(r.counted), sum(r.took_part), sum(r.passed)"
                      f" FROM completion_rollup r JOIN org o ON o.id = r.unit_id, {ancestors}{of_years}"
                      f" GROUP BY {org_id}, r.year"))


@event.listens_for(Session, "after_flush")
def _standards_flushed(session, _context) -> None:
    """A flush that wrote an annual standard or a region refreshes the applying standards and the rollup, in the
    same transaction (whatever view or workflow made the change)."""
    if any(isinstance(item, (AnnualStandard, Region))
           for group in (session.new, session.dirty, session.deleted) for item in group):
        refresh_standards(session.connection())
