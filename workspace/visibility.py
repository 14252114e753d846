"""Who sees a stream or a view: one rule for both.

A team stream or view is visible to everyone in its organisation; a personal one only to its
owner (to anyone else, admins included, it does not exist: 404). Streams, views, follows and
favorites all ask this module, so favorites need neither the streams nor the views module.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_

from variance.appdb.models import Stream, View
from variance.core.vocabulary import Visibility
from variance.workspace.principals import Principal


def _visible(model: type[Stream] | type[View], principal: Principal) -> ColumnElement[bool]:
    return (model.org_id == principal.org_id) & or_(
        model.visibility == Visibility.team.value, model.owner_user_id == principal.user_id
    )


def visible_streams(principal: Principal) -> ColumnElement[bool]:
    """SQL condition: the streams the principal may see."""
    return _visible(Stream, principal)


def visible_views(principal: Principal) -> ColumnElement[bool]:
    """SQL condition: the views the principal may see."""
    return _visible(View, principal)
