"""Flask-AppBuilder 5.3 messages that its own Chinese catalogue lacks; listed here so that `flask translate
update` extracts them into translations/zh (nothing imports this module)."""
from flask_babel import lazy_gettext as _l

FAB_MESSAGES = (
    _l("Database Error"), _l("In"), _l("Not In"), _l("Add"), _l("Edit"), _l("Show"), _l("Delete"),
    _l("Are you sure you want to delete this item?"), _l("Yes"), _l("No"),
)
