"""Segment spec validation and normalisation shared by the API and the pipeline."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from variance.core.segment import MAX_DEPTH, SpecError, loads_untrusted, normalize_call

RECEIVED = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)


def norm(call, **kw):
    return normalize_call(call, received_at=RECEIVED, **kw)


def spec_error(call, **kw) -> SpecError:
    with pytest.raises(SpecError) as info:
        norm(call, **kw)
    return info.value


class TestRules:
    @pytest.mark.parametrize(
        ("call", "field", "rule"),
        [
            ({"type": "track", "event": "E"}, "userId", "either userId or anonymousId is required"),
            ({"type": "track", "userId": "u"}, "event", "is required for track calls and must be a non-empty string"),
            (
                {"type": "track", "userId": "u", "event": "  "},
                "event",
                "is required for track calls and must be a non-empty string",
            ),
            (
                {"type": "track", "userId": "u", "event": 5},
                "event",
                "is required for track calls and must be a non-empty string",
            ),
            ({"type": "group", "userId": "u"}, "groupId", "is required"),
            ({"type": "alias", "userId": "u"}, "previousId", "is required"),
            ({"type": "alias", "previousId": "a"}, "userId", "is required"),
            ({"type": "bogus", "userId": "u"}, "type", "must be one of track, identify, page, screen, group, alias"),
            ({"userId": "u"}, "type", "must be one of track, identify, page, screen, group, alias"),
            ({"type": "identify", "userId": ["u"]}, "userId", "must be a string"),
            ({"type": "identify", "userId": True}, "userId", "must be a string"),
            ({"type": "identify", "userId": "u", "traits": []}, "traits", "must be an object"),
            ({"type": "track", "userId": "u", "event": "E", "properties": "x"}, "properties", "must be an object"),
            ({"type": "identify", "userId": "u", "context": 1}, "context", "must be an object"),
            ({"type": "page", "userId": "u", "name": 3}, "name", "must be a string"),
            ({"type": "identify", "userId": "u", "messageId": {}}, "messageId", "must be a string"),
            ({"type": "identify", "userId": "x" * 1025}, "userId", "must be at most 1024 characters"),
        ],
    )
    def test_each_rule_names_field_and_rule(self, call, field, rule):
        error = spec_error(call)
        assert (error.field, error.rule) == (field, rule)
        assert str(error) == f"{field}: {rule}"

    def test_timestamp_must_be_iso8601(self):
        error = spec_error({"type": "identify", "userId": "u", "timestamp": "yesterday"})
        assert error.field == "timestamp"
        assert error.rule.startswith("must be an ISO-8601 date-time string")

    def test_endpoint_type_wins_and_conflict_is_an_error(self):
        assert norm({"userId": "u", "event": "E"}, endpoint_type="track").type == "track"
        error = spec_error({"type": "page", "userId": "u"}, endpoint_type="track")
        assert (error.field, error.rule) == ("type", "must be 'track' on the /v1/track endpoint")

    def test_numeric_ids_are_stringified_as_segment_does(self):
        call = norm({"type": "group", "userId": 42, "groupId": 7})
        assert call.event["userId"] == "42"
        assert call.event["groupId"] == "7"

    def test_empty_user_id_counts_as_missing(self):
        call = norm({"type": "identify", "userId": "", "anonymousId": "a1"})
        assert call.event["anonymousId"] == "a1"
        assert spec_error({"type": "identify", "userId": "", "anonymousId": ""}).field == "userId"


class TestTimestamps:
    def test_without_timestamp_the_event_happened_when_received(self):
        call = norm({"type": "identify", "userId": "u"})
        assert call.event_time == RECEIVED
        assert call.event["timestamp"] == "2024-05-01T12:00:00.000Z"
        assert call.event["receivedAt"] == "2024-05-01T12:00:00.000Z"

    def test_timestamp_without_sent_at_is_kept(self):
        call = norm({"type": "identify", "userId": "u", "timestamp": "2024-04-30T08:00:00+02:00"})
        assert call.event_time == datetime(2024, 4, 30, 6, tzinfo=timezone.utc)
        assert "originalTimestamp" not in call.event

    def test_clock_skew_is_corrected_from_sent_at(self):
        # The device clock runs 1 hour fast: it says the event happened at 12:30 and
        # was sent at 12:35, while we received it at 12:00 real time.
        call = norm(
            {
                "type": "track",
                "userId": "u",
                "event": "E",
                "timestamp": "2024-05-01T12:30:00Z",
                "sentAt": "2024-05-01T12:35:00Z",
            }
        )
        assert call.event_time == RECEIVED - timedelta(minutes=5)
        assert call.event["timestamp"] == "2024-05-01T11:55:00.000Z"
        assert call.event["originalTimestamp"] == "2024-05-01T12:30:00Z"

    def test_batch_sent_at_applies_when_the_call_has_none(self):
        call = norm(
            {"type": "track", "userId": "u", "event": "E", "timestamp": "2024-05-01T10:00:00Z"},
            batch_sent_at="2024-05-01T10:00:10Z",
        )
        assert call.event_time == RECEIVED - timedelta(seconds=10)


class TestMessageIds:
    def test_given_message_id_is_kept(self):
        assert norm({"type": "identify", "userId": "u", "messageId": "m-1"}).message_id == "m-1"

    def test_missing_id_without_timestamp_is_random(self):
        a = norm({"type": "identify", "userId": "u"}).message_id
        b = norm({"type": "identify", "userId": "u"}).message_id
        assert a.startswith("api-") and a != b

    def test_missing_id_with_client_timestamp_is_stable_across_retries(self):
        call = {"type": "identify", "userId": "u", "timestamp": "2024-05-01T10:00:00Z"}
        first = norm(dict(call, sentAt="2024-05-01T10:00:01Z"), message_id_seed="con_1").message_id
        retry = norm(dict(call, sentAt="2024-05-01T10:00:09Z"), message_id_seed="con_1").message_id
        other_connection = norm(dict(call), message_id_seed="con_2").message_id
        assert first.startswith("gen-") and first == retry != other_connection

    def test_write_key_never_travels(self):
        assert "writeKey" not in norm({"type": "identify", "userId": "u", "writeKey": "secret"}).event


class TestHostileJson:
    @pytest.mark.parametrize(
        ("body", "rule_start"),
        [
            (b"{", "must be valid JSON in UTF-8"),
            (b'{"a": "\xff"}', "must be valid JSON in UTF-8"),
            (b'{"a": "\\ud800"}', "must be valid JSON in UTF-8"),
            (b'{"a": NaN}', "must be valid JSON in UTF-8"),
            (b'{"a": 1e400}', "must be valid JSON in UTF-8"),
            (b'{"a": 123456789012345678901234567890}', "integers must fit in 64 bits"),
            (b'{"a": -99999999999999999999}', "integers must fit in 64 bits"),
            (b"[" * 5000 + b"]" * 5000, "must be valid JSON in UTF-8"),
            (
                b'{"a":' * (MAX_DEPTH + 1) + b"1" + b"}" * (MAX_DEPTH + 1),
                f"must not nest objects or arrays more than {MAX_DEPTH}",
            ),
        ],
    )
    def test_rejected_with_a_reason(self, body, rule_start):
        with pytest.raises(SpecError) as info:
            loads_untrusted(body)
        assert info.value.field == "body"
        assert info.value.rule.startswith(rule_start)

    def test_long_digit_strings_and_big_floats_are_fine(self):
        value = loads_untrusted(b'{"phone": "123456789012345678901234", "x": 9223372036854775807, "f": 1.5e300}')
        assert value == {"phone": "123456789012345678901234", "x": 9223372036854775807, "f": 1.5e300}

    def test_depth_at_the_limit_is_accepted(self):
        body = b'{"a":' * (MAX_DEPTH - 1) + b"1" + b"}" * (MAX_DEPTH - 1)
        assert isinstance(loads_untrusted(body), dict)
