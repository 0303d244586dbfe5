"""Extension singletons, bound to the app in create_app()."""
from flask_appbuilder import AppBuilder
from flask_appbuilder.utils.legacy import get_sqla_class
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_mail import Mail
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

db = get_sqla_class()()
appbuilder = AppBuilder(update_perms=True)
csrf = CSRFProtect()
migrate = Migrate()
mail = Mail()
# One limiter for every app (FAB's security manager hands it out, see AppSecurityManager.create_limiter):
# route limits are declared once, at import, and storage is shared through RATELIMIT_STORAGE_URI (Redis).
limiter = Limiter(key_func=get_remote_address)
