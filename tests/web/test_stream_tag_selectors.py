"""The stream form takes a Tag event type (``Tag:NAME``, as the Event Types page posts
it once the tag's first event is in the catalog) and refuses a tag the organisation lacks."""

from __future__ import annotations

from sqlalchemy import select

from variance.appdb.models import SmartTag, Stream, StreamSelector

DEFINITION = (
    '{"type":"group","match":"all","conditions":[{"type":"trait","filter":{"path":"plan","op":"exists","value":null}}]}'
)


def test_the_stream_form_makes_a_tag_stream_and_names_an_unknown_tag(web):
    web.insert(SmartTag(id="tag_hot", org_id=web.org_id, name="Hot Trial", entity="account", definition=DEFINITION))
    client, csrf = web.signed_in()
    form = {"name": "Hot", "type": "event_type", "csrf_token": csrf}
    made = client.post("/streams", data={**form, "event_type": "Tag:Hot Trial"})
    assert made.status_code == 303
    with web.sessions() as session:
        stream_id = session.scalar(select(Stream.id).where(Stream.name == "Hot"))
        selectors = session.execute(
            select(StreamSelector.kind, StreamSelector.name).where(StreamSelector.stream_id == stream_id)
        ).all()
    assert made.headers["location"] == f"/streams/{stream_id}"
    assert [tuple(s) for s in selectors] == [("Tag", "Hot Trial")]
    refused = client.post("/streams", data={**form, "name": "Cold", "event_type": "Tag:Cold Trial"})
    assert refused.status_code == 400
    assert "no smart tag named &#39;Cold Trial&#39; in this organisation" in refused.text
