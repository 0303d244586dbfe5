"""Payment providers: who takes the money for an order of a paid class (P12).

The platform talks to a provider through these calls; the order workflow (app/workflows/orders.py) never knows
which provider it is:

* ``create_payment(order) -> PaymentRequest``: what the learner is shown to pay: ``url`` (the provider's cashier
  page; may be empty) and ``qr_content`` (the text of the QR code a phone scans).
* ``parse_callback(body, headers) -> CallbackNotice``: the provider's asynchronous notice (its notify_url, here
  ``POST /pay/notify/<name>``) read into (order number, amount, provider transaction id, nonce, status). Nothing in
  it is trusted yet; a body that cannot be read raises ``MalformedCallback``.
* ``verify_callback(body, headers) -> bool``: whether the notice carries the provider's valid signature.
* ``nonce_of(body, headers) -> str | None``: the notice's unique nonce, read first so that a replay is refused
  before anything else (by default taken from ``parse_callback``).
* ``refund(order, reason) -> str``: give the money back; returns the provider's refund reference, raises
  ``RefundFailed``.
* ``acknowledge(ok) -> (text, content type)``: the answer the provider expects ("success" / "fail").

``provider()`` returns the provider PAYMENT_PROVIDER names: a name registered with ``register_provider`` (the
built-in ``"simulated"``), or ``"package.module:Class"`` — a real provider (WeChat Pay, Alipay, UnionPay …) plugs
in by configuration, reading its own keys from the app config, without a change to the platform's code.

The built-in ``SimulatedProvider`` plays both sides of a QR payment: its page ``/pay/sim/<order number>`` shows the
amount and the QR code, and its button ("扫码支付") stands for the learner's phone. Pressing it makes the provider
send its callback ASYNCHRONOUSLY through the task queue (app/tasks.py; RQ on Redis, at once with TASKS_INLINE or no
Redis): the notice reaches the platform as a request of its own, through the app's whole WSGI stack (routing,
rate limit, the callback view), in a transaction of its own — as a real provider's notify_url call does. The
notice is JSON ``{order_number, amount, transaction_id, nonce, status, timestamp}`` signed with HMAC-SHA256 over
the canonical form ``key=value&…`` (keys sorted) with PAYMENT_SECRET, in the ``X-Sim-Signature`` header.
"""
from __future__ import annotations

import hashlib
import hmac
import importlib
import json
import re
import secrets
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Callable, Mapping

from flask import current_app, url_for

MAX_BODY = 8192  # a provider's notice is a few hundred bytes
SUCCESS = "SUCCESS"
NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
ORDER_NUMBER_RE = re.compile(r"^[A-Za-z0-9]{6,32}$")
REF_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
AMOUNT_RE = re.compile(r"^\d{1,8}\.\d{2}$")


class MalformedCallback(Exception):
    """The body is not a notice of this provider (not JSON, a field missing or of the wrong form)."""


class RefundFailed(Exception):
    pass


class UnknownProvider(Exception):
    pass


@dataclass(frozen=True)
class PaymentRequest:
    url: str          # the provider's cashier page (may be empty for a QR-only provider)
    qr_content: str   # what the QR code shown to the learner encodes


@dataclass(frozen=True)
class CallbackNotice:
    order_number: str
    amount: Decimal
    transaction_id: str
    nonce: str
    status: str       # SUCCESS when the money was taken

    @property
    def succeeded(self) -> bool:
        return self.status == SUCCESS


class PaymentProvider:
    """The interface a provider implements (see the module docstring)."""

    name = ""

    def create_payment(self, order) -> PaymentRequest:  # pragma: no cover - interface
        raise NotImplementedError

    def parse_callback(self, body: bytes, headers: Mapping[str, str]) -> CallbackNotice:  # pragma: no cover
        raise NotImplementedError

    def verify_callback(self, body: bytes, headers: Mapping[str, str]) -> bool:  # pragma: no cover
        raise NotImplementedError

    def refund(self, order, reason: str) -> str:  # pragma: no cover - interface
        raise NotImplementedError

    def nonce_of(self, body: bytes, headers: Mapping[str, str]) -> str | None:
        """The notice's nonce, read before anything else is checked (a replay is refused first); None when the
        body cannot be read."""
        try:
            return self.parse_callback(body, headers).nonce
        except MalformedCallback:
            return None

    def acknowledge(self, ok: bool) -> tuple[str, str]:
        return ("success" if ok else "fail"), "text/plain; charset=utf-8"


def canonical(fields: Mapping[str, str]) -> bytes:
    """The signed form of a notice: `key=value` pairs, keys sorted, joined by `&` (as Alipay and UnionPay do)."""
    return "&".join(f"{k}={fields[k]}" for k in sorted(fields)).encode("utf-8")


def parse_amount(value) -> Decimal:
    """A money amount as a provider writes it: digits, a point and two decimals ("128.00")."""
    if not isinstance(value, str) or not AMOUNT_RE.match(value):
        raise MalformedCallback("amount")
    try:
        return Decimal(value)
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only decimals
        raise MalformedCallback("amount") from exc


def money(amount) -> str:
    return f"{Decimal(amount):.2f}"


class SimulatedProvider(PaymentProvider):
    """The built-in provider: a QR page on the platform, HMAC-SHA256 signed callbacks delivered by the task queue."""

    name = "simulated"
    header = "X-Sim-Signature"
    fields = ("order_number", "amount", "transaction_id", "nonce", "status", "timestamp")

    def _secret(self) -> bytes:
        return current_app.config["PAYMENT_SECRET"].encode("utf-8")

    def sign(self, fields: Mapping[str, str]) -> str:
        return hmac.new(self._secret(), canonical(fields), hashlib.sha256).hexdigest()

    def create_payment(self, order) -> PaymentRequest:
        path = url_for("PaymentView.sim_page", order_number=order.number)
        base = current_app.config.get("PUBLIC_BASE_URL", "").rstrip("/")
        return PaymentRequest(url=path, qr_content=f"{base}{path}")

    def notice(self, order, status: str = SUCCESS) -> tuple[bytes, dict[str, str]]:
        """The callback the provider sends once the phone has paid: a fresh nonce and transaction id each time."""
        fields = {"order_number": order.number, "amount": money(order.amount),
                  "transaction_id": order.provider_ref or f"SIM{order.number}",
                  "nonce": secrets.token_hex(16), "status": status, "timestamp": str(int(time.time()))}
        body = json.dumps(fields, separators=(",", ":")).encode("utf-8")
        return body, {"Content-Type": "application/json", self.header: self.sign(fields)}

    def _fields(self, body: bytes) -> dict[str, str]:
        if len(body) > MAX_BODY:
            raise MalformedCallback("size")
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise MalformedCallback("json") from exc
        if not isinstance(data, dict) or set(data) != set(self.fields) or \
                not all(isinstance(v, str) for v in data.values()):
            raise MalformedCallback("fields")
        return data

    def parse_callback(self, body: bytes, headers: Mapping[str, str]) -> CallbackNotice:
        data = self._fields(body)
        if not (NONCE_RE.match(data["nonce"]) and ORDER_NUMBER_RE.match(data["order_number"])
                and REF_RE.match(data["transaction_id"]) and data["status"].isalpha()):
            raise MalformedCallback("fields")
        return CallbackNotice(order_number=data["order_number"], amount=parse_amount(data["amount"]),
                              transaction_id=data["transaction_id"], nonce=data["nonce"], status=data["status"])

    def verify_callback(self, body: bytes, headers: Mapping[str, str]) -> bool:
        given = headers.get(self.header) or ""
        try:
            expected = self.sign(self._fields(body))
        except MalformedCallback:
            return False
        return hmac.compare_digest(given.encode("ascii", "replace"), expected.encode("ascii"))

    def refund(self, order, reason: str) -> str:
        return f"SIMR{order.number}"

    def scan(self, order_number: str) -> str | None:
        """The phone has paid: queue the signed callback (sent by a worker, or at once without Redis)."""
        from .tasks import enqueue

        return enqueue(deliver_simulated_notice, order_number, description=f"payment notice {order_number}")


def deliver_simulated_notice(order_number: str) -> int:
    """The task: the simulated provider POSTs its signed notice to the platform's callback URL, as a request of its
    own (a fresh app context: its own database session and transaction). Returns the HTTP status."""
    from .extensions import db
    from .models import ClassOrder

    app = current_app._get_current_object()
    sim = SimulatedProvider()
    with app.app_context():
        order = db.session.query(ClassOrder).filter_by(number=order_number).one_or_none()
        if order is None:
            return 404
        body, headers = sim.notice(order)
        db.session.rollback()
        with app.test_request_context():
            path = url_for("PaymentView.notify", provider=sim.name)
    with app.app_context():
        response = app.test_client().post(path, data=body, headers=headers)
        return response.status_code


_REGISTRY: dict[str, Callable[[], PaymentProvider]] = {SimulatedProvider.name: SimulatedProvider}


def register_provider(name: str, factory: Callable[[], PaymentProvider]) -> None:
    _REGISTRY[name] = factory


def provider(name: str | None = None) -> PaymentProvider:
    """The provider `name` (by default the configured PAYMENT_PROVIDER): a registered name or "module:Class"."""
    name = name or current_app.config.get("PAYMENT_PROVIDER") or SimulatedProvider.name
    if name in _REGISTRY:
        return _REGISTRY[name]()
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            factory = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise UnknownProvider(name) from exc
        _REGISTRY[name] = factory
        return factory()
    raise UnknownProvider(name)


def provider_named(name: str) -> PaymentProvider | None:
    """The provider a callback URL names, only if it is the configured one (no other provider's notices are taken)."""
    configured = current_app.config.get("PAYMENT_PROVIDER") or SimulatedProvider.name
    current = provider(configured)
    return current if name and current.name == name else None


def simulated() -> SimulatedProvider | None:
    """The simulated provider when it is the configured one (its pages exist only then)."""
    current = provider()
    return current if isinstance(current, SimulatedProvider) else None


def qr_svg(text: str) -> str:
    """The QR code of `text` as inline SVG markup (qrcode's SVG path image: no raster library needed)."""
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    return image.to_string(encoding="unicode")
