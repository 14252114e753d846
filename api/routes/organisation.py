"""The token's organisation and the settings its admins change: the time zone the web
app shows times, days and "today" in."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from variance.api.deps import AdminUser, CurrentUser, DbSession
from variance.api.errors import Forbidden, Unauthorized, responses
from variance.workspace import org_settings
from variance.workspace.errors import InvalidInput
from variance.workspace.orgs import get_org

router = APIRouter(prefix="/v1/organisation", tags=["organisation"])

_TIME_ZONE_DOC = (
    "An IANA time zone name such as Europe/Paris; the web app shows every time in it, and counts "
    '"today" and "this week" from its midnight'
)


class OrganisationOut(BaseModel):
    id: str
    name: str
    time_zone: str = Field(description=_TIME_ZONE_DOC + " (UTC until an admin sets one)", examples=["Europe/Paris"])


class OrganisationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    time_zone: str | None = Field(
        None, max_length=64, description=_TIME_ZONE_DOC + "; absent or null leaves it as it is", examples=["UTC"]
    )

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return org_settings.parse_time_zone(value)
        except InvalidInput as exc:
            # A custom error keeps the rule's own words: the 422 reads "time_zone: must be an IANA ...".
            raise PydanticCustomError("time_zone", exc.rule or "is invalid") from None


def _out(session, org_id: str) -> OrganisationOut:
    org = get_org(session, org_id)
    return OrganisationOut(id=org.id, name=org.name, time_zone=org.time_zone or org_settings.DEFAULT_TIME_ZONE)


@router.get("", response_model=OrganisationOut, responses=responses(Unauthorized))
def get_organisation(principal: CurrentUser, session: DbSession):
    """The organisation of the token's user; every member may read it."""
    return _out(session, principal.org_id)


@router.patch("", response_model=OrganisationOut, responses=responses(Unauthorized, Forbidden))
def update_organisation(body: OrganisationUpdate, admin: AdminUser, session: DbSession):
    """Change the organisation's settings (admin only). A time zone outside the IANA database
    answers 422 with ``error.field`` ``time_zone`` and the rule."""
    if body.time_zone is not None:
        org_settings.set_time_zone(session, admin, body.time_zone)
    return _out(session, admin.org_id)
