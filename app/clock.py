"""The platform's calendar: one "today" for every rule, in the platform's time zone.

Deadlines, "not in the future" checks and the current year are those of the people using the platform, not
of the server's clock: a server on UTC would otherwise still be in yesterday until 08:00 in Beijing.
"""
from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

DEFAULT_TIMEZONE = "Asia/Shanghai"


def zone() -> ZoneInfo:
    name = current_app.config.get("PLATFORM_TIMEZONE", DEFAULT_TIMEZONE) if has_app_context() else DEFAULT_TIMEZONE
    return ZoneInfo(name)


def today() -> datetime.date:
    return datetime.datetime.now(zone()).date()


def now() -> datetime.datetime:
    """The platform's wall clock (naive, in the platform's zone), for rules that measure time elapsed between two
    requests (the learning player's heartbeats). Tests freeze and advance it by replacing this function."""
    return datetime.datetime.now(zone()).replace(tzinfo=None)
