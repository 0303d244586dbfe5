"""The platform's "today" is the users' calendar (Asia/Shanghai unless configured), not the server's clock."""
from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from app import clock


def test_the_platform_zone_is_beijing_time_by_default(app):
    with app.app_context():
        assert clock.zone() == ZoneInfo("Asia/Shanghai")
    assert clock.zone() == ZoneInfo("Asia/Shanghai")


def test_the_zone_comes_from_the_configuration(app):
    with app.app_context():
        saved = app.config["PLATFORM_TIMEZONE"]
        app.config["PLATFORM_TIMEZONE"] = "Asia/Urumqi"
        try:
            assert clock.zone() == ZoneInfo("Asia/Urumqi")
        finally:
            app.config["PLATFORM_TIMEZONE"] = saved


def test_the_run_day_is_today_in_beijing():
    beijing = datetime.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    assert clock.today() in (beijing, beijing - datetime.timedelta(days=1))  # the run may have crossed midnight
