"""The stored form: versioned, code-free, and anything else is refused."""

from __future__ import annotations

import pickle
import zlib
from dataclasses import replace

import pytest

from chocs_middleware.cache.decisions.values import ResourceIndex, StoredResponse, VaryRecipe
from chocs_middleware.cache.entries.serialisation import (
    _CARRIED_DICTIONARY,
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
    assert encode_response(RESPONSE).startswith(b"chocs-cache 2 response\n")
    assert encode_index(INDEX).startswith(b"chocs-cache 2 index\n")


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"garbage",
        b"chocs-cache 1 response\n{}\n",
        b"chocs-cache 2 response\nnot json\nbody",
        b"chocs-cache 2 response\n[1, 2]\nbody",
        b'chocs-cache 2 response\n{"s": "200", "h": {}, "t": 1, "l": 1, "g": ""}\n',
        b'chocs-cache 2 response\n{"s": 200, "h": {"a": "b"}, "t": 1, "l": 1, "g": ""}\n',
        b'chocs-cache 2 response\n{"s": 200, "h": {}, "t": 1, "l": true, "g": ""}\n',
        b'chocs-cache 2 response\n{"s": 200}\n',
        b"chocs-cache 2 response\n" + b"[" * 100_000 + b"\n",
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


def test_an_index_that_carries_a_response_survives_the_round_trip() -> None:
    carrying = replace(INDEX, carried=("v2", RESPONSE))

    blob = encode_index(carrying)

    assert blob.startswith(b"chocs-cache 2 index\n") and b'"c":1}\n{"s":200,' in blob  # the second variant listed
    assert blob.endswith(encode_response(RESPONSE, carried=True))  # after the index's line: its metadata, its body
    assert b"response" not in blob and blob.count(b'"g":') == 1  # the version line and generation are the index's
    assert decode_index(blob) == carrying


@pytest.mark.parametrize(
    ("position", "what"),
    [(b"2", "a variant it does not list"), (b"-1", "a variant it does not list"), (b'"v2"', "an integer")],
)
def test_an_index_that_carries_a_response_of_no_variant_it_lists_does_not_decode(position: bytes, what: str) -> None:
    blob = encode_index(replace(INDEX, carried=("v2", RESPONSE)))

    with pytest.raises(DecodeError, match=what):
        decode_index(blob.replace(b'"c":1}', b'"c":' + position + b"}"))


def test_an_index_that_carries_a_response_naming_a_generation_does_not_decode() -> None:
    blob = encode_index(replace(INDEX, carried=("v2", RESPONSE)))

    with pytest.raises(DecodeError, match="names a generation"):
        decode_index(blob.replace(b'{"s":200,', b'{"s":200,"g":"other",'))


def test_a_carried_response_takes_its_indexs_generation() -> None:
    blob = encode_index(replace(INDEX, carried=("v2", replace(RESPONSE, generation="stale"))))

    assert decode_index(blob).carried == ("v2", RESPONSE)  # of generation "abc123", the index's


def test_an_index_that_says_it_carries_a_response_but_holds_none_does_not_decode() -> None:
    blob = encode_index(replace(INDEX, carried=("v2", RESPONSE)))

    with pytest.raises(DecodeError):
        decode_index(blob[: blob.index(b'"c":1}') + len(b'"c":1}')])


JSON_BODY = b'{"id": 1, "name": "a product", "tags": ["x", "y"]}\n' * 40  # compresses well


def carried_part(blob: bytes) -> bytes:
    """What follows an index's line: the response it carries."""
    return blob.split(b"\n", 2)[2]


def test_a_carried_response_whose_body_compresses_is_compressed_whole_and_survives_the_round_trip() -> None:
    carrying = replace(INDEX, carried=("v2", replace(RESPONSE, body=JSON_BODY)))

    blob = encode_index(carrying)

    assert not carried_part(blob).startswith(b"{")  # metadata and body in one zlib stream
    apart = encode_response(replace(RESPONSE, body=JSON_BODY))  # its body compressed alone
    assert len(carried_part(blob)) < len(apart) * 2 // 3
    assert decode_index(blob) == carrying


@pytest.mark.parametrize(
    ("what", "plain"),
    [
        ("larger than the encoder compresses", b'{"s":200,"h":{},"t":1,"l":60}\n' + b"x" * 200_000),
        ("a size the encoder does not compress", b'{"s":200,"h":{},"t":1,"l":60}\n' + b"x" * 100),
        ("a compressed body", b'{"s":200,"h":{},"t":1,"l":60,"z":1}\n' + b"x" * 1000),
    ],
)
def test_a_carried_response_compressed_whole_that_the_encoder_would_not_write_does_not_decode(
    what: str, plain: bytes
) -> None:
    index_line = encode_index(replace(INDEX, carried=("v2", RESPONSE))).split(b"\n", 2)[:2]
    compressor = zlib.compressobj(1, zlib.DEFLATED, 13, 6, zlib.Z_DEFAULT_STRATEGY, _CARRIED_DICTIONARY)
    planted = b"\n".join((*index_line, compressor.compress(plain) + compressor.flush()))

    with pytest.raises(DecodeError, match=what):
        decode_index(planted)


def test_a_carried_response_that_is_neither_metadata_nor_a_zlib_stream_does_not_decode() -> None:
    index_line = encode_index(replace(INDEX, carried=("v2", RESPONSE))).split(b"\n", 2)[:2]

    with pytest.raises(DecodeError, match="does not decompress"):
        decode_index(b"\n".join((*index_line, b"not an entry")))


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
