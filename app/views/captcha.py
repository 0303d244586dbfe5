"""Image captcha made locally (captcha package). The answer never travels to the client in clear:
the session keeps an HMAC of it, single use, valid for CAPTCHA_MAX_AGE seconds."""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from captcha.image import ImageCaptcha
from flask import current_app, session

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXY3456789"


def _digest(nonce: str, answer: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{nonce}:{answer.strip().upper()}".encode(), hashlib.sha256).hexdigest()


def new_captcha_png() -> bytes:
    cfg = current_app.config
    fixed = cfg.get("CAPTCHA_FIXED") if cfg.get("TESTING") else None
    text = fixed or "".join(secrets.choice(ALPHABET) for _ in range(cfg["CAPTCHA_LENGTH"]))
    nonce = secrets.token_hex(8)
    session["captcha"] = {"n": nonce, "d": _digest(nonce, text), "t": int(time.time())}
    return ImageCaptcha(width=120, height=44, font_sizes=(32, 36)).generate(text).getvalue()


def check_captcha(answer: str | None) -> bool:
    """Compare and forget: every answer, right or wrong, uses the captcha up."""
    stored = session.pop("captcha", None)
    if not stored or not answer:
        return False
    if time.time() - stored.get("t", 0) > current_app.config["CAPTCHA_MAX_AGE"]:
        return False
    return hmac.compare_digest(stored["d"], _digest(stored["n"], answer))
