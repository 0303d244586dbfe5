"""Unit transfer: the professional's application and withdrawal (P7); the unit admins' outgoing / incoming queues,
batch release / accept / reject and the transfer-out of an employee (U7)."""
from __future__ import annotations

from contextlib import suppress

from flask import abort, flash, jsonify, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext, lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField

from ..extensions import db
from ..models import Transfer
from ..authz import TRANSFER_REVIEW_VIEW, TRANSFER_VIEW
from ..security import current_actor
from ..validators import mask_id_number
from ..workflows import orgs
from ..workflows import transfer as flow
from ..workflows.base import DomainError
from ..workflows.pending import blocked_message
from .forms import ButtonForm, DecisionForm
from .util import N_, arg_choice, batch_decision, db_id, denied_as, domain_errors, keyset_page, may

PAGE_SIZE = 20
TABS = [("out", _l("Outgoing: waiting for me")), ("in", _l("Incoming: waiting for me")), ("history", _l("History"))]




class TransferForm(FlaskForm):
    to_unit_id = StringField(_l("New unit"))
    note = TextAreaField(_l("Note"))


class StartTransferForm(TransferForm):
    person_id = StringField(_l("Employee"))


def _transfer(transfer_id: int) -> Transfer | None:
    """The transfer of a URL id; an id beyond the integer column is none (never a database error)."""
    return db.session.get(Transfer, transfer_id) if 0 < transfer_id < 2 ** 31 else None


def _decisions(rows) -> dict[int, str]:
    return flow.names_of([r.out_decided_by_id for r in rows] + [r.in_decided_by_id for r in rows]
                         + [r.started_by_id for r in rows])


class TransferView(BaseView):
    """P7: /transfer/ lists the professional's transfers with both reviews and takes a new application."""

    route_base = "/transfer"
    default_view = "index"
    class_permission_name = TRANSFER_VIEW

    @expose("/", methods=["GET", "POST"])
    @has_access
    def index(self):
        actor = current_actor()
        with denied_as(403):
            person = flow.person_of(actor)
        form = TransferForm()
        if form.validate_on_submit():
            with domain_errors(form):
                flow.submit(actor, db_id(form.to_unit_id.data), form.note.data)
                flash(gettext("Your transfer application has been submitted; your current unit reviews it first."),
                      "success")
                return redirect(url_for("TransferView.index"))
        rows = flow.mine(actor)
        reasons = flow.blocked_reasons(person)
        picked = orgs.picked(db_id(form.to_unit_id.data), ["unit"])
        return self.render_template(
            "transfer/index.html", person=person, rows=rows, names=_decisions(rows), form=form,
            picked=picked, withdrawable={t.id for t in rows if may(flow.machine, t, "withdraw", actor)},
            blocked=blocked_message(reasons, _l("Applying for a unit transfer")) if reasons else None,
            button=ButtonForm(formdata=None), title=_l("Unit transfer"))

    @expose("/<int:transfer_id>/withdraw", methods=["POST"])
    @has_access
    def withdraw(self, transfer_id):
        actor = current_actor()
        item = _transfer(transfer_id)
        if item is None or not flow.machine.is_owner(item, actor):
            abort(404)
        with domain_errors():
            flow.withdraw(item, actor)
            flash(gettext("Your transfer application has been withdrawn."), "success")
        return redirect(url_for("TransferView.index"))


class TransferReviewView(BaseView):
    """U7: outgoing transfers wait for the old unit's release, incoming ones for the new unit's acceptance."""

    route_base = "/review/transfers"
    default_view = "index"
    class_permission_name = TRANSFER_REVIEW_VIEW

    @expose("/")
    @has_access
    def index(self):
        actor = current_actor()
        tab = arg_choice("tab", TABS, "out")
        q = (request.args.get("q") or "").strip()[:30] or None
        rows, next_after = keyset_page(lambda **page: flow.queue(actor, tab, q=q, **page), PAGE_SIZE)
        withdrawable = {r.id for r in rows if tab == "history" and flow.can_withdraw_as_unit(r, actor)}
        return self.render_template(
            "transfer/review.html", rows=rows, tab=tab, tabs=TABS, q=q or "", names=_decisions(rows),
            next_after=next_after, form=DecisionForm(formdata=None),
            button=ButtonForm(formdata=None), withdrawable=withdrawable, mask=mask_id_number,
            counts={t: flow.pending_count(actor, t) for t in ("out", "in")}, title=_l("Unit transfers"))

    @expose("/<int:transfer_id>")
    @has_access
    def detail(self, transfer_id):
        """A row of the queues: the person, both units, the note and both reviews; the decision when it waits
        for this admin (through the batch's workflow function), the withdrawal of a transfer-out it started."""
        actor = current_actor()
        item = _transfer(transfer_id)
        if item is None or not flow.visible(item, actor):
            abort(404)
        return self.render_template(
            "transfer/detail.html", item=item, names=_decisions([item]), tab=flow.waiting_tab(item, actor),
            can_decide=flow.can_decide(item, actor),
            withdrawable=flow.can_withdraw_as_unit(item, actor), form=DecisionForm(formdata=None),
            button=ButtonForm(formdata=None), mask=mask_id_number, title=_l("Unit transfer"))

    @expose("/decide", methods=["POST"])
    @has_access
    def decide(self):
        batch_decision(flow.decide_many, none_selected=N_("Select at least one transfer."),
                       handled=N_("%(n)s transfer(s) handled."), failed_one=N_("Transfer %(id)s: %(msg)s"))
        tab = request.args.get("tab") if request.args.get("tab") in ("out", "in") else "out"
        return redirect(url_for("TransferReviewView.index", tab=tab))

    @expose("/start", methods=["GET", "POST"])
    @has_access
    def start(self):
        """Transfer-out of an employee of the admin's unit or sub-units to a new unit, which accepts it."""
        actor = current_actor()
        form = StartTransferForm()
        if form.validate_on_submit():
            with domain_errors(form):
                flow.start(actor, db_id(form.person_id.data), db_id(form.to_unit_id.data), form.note.data)
                flash(gettext("The transfer-out has been started; the new unit accepts or rejects it."), "success")
                return redirect(url_for("TransferReviewView.index", tab="history"))
        person = None
        if db_id(form.person_id.data):
            with suppress(DomainError):  # only a person of the admin's own subtree is ever shown back
                person = flow.employee(actor, db_id(form.person_id.data))
        unit = orgs.picked(db_id(form.to_unit_id.data), ["unit"])
        return self.render_template("transfer/start.html", form=form, person=person,
                                    unit=unit,
                                    mask=mask_id_number, title=_l("Start a transfer-out"))

    @expose("/staff")
    @has_access
    def staff(self):
        """Picker source (select2 AJAX): active professionals of the admin's subtree by name, 20 at a time."""
        people = []
        with suppress(DomainError):
            people = flow.staff_query(current_actor(), (request.args.get("q") or "")[:30])
        return jsonify(results=[{"id": p.id, "text": p.name, "kind": mask_id_number(p.id_number),
                                 "parent": p.unit.name if p.unit else ""} for p in people])

    @expose("/<int:transfer_id>/withdraw", methods=["POST"])
    @has_access
    def withdraw(self, transfer_id):
        """The old unit withdraws a transfer-out it started, while the new unit has not decided."""
        actor = current_actor()
        item = _transfer(transfer_id)
        if item is None or not flow.machine.in_scope(item, actor):
            abort(404)
        with domain_errors():
            flow.machine.apply(item, "withdraw", actor)
            flash(gettext("The transfer-out has been withdrawn."), "success")
        return redirect(url_for("TransferReviewView.index", tab="history"))
