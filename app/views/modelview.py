"""Generated CRUD screens go back to the list the admin came from.

FAB sends a saved add / edit form (and a delete) to the "previous page" of a history it keeps in the session:
one history shared by every tab and every view, so a form saved after working in another tab lands on an
unrelated page. Here the list a form was opened from travels with the form instead: a hidden `next` field,
filled from the `next` query argument or the browser's Referer (same site, Referrer-Policy same-origin) when the
form is opened, and followed after saving only when it is this view's own list URL (any filter, page or order
on it); anything else - another site, another view, a path trick - is replaced by the view's plain list."""
from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from flask import redirect, request, url_for
from flask_appbuilder.widgets import FormWidget
from wtforms import HiddenField

from .util import safe_next

MAX_NEXT = 2000  # a list URL with its filters; anything longer is no list of ours


class ReturnFormWidget(FormWidget):
    """FAB's add / edit form, whose Back button goes to the list the form returns to (not FAB's history)."""

    template = "modelview/form.html"


class NextField(HiddenField):
    """The list the form returns to: carried by the form, never copied into the row."""

    def populate_obj(self, obj, name) -> None:
        return None


class ReturnToListMixin:
    """Mix into a FAB ModelView (before ModelView): add / edit / delete return to the view's own list, with the
    filters, page and order the admin had there."""

    add_widget = ReturnFormWidget
    edit_widget = ReturnFormWidget

    def _init_forms(self):
        super()._init_forms()
        for attr in ("add_form", "edit_form"):
            form_class = getattr(self, attr)
            if form_class is not None and not hasattr(form_class, "next"):
                setattr(self, attr, type(form_class.__name__, (form_class,),
                                         {"next": NextField(default=self._arriving_from)}))

    # ------------------------------------------------------------------ which URL is ours

    def list_url(self) -> str:
        return url_for(f"{self.endpoint}.list")

    def _own_page(self, path: str, rows: bool) -> bool:
        if path == self.list_url():
            return True
        show = f"{self.route_base}/show/"
        return rows and path.startswith(show) and path[len(show):].isdigit()

    def return_url(self, candidate: str | None, rows: bool = False) -> str | None:
        """`candidate` as a same-site path when it is this view's list (with any query) - or, with `rows`, one of
        its rows' pages - else None. An absolute URL (a Referer) counts only when it names this very site."""
        if not candidate or len(candidate) > MAX_NEXT or not candidate.isascii() or not candidate.isprintable() \
                or " " in candidate:
            return None
        parts = urlsplit(candidate)
        if parts.scheme or parts.netloc:
            if parts.scheme not in ("http", "https") or parts.netloc != request.host:
                return None
            candidate = urlunsplit(("", "", parts.path, parts.query, ""))
        candidate = safe_next(candidate)
        if candidate is None:
            return None
        parts = urlsplit(candidate)
        if not self._own_page(parts.path, rows):
            return None
        return urlunsplit(("", "", parts.path, parts.query, ""))

    def _arriving_from(self) -> str:
        """The list a form is opened from: an explicit `next`, else the page the link was on."""
        return self.return_url(request.args.get("next")) or self.return_url(request.referrer) or ""

    def back_after_action(self):
        """After an action: the page of this view it was taken on (the list as it was, or the row's page)."""
        return redirect(self.return_url(request.referrer, rows=True) or self.list_url())

    def _back_to_list(self):
        return redirect(self.return_url(request.form.get("next")) or self.list_url())

    # ------------------------------------------------------------------ FAB hooks

    def _with_back_url(self, widget, form):
        """The form re-shown (a refused save) keeps only a valid `next`; its Back button goes there too."""
        field = form["next"] if form is not None and "next" in form else None
        url = self.return_url(field.data) if field is not None else None
        if field is not None:
            field.data = url or ""
        widget.template_args["back_url"] = url or self.list_url()

    def _get_add_widget(self, form, exclude_cols=None, widgets=None):
        widgets = super()._get_add_widget(form, exclude_cols=exclude_cols, widgets=widgets)
        self._with_back_url(widgets["add"], form)
        return widgets

    def _get_edit_widget(self, form, exclude_cols=None, widgets=None):
        widgets = super()._get_edit_widget(form, exclude_cols=exclude_cols, widgets=widgets)
        self._with_back_url(widgets["edit"], form)
        return widgets

    def post_add_redirect(self):
        return self._back_to_list()

    def post_edit_redirect(self):
        return self._back_to_list()

    def post_delete_redirect(self):
        # a delete is posted from the list (or a show page): back to the list it was on
        url = self.return_url(request.values.get("next")) or self.return_url(request.referrer)
        return redirect(url or self.list_url())
