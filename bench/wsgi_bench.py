"""The platform as gunicorn serves it for the load benches: the production app factory with the bench's settings
(the bench database, the captcha fixed so that simulated users log in through the real form, rate limits out of
the way). `gunicorn -c gunicorn.conf.py wsgi_bench:app` from bench/ with BENCH_DATABASE_URL set."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from common import DB_URL, app_overrides  # noqa: E402

from app import create_app  # noqa: E402

app = create_app(**app_overrides(os.environ.get("BENCH_DATABASE_URL", DB_URL)))
