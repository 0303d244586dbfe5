"""Orders of paid classes (P12, 我的订单) and the payment provider's public pages: the simulated provider's QR page
and the callback every provider sends (app/payments.py, app/workflows/orders.py)."""
from __future__ import annotations

from flask import abort, current_app, flash, jsonify, make_response, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext, lazy_gettext as _l
from flask_wtf import FlaskForm
from markupsafe import Markup
from werkzeug.routing import BuildError
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from .. import payments
from ..authz import CLASS_ADMIN_VIEW, CLASS_REVIEW_VIEW, ORDER_VIEW, PAYMENT_VIEW
from ..extensions import csrf, db
from ..models import OnlineClass, OrderState
from ..security import current_actor
from ..validators import mask_id_number
from ..workflows import orders as flow
from .forms import REQUIRED, ButtonForm
from .util import domain_errors, limit

# The class page of the class centre, when it exists (built beside this view); 我的订单 otherwise.
CLASS_PAGE_ENDPOINTS = (("ClassCentreView.detail", "class_id"), ("ClassCentreView.show", "class_id"),
                        ("LearningView.detail", "class_id"), ("LearningView.show", "class_id"))


def class_url(class_id: int) -> str:
    for endpoint, arg in CLASS_PAGE_ENDPOINTS:
        if endpoint in current_app.view_functions:
            try:
                return url_for(endpoint, **{arg: class_id})
            except BuildError:
                continue
    return url_for("OrderView.index")


class OrderView(BaseView):
    """The learner's orders: place one for a paid class, pay it, cancel it, 我的订单."""

    route_base = "/learning"
    default_view = "index"
    class_permission_name = ORDER_VIEW

    @expose("/orders")
    @has_access
    def index(self):
        return self.render_template("orders/index.html", rows=flow.mine(current_actor()), form=ButtonForm(),
                                    S=OrderState, title=_l("My orders"))

    @expose("/order/<int:class_id>", methods=["POST"])
    @has_access
    def place(self, class_id):
        online_class = db.session.get(OnlineClass, class_id)
        if online_class is None:
            abort(404)
        with domain_errors(denied=403):
            order = flow.place_order(online_class, current_actor())
            return redirect(url_for("OrderView.pay", order_id=order.id))
        return redirect(class_url(class_id))

    @expose("/order/<int:order_id>/pay")
    @has_access
    def pay(self, order_id):
        order = flow.own_order(order_id, current_actor())
        if order is None:
            abort(404)
        if order.state == OrderState.PAID.value:
            return redirect(class_url(order.class_id))
        payment = flow.payment_request(order) if order.state == OrderState.PENDING.value else None
        qr = Markup(payments.qr_svg(payment.qr_content)) if payment else None
        return self.render_template("orders/pay.html", order=order, payment=payment, qr=qr, form=ButtonForm(),
                                    expires_at=flow.expires_at(order), class_url=class_url(order.class_id),
                                    S=OrderState, title=_l("Pay for the class"))

    @expose("/order/<int:order_id>/status")
    @has_access
    def status(self, order_id):
        order = flow.own_order(order_id, current_actor())
        if order is None:
            abort(404)
        return jsonify(state=order.state, label=str(OrderState(order.state).label),
                       next=class_url(order.class_id) if order.state == OrderState.PAID.value else None)

    @expose("/order/<int:order_id>/cancel", methods=["POST"])
    @has_access
    def cancel(self, order_id):
        order = flow.own_order(order_id, current_actor())
        if order is None:
            abort(404)
        with domain_errors():
            flow.cancel(order, current_actor())
            flash(gettext("The order has been cancelled."), "success")
        return redirect(url_for("OrderView.index"))


class PaymentView(BaseView):
    """What the payment provider serves (public, no login): the simulated provider's QR page, whose button plays
    the learner's phone, and the callback URL of every provider."""

    route_base = "/pay"
    class_permission_name = PAYMENT_VIEW

    @expose("/sim/<order_number>", methods=["GET", "POST"])
    @has_access
    @limit("PUBLIC_POST_RATE_LIMIT", methods=["POST"])
    def sim_page(self, order_number):
        sim = payments.simulated()
        order = flow.order_by_number(order_number) if sim else None
        if order is None or order.provider != sim.name:
            abort(404)
        if flow.overdue(order):
            flow.expire_overdue(order.person_id)
            db.session.refresh(order)
        form = ButtonForm()
        if request.method == "POST" and form.validate_on_submit():
            if order.state == OrderState.PENDING.value:
                db.session.rollback()  # the callback is another request, with its own transaction
                sim.scan(order.number)
                flash(gettext("Payment sent. The platform is told by the provider's notice."), "success")
            else:
                flash(gettext("This order can no longer be paid."), "danger")
            return redirect(url_for("PaymentView.sim_page", order_number=order.number))
        payment = sim.create_payment(order)
        return self.render_template("orders/sim.html", order=order, form=form, S=OrderState,
                                    qr=Markup(payments.qr_svg(payment.qr_content)),
                                    title=_l("Simulated payment"))

    @expose("/notify/<provider>", methods=["POST"])
    @has_access
    @limit("PUBLIC_POST_RATE_LIMIT", methods=["POST"])
    def notify(self, provider):
        """The provider's asynchronous notice (its notify_url). Exempt from CSRF by design: a provider's server
        has no session; the notice is authenticated by its signature instead (app/workflows/orders.py)."""
        named = payments.provider_named(provider)
        if named is None:
            abort(404)
        result = flow.handle_callback(named.name, request.get_data(), request.headers)
        text, content_type = named.acknowledge(result.ok)
        response = make_response(text, 200)
        response.headers["Content-Type"] = content_type
        return response


csrf.exempt(f"{PaymentView.__module__}.{PaymentView.notify.__name__}")


class RefundForm(FlaskForm):
    reason = TextAreaField(_l("Reason for the refund"), validators=[DataRequired(REQUIRED), Length(max=500)])


class _ClassOrders(BaseView):
    """A class's orders for the admin of its base (ClassOrdersView) or an HR admin covering the base
    (ClassOrdersReviewView), with the refund of a paid order whose learner has not started."""

    default_view = "index"

    @expose("/<int:class_id>")
    @has_access
    def index(self, class_id):
        actor = current_actor()
        online_class = flow.class_in_scope(class_id, actor)
        if online_class is None:
            abort(404)
        rows = flow.of_class(online_class)
        return self.render_template("orders/class_orders.html", item=online_class, rows=rows, form=RefundForm(),
                                    refundable=flow.refundable(rows, actor),
                                    endpoint=type(self).__name__, S=OrderState, mask=mask_id_number,
                                    title=_l("Orders of the class"))

    @expose("/refund/<int:order_id>", methods=["POST"])
    @has_access
    def refund(self, order_id):
        actor = current_actor()
        order = flow.order_in_scope(order_id, actor)
        if order is None:
            abort(404)
        form = RefundForm()
        if form.validate_on_submit():
            with domain_errors(form):
                flow.refund(order, actor, form.reason.data)
                flash(gettext("The order has been refunded and the learner's enrolment ended."), "success")
        else:
            for error in form.reason.errors:
                flash(f"{form.reason.label.text}: {error}", "danger")
        return redirect(url_for(f"{type(self).__name__}.index", class_id=order.class_id))


class ClassOrdersView(_ClassOrders):
    route_base = "/base/class-orders"
    class_permission_name = CLASS_ADMIN_VIEW


class ClassOrdersReviewView(_ClassOrders):
    route_base = "/review/class-orders"
    class_permission_name = CLASS_REVIEW_VIEW
