"""The OpenAPI document shows the core's vocabulary as enums, so clients see the allowed
values and property-based tests generate them."""

from __future__ import annotations

import pytest

from variance.api.app import create_app
from variance.core.settings import Settings
from variance.core.vocabulary import AccountMapping, EntityType, FavoriteTargetType, Role, StreamType, Visibility

ENUMS = (AccountMapping, EntityType, FavoriteTargetType, Role, StreamType, Visibility)
# Where each appears in a request, as (schema, property).
USED_BY = {
    AccountMapping: ("ConnectionCreate", "mapping"),
    EntityType: ("FollowCreate", "entity_type"),
    FavoriteTargetType: ("FavoriteTarget", "target_type"),
    Role: ("UserCreate", "role"),
    StreamType: ("StreamCreate", "type"),
    Visibility: ("ViewCreate", "visibility"),
}


@pytest.fixture(scope="module")
def document(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("openapi")
    settings = Settings(VARIANCE_DATA_DIR=str(folder), VARIANCE_DATABASE_URL=f"sqlite:///{folder / 'app.db'}")
    app = create_app(settings)
    try:
        return app.openapi()
    finally:
        app.state.engine.dispose()


@pytest.mark.parametrize("enum", ENUMS, ids=lambda e: e.__name__)
def test_each_enum_is_a_schema_with_the_vocabularys_values(document, enum):
    schemas = document["components"]["schemas"]
    assert schemas[enum.__name__]["enum"] == [m.value for m in enum]
    schema, field = USED_BY[enum]
    ref = f"#/components/schemas/{enum.__name__}"
    used = schemas[schema]["properties"][field]
    assert used.get("$ref") == ref or {"$ref": ref} in used.get("allOf", [])


def test_query_parameters_take_the_enum_too(document):
    follows = document["paths"]["/v1/follows"]["get"]["parameters"]
    [entity_type] = [p for p in follows if p["name"] == "entity_type"]
    assert entity_type["schema"] == {"$ref": "#/components/schemas/EntityType"}
