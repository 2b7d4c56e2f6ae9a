"""The stored form: versioned, code-free, and anything else is refused."""

from __future__ import annotations

import pickle
import zlib
from dataclasses import replace

import pytest

from chocs_middleware.cache.decisions.values import ResourceIndex, StoredResponse, VaryRecipe
from chocs_middleware.cache.entries.compression import CARRIED_DICTIONARY
from chocs_middleware.cache.entries.serialisation import (
    DecodeError,
    decode_index,
    decode_response,
    encode_index,
    encode_response,
)
from chocs_middleware.cache.semantics.dates import format_http_date
from chocs_middleware.cache.semantics.entity_tags import generate_entity_tag

RESPONSE = StoredResponse(
    status=200,
    headers=(("content-type", ("application/json",)), ("link", ("</a>", "</b>"))),
    body=b'{"a": "\\n\\u00e9"}\n\x00binary',
    stored_at=1_800_000_000.125,
    lifetime=60,
    generation="abc123",
)
INDEX = ResourceIndex(
    generation="abc123",
    recipes=(VaryRecipe(("accept", "accept-language")),),
    variants=(("v1", 1_800_000_060.0), ("v2", 1_800_000_120.0)),
)


def test_a_response_survives_the_round_trip() -> None:
    assert decode_response(encode_response(RESPONSE)) == RESPONSE


def test_an_index_survives_the_round_trip() -> None:
    assert decode_index(encode_index(INDEX)) == INDEX


def test_an_index_keeps_what_observed_recipes_key_on() -> None:
    observed = ResourceIndex(
        generation="abc123",
        recipes=(
            VaryRecipe(("accept",), False, ("session",), ("page", "q"), False),
            VaryRecipe(("accept", "x-team"), True, ("*",), None, True),
            VaryRecipe(("accept",), False, (), (), False),
        ),
        variants=(("v1", 1_800_000_060.0),),
    )

    assert decode_index(encode_index(observed)) == observed


def test_an_index_with_a_planted_input_name_is_refused() -> None:
    planted = encode_index(INDEX).replace(b'"accept-language"],0]', b'"accept-language"],0,[7],[],0]')

    with pytest.raises(DecodeError):
        decode_index(planted)


def test_the_stored_form_says_its_version_and_kind() -> None:
    assert encode_response(RESPONSE).startswith(b"chocs-cache 3 response\n")
    assert encode_index(INDEX).startswith(b"chocs-cache 3 index\n")


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"garbage",
        b"chocs-cache 1 response\n{}\n",
        b"chocs-cache 3 response\nnot json\nbody",
        b"chocs-cache 3 response\n[1, 2]\nbody",
        b'chocs-cache 3 response\n{"s": "200", "h": {}, "t": 1, "l": 1, "g": ""}\n',
        b'chocs-cache 3 response\n{"s": 200, "h": {"a": "b"}, "t": 1, "l": 1, "g": ""}\n',
        b'chocs-cache 3 response\n{"s": 200, "h": {}, "t": 1, "l": true, "g": ""}\n',
        b'chocs-cache 3 response\n{"s": 200}\n',
        b"chocs-cache 3 response\n" + b"[" * 100_000 + b"\n",
        pickle.dumps((200, b"body", {})),
    ],
)
def test_anything_but_a_response_entry_does_not_decode(blob: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_response(blob)


def test_an_index_is_not_a_response_and_the_other_way_round() -> None:
    with pytest.raises(DecodeError):
        decode_response(encode_index(INDEX))
    with pytest.raises(DecodeError):
        decode_index(encode_response(RESPONSE))


def test_an_index_with_trailing_bytes_does_not_decode() -> None:
    with pytest.raises(DecodeError):
        decode_index(encode_index(INDEX) + b"\nextra")


TAG = b"chocs-cache 3 index\n"


def stream(plain: bytes) -> bytes:
    """``plain`` as a carrying index's stream, as whoever can write to the storage could make one."""
    compressor = zlib.compressobj(1, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY, CARRIED_DICTIONARY)
    return compressor.compress(plain) + compressor.flush()


def opened(blob: bytes) -> tuple[bytes, bytes]:
    """What a carrying index's stream holds (its version line first), and what follows it."""
    expander = zlib.decompressobj(-15, zdict=CARRIED_DICTIONARY)
    return expander.decompress(blob), expander.unused_data


def rewritten(blob: bytes, old: bytes, new: bytes) -> bytes:
    inside, after = opened(blob)
    assert old in inside
    return stream(inside.replace(old, new)) + after


def test_an_index_that_carries_a_response_survives_the_round_trip() -> None:
    carrying = replace(INDEX, carried=("v2", RESPONSE))

    blob = encode_index(carrying)

    inside, after = opened(blob)
    assert inside.startswith(TAG + b'{"g":"abc123"')
    assert b'"c":1}\n{"s":200,' in inside  # the second variant listed, then the response's metadata
    assert after == RESPONSE.body  # a body that does not compress follows the stream as it came
    assert b"response" not in inside and inside.count(b'"g":') == 1  # the version and generation are the index's
    assert decode_index(blob) == carrying


def test_a_carrying_indexs_lines_take_less_room_than_as_text() -> None:
    blob = encode_index(replace(INDEX, carried=("v2", RESPONSE)))

    inside, after = opened(blob)
    assert len(blob) - len(after) < len(inside) // 2


@pytest.mark.parametrize(
    ("position", "what"),
    [(b"2", "a variant it does not list"), (b"-1", "a variant it does not list"), (b'"v2"', "an integer")],
)
def test_an_index_that_carries_a_response_of_no_variant_it_lists_does_not_decode(position: bytes, what: str) -> None:
    blob = encode_index(replace(INDEX, carried=("v2", RESPONSE)))

    with pytest.raises(DecodeError, match=what):
        decode_index(rewritten(blob, b'"c":1}', b'"c":' + position + b"}"))


def test_an_index_that_carries_a_response_naming_a_generation_does_not_decode() -> None:
    blob = encode_index(replace(INDEX, carried=("v2", RESPONSE)))

    with pytest.raises(DecodeError, match="names a generation"):
        decode_index(rewritten(blob, b'{"s":200,', b'{"s":200,"g":"other",'))


def test_a_carried_response_takes_its_indexs_generation() -> None:
    blob = encode_index(replace(INDEX, carried=("v2", replace(RESPONSE, generation="stale"))))

    assert decode_index(blob).carried == ("v2", RESPONSE)  # of generation "abc123", the index's


def test_an_index_that_says_it_carries_a_response_but_holds_none_does_not_decode() -> None:
    index_line = opened(encode_index(replace(INDEX, carried=("v2", RESPONSE))))[0].split(b"\n")[1]

    with pytest.raises(DecodeError, match="says it carries"):
        decode_index(TAG + index_line)
    with pytest.raises(DecodeError, match="two lines"):
        decode_index(stream(TAG + index_line + b"\n"))
    with pytest.raises(DecodeError, match="version line"):
        decode_index(stream(index_line + b"\n" + METADATA))


JSON_BODY = b'{"id": 1, "name": "a product", "tags": ["x", "y"]}\n' * 40  # compresses well


def test_a_carried_body_that_compresses_goes_into_the_stream_and_survives_the_round_trip() -> None:
    carrying = replace(INDEX, carried=("v2", replace(RESPONSE, body=JSON_BODY)))

    blob = encode_index(carrying)

    inside, after = opened(blob)
    assert inside.endswith(b"\n" + JSON_BODY) and after == b""
    assert len(blob) < len(encode_response(replace(RESPONSE, body=JSON_BODY)))  # less than the response alone
    assert decode_index(blob) == carrying


INDEX_LINE = b'{"g":"abc123","r":[],"v":[["v2",1800000120]],"c":0}\n'
METADATA = b'{"s":200,"h":{},"t":1,"l":60}\n'


@pytest.mark.parametrize(
    ("what", "inside", "after"),
    [
        ("larger than the encoder compresses", INDEX_LINE + METADATA + b"x" * 200_000, b""),
        ("would not have compressed", INDEX_LINE + METADATA + b"x" * 100, b""),
        ("two bodies", INDEX_LINE + METADATA + b"x" * 1000, b"y" * 1000),
        ("a compressed body", INDEX_LINE + b'{"s":200,"h":{},"t":1,"l":60,"z":1}\n', b"x" * 1000),
    ],
)
def test_a_carrying_index_that_the_encoder_would_not_write_does_not_decode(
    what: str, inside: bytes, after: bytes
) -> None:
    assert decode_index(stream(TAG + INDEX_LINE + METADATA) + b"x" * 100).carried is not None  # as written

    with pytest.raises(DecodeError, match=what):
        decode_index(stream(TAG + inside) + after)


def test_a_carrying_index_that_is_not_a_deflate_stream_does_not_decode() -> None:
    with pytest.raises(DecodeError, match="does not decompress"):
        decode_index(b"not an entry")


def generated_response(**changes: object) -> StoredResponse:
    stored_at = 1_800_000_000.125
    body = b"representation"
    headers = (
        ("content-type", ("text/plain",)),
        ("cache-control", ("max-age=60",)),
        ("date", (format_http_date(stored_at),)),
        ("etag", (generate_entity_tag(body),)),
        ("last-modified", (format_http_date(stored_at),)),
    )
    fields: dict[str, object] = {
        "status": 200,
        "headers": headers,
        "body": body,
        "stored_at": stored_at,
        "lifetime": 60,
        "generation": "g",
    }
    fields.update(changes)
    return StoredResponse(**fields)  # type: ignore[arg-type]


def test_generated_validators_are_rebuilt_not_stored_as_text() -> None:
    response = generated_response()

    blob = encode_response(response)

    assert format_http_date(response.stored_at).encode() not in blob
    assert generate_entity_tag(response.body).encode() not in blob
    assert decode_response(blob) == response


def test_validators_set_by_the_handler_are_kept_as_they_are() -> None:
    response = generated_response()
    headers = (
        *response.headers[:2],
        ("date", ("Sun, 06 Nov 1994 08:49:37 GMT",)),
        ("etag", ('W/"handler"',)),
        ("last-modified", ("Sun, 06 Nov 1994 08:49:37 GMT",)),
        ("x-after", ("1",)),
    )
    handler_set = generated_response(headers=headers)

    assert decode_response(encode_response(handler_set)) == handler_set
