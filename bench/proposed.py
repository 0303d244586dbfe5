"""The index and query changes the bench proposes (run.py --proposed measures them; nothing here edits the app).

1. ix_org_path with varchar_pattern_ops. `Org.path LIKE '/1/9/%'` (every scope filter) cannot use the plain
   btree index unless the database collation is "C"; with C.UTF-8 / zh_CN.UTF-8 PostgreSQL reads all 20,000 orgs
   for each scope subquery. Model: Index("ix_org_path", "path", postgresql_ops={"path": "varchar_pattern_ops"}).
2. ix_registration_state_id covering reviewer_org_id: (state, id) INCLUDE (reviewer_org_id). The pending count
   of a wide scope (city bureau: 50,000 pending of 1,000,000) becomes an index-only scan instead of a bitmap heap
   scan over ~12,500 table pages. Model: Index("ix_registration_state_id", "state", "id",
   postgresql_include=["reviewer_org_id"]).
3. reg_flow.queue() picks the page's ids first (ORDER BY id DESC LIMIT n on registration alone, an index-only scan
   of ix_registration_reviewer_state_id for a unit) and joins org / reviewer org / account for those rows only.
   Today PostgreSQL joins org, org and ab_user for every matching row of a narrow scope before sorting (664 rows
   for the bench unit's pending tab, 8,500 for its approved tab).
4. Custom plans for every statement: SQLALCHEMY_ENGINE_OPTIONS = {"connect_args": {"options":
   "-c plan_cache_mode=force_custom_plan"}} on PostgreSQL (or ALTER ROLE/DATABASE ... SET plan_cache_mode).
   psycopg 3 prepares a statement server-side from its 5th execution on a connection (prepare_threshold=5) and
   PostgreSQL then may keep one generic plan for all parameter values. The scope subquery `org.path LIKE $1 || '%'`
   selects 2 orgs for a unit and 20,000 for the city bureau: a generic plan made while unit admins were served
   makes the city bureau's pending count 3-4x slower (measured 45-85 ms instead of 13-25 ms under load).
   Planning these short statements costs well under a millisecond.
5. search_orgs() (the picker), since it loads Org.parent with joinedload: the same as 3. PostgreSQL hashes all
   20,000 orgs and joins every match (10,700 rows for q=济) before the top-20 sort; pick the 20 ids first, then
   join the parents of those 20 rows.
"""
from __future__ import annotations

APPLY = [
    "CREATE INDEX ix_org_path_pattern ON org (path varchar_pattern_ops)",
    "DROP INDEX ix_org_path",
    "DROP INDEX ix_registration_state_id",
    "CREATE INDEX ix_registration_state_id ON registration (state, id) INCLUDE (reviewer_org_id)",
    "ANALYZE org",
    "ANALYZE registration",
]
REVERT = [
    "CREATE INDEX IF NOT EXISTS ix_org_path ON org (path)",
    "DROP INDEX IF EXISTS ix_org_path_pattern",
    "DROP INDEX IF EXISTS ix_registration_state_id",
    "CREATE INDEX ix_registration_state_id ON registration (state, id)",
    "ANALYZE org",
    "ANALYZE registration",
]


def run_ddl(url: str, statements: list[str]) -> None:
    import psycopg

    from common import libpq_url

    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        for sql in statements:
            conn.execute(sql)


def queue(actor, state="pending", q=None, kind=None, after_id=None, limit=20):
    """Drop-in for app.workflows.registration.queue: ids first, then the joined rows of the page only."""
    from sqlalchemy import select
    from sqlalchemy.orm import joinedload

    from app.extensions import db
    from app.models import Registration
    from app.workflows import registration as reg_flow

    ids = reg_flow._scoped(select(Registration.id).where(Registration.state == state), actor)
    if kind:
        ids = ids.where(Registration.kind == kind)
    if q:
        ids = ids.where(Registration.applicant_name.like(f"%{q.strip()}%"))
    if after_id:
        ids = ids.where(Registration.id < after_id)
    ids = ids.order_by(Registration.id.desc()).limit(limit)
    stmt = (select(Registration)
            .options(joinedload(Registration.org), joinedload(Registration.reviewer_org),
                     joinedload(Registration.user))
            .where(Registration.id.in_(ids)).order_by(Registration.id.desc()))
    return list(db.session.scalars(stmt))


def search_orgs(q, kinds=None, limit=20, region_id=None, scope_path=None):
    """Drop-in for app.workflows.orgs.search_orgs (as of 2026-11-22 06:15): the 20 ids first, then the parents."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import joinedload

    from app.extensions import db
    from app.models import Org, OrgState

    ids = select(Org.id).where(Org.state == OrgState.ACTIVE.value)
    q = (q or "").strip()
    if q:
        escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        ids = ids.where(Org.name.like(f"%{escaped}%", escape="\\"))
    if kinds:
        ids = ids.where(Org.kind.in_(kinds))
    if region_id:
        ids = ids.where(Org.region_id == region_id)
    if scope_path:
        ids = ids.where(Org.path.startswith(scope_path, autoescape=True))
    order = (func.length(Org.name), Org.name, Org.id)
    ids = ids.order_by(*order).limit(limit)
    stmt = select(Org).options(joinedload(Org.parent)).where(Org.id.in_(ids)).order_by(*order)
    return list(db.session.scalars(stmt))


def patch_app() -> None:
    from app.views import public
    from app.workflows import registration as reg_flow

    reg_flow.queue = queue
    if hasattr(public, "search_orgs"):
        public.search_orgs = search_orgs
