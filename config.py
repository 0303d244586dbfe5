"""Configuration: one class, every setting overridable from the environment."""
import os
from datetime import timedelta

from flask_appbuilder.const import AUTH_DB

BASE_DIR = os.path.abspath(os.path.dirname(__file__))


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


class Config:
    APP_NAME = "专技继续教育平台"

    # APP_ENV says what kind of start this is; create_app checks it before anything else:
    # - "production" (the default: a start that does not say otherwise is one): refuses to run unless SECRET_KEY is
    #   set to a long random value (not a well-known one such as an old default), the database is not SQLite and the
    #   rate-limit storage is shared (REDIS_URL, not memory://).
    # - "development" (run.sh sets it): a missing SECRET_KEY is generated once into instance/secret_key (mode 0600)
    #   and reused by every later start; SQLite and in-memory rate limits are fine.
    # Tests run with TESTING=True and pass their own key.
    APP_ENV = os.environ.get("APP_ENV", "production").strip().lower()
    # No default: a key written here would let anyone sign a session cookie as the system admin.
    SECRET_KEY = os.environ.get("SECRET_KEY") or None
    SQLALCHEMY_DATABASE_URI = os.environ.get(
        "DATABASE_URL", "sqlite:///" + os.path.join(BASE_DIR, "instance", "app.db")
    )
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    UPLOAD_FOLDER = os.environ.get("UPLOAD_FOLDER", os.path.join(BASE_DIR, "instance", "uploads"))
    MAX_CONTENT_LENGTH = 10 * 1024 * 1024

    # i18n: Chinese first, English selectable
    BABEL_DEFAULT_LOCALE = "zh"
    # "today" for deadlines, date checks and the current year: the users' calendar, not the server's clock
    PLATFORM_TIMEZONE = os.environ.get("PLATFORM_TIMEZONE", "Asia/Shanghai")
    BABEL_TRANSLATION_DIRECTORIES = os.path.join(BASE_DIR, "translations")
    LANGUAGES = {
        "zh": {"flag": "cn", "name": "简体中文"},
        "en": {"flag": "gb", "name": "English"},
    }

    # Flask-AppBuilder
    AUTH_TYPE = AUTH_DB
    AUTH_ROLE_ADMIN = "SysAdmin"
    AUTH_ROLE_PUBLIC = "Public"
    FAB_ADD_SECURITY_API = False
    FAB_UPDATE_PERMS = False  # permissions are code (FAB_ROLES); nothing to sync into ab_permission
    FAB_INDEX_VIEW = "app.views.public.HomeIndexView"
    FAB_BASE_TEMPLATE = "base.html"
    FAB_API_SWAGGER_UI = False

    # CSRF on every form (Flask-WTF's CSRFProtect is registered in create_app)
    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT = 3600

    # Rate limits (shared storage: Redis in production)
    RATELIMIT_ENABLED = _env_bool("RATELIMIT_ENABLED", True)
    RATELIMIT_STORAGE_URI = os.environ.get("REDIS_URL", "memory://")
    # Redis out of reach: the limited forms (logins, public posts) are refused with a clear 503 (app/__init__.py),
    # never let through unlimited (no swallow_errors, no per-process in-memory fallback); a hung server costs a
    # request 2 s at most.
    RATELIMIT_STORAGE_OPTIONS = {"wrap_exceptions": True, "socket_connect_timeout": 2, "socket_timeout": 2}

    # The task queue (app/tasks.py): RQ on Redis; `flask worker` runs a worker. Without REDIS_URL, or with
    # TASKS_INLINE, a job runs at once in the process that asks for it.
    REDIS_URL = os.environ.get("REDIS_URL")
    TASKS_INLINE = _env_bool("TASKS_INLINE", False)
    TASK_QUEUE = os.environ.get("TASK_QUEUE", "jxjy")
    TASK_TIMEOUT_SECONDS = int(os.environ.get("TASK_TIMEOUT_SECONDS", "3600"))
    # A started job whose progress stamp is older than this has lost its worker (the page says so).
    TASK_STALE_SECONDS = int(os.environ.get("TASK_STALE_SECONDS", "60"))
    # Staff import: files of this many rows or more are checked and written by the queue; the row cap per file.
    IMPORT_BACKGROUND_ROWS = int(os.environ.get("IMPORT_BACKGROUND_ROWS", "1000"))
    IMPORT_MAX_ROWS = int(os.environ.get("IMPORT_MAX_ROWS", "100000"))
    # Exports (X7): a list of more rows than this is written by the queue and downloaded from 导出记录, where its
    # file is kept this many hours.
    EXPORT_INLINE_ROWS = int(os.environ.get("EXPORT_INLINE_ROWS", "5000"))
    EXPORT_KEEP_HOURS = int(os.environ.get("EXPORT_KEEP_HOURS", "72"))
    # A batch of 年度结业证书 (.zip of PDFs) from the completion statistics: made in the request up to this many,
    # in the task queue beyond; a batch of more people is refused (print each org below separately).
    CERTIFICATE_INLINE = int(os.environ.get("CERTIFICATE_INLINE", "20"))
    CERTIFICATE_BATCH_MAX = int(os.environ.get("CERTIFICATE_BATCH_MAX", "5000"))
    # Online learning (issue 11). Lesson videos and class covers live outside the web root; a video must be a real
    # MP4 or WebM under the size cap.
    LEARNING_FOLDER = os.environ.get("LEARNING_FOLDER", os.path.join(BASE_DIR, "instance", "learning"))
    VIDEO_MAX_BYTES = int(os.environ.get("VIDEO_MAX_BYTES", str(500 * 1024 * 1024)))
    # Protected files (lesson videos, covers, evidence files, base filings) after the platform's own check:
    # SENDFILE = "nginx" hands them to the proxy by X-Accel-Redirect (each store's internal location below, see
    # deploy/nginx.conf), "apache" by X-Sendfile; empty = Flask streams them (LEARNING_SENDFILE: the former name).
    SENDFILE = os.environ.get("SENDFILE") or os.environ.get("LEARNING_SENDFILE", "")
    LEARNING_SENDFILE = SENDFILE
    LEARNING_ACCEL_PREFIX = os.environ.get("LEARNING_ACCEL_PREFIX", "/protected/learning/")
    UPLOAD_ACCEL_PREFIX = os.environ.get("UPLOAD_ACCEL_PREFIX", "/protected/uploads/")
    PREVIEW_SECONDS = int(os.environ.get("PREVIEW_SECONDS", "180"))  # the class page's preview of the first lesson
    # Payment: the provider that takes the money (app/payments.py). "simulated" is built in: a QR page and a signed
    # asynchronous callback; a real provider plugs in by name with its own key.
    PAYMENT_PROVIDER = os.environ.get("PAYMENT_PROVIDER", "simulated")
    PAYMENT_SECRET = os.environ.get("PAYMENT_SECRET", "dev-payment-secret")
    # A production start refuses the simulated provider unless this says the platform is a trial one.
    PAYMENT_SIMULATED = _env_bool("PAYMENT_SIMULATED", False)
    ORDER_TIMEOUT_MINUTES = int(os.environ.get("ORDER_TIMEOUT_MINUTES", "30"))
    RATELIMIT_HEADERS_ENABLED = False
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "30 per minute")
    PUBLIC_POST_RATE_LIMIT = os.environ.get("PUBLIC_POST_RATE_LIMIT", "20 per minute")

    # Login lockout (等保: 5 failures -> 30 minutes on every login path)
    LOCKOUT_THRESHOLD = 5
    LOCKOUT_MINUTES = 30

    # Sessions: 30-minute idle timeout, absolute limit, revocable
    PERMANENT_SESSION_LIFETIME = timedelta(minutes=int(os.environ.get("SESSION_IDLE_MINUTES", "30")))
    SESSION_REFRESH_EACH_REQUEST = True
    SESSION_ABSOLUTE_HOURS = 12
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", False)
    REMEMBER_COOKIE_DURATION = timedelta(seconds=0)

    # Image captcha; CAPTCHA_FIXED is only honoured when TESTING is on
    CAPTCHA_FIXED = os.environ.get("CAPTCHA_FIXED") or None
    CAPTCHA_LENGTH = 4
    CAPTCHA_MAX_AGE = 300

    # Password hashing (werkzeug); tests use a cheaper method to stay fast
    PASSWORD_HASH_METHOD = os.environ.get("PASSWORD_HASH_METHOD", "scrypt")

    # Password reset links
    PASSWORD_RESET_MAX_AGE = 30 * 60

    # Mail (a real SMTP client; `python -m aiosmtpd -n` gives a local debugging server)
    MAIL_SERVER = os.environ.get("MAIL_SERVER", "127.0.0.1")
    MAIL_PORT = int(os.environ.get("MAIL_PORT", "8025"))
    MAIL_USE_TLS = _env_bool("MAIL_USE_TLS", False)
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD")
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "noreply@jxjy.example.cn")
    MAIL_SUPPRESS_SEND = _env_bool("MAIL_SUPPRESS_SEND", False)
    SMS_BACKEND = os.environ.get("SMS_BACKEND", "log")

    # Logs (app/logs.py): "json" (one object per line) or "text"; empty = JSON in production, text otherwise.
    # ACCESS_LOG: one line per request (method, path, status, duration_ms, user_id); empty = on with JSON logs.
    LOG_FORMAT = os.environ.get("LOG_FORMAT", "").strip().lower()
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").strip().upper()
    ACCESS_LOG = _env_bool("ACCESS_LOG", False) if os.environ.get("ACCESS_LOG") else None

    # How many reverse proxies in front set X-Forwarded-For/-Proto/-Host (1 behind deploy/nginx.conf; 0: none, the
    # headers are ignored so a client cannot forge its address)
    PROXY_TRUSTED_HOPS = int(os.environ.get("PROXY_TRUSTED_HOPS", "0"))

    # Base URL used in e-mails
    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000")
