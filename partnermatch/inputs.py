"""What comes in from outside, read in one place each: numbers, ids, text and JSON.

Every number a request, a form, a JSON body or an import file carries goes through
`parse_int`; every id in a URL through `IdConverter` (registered on the app as ``<id:...>``);
every string that is stored or searched through `clean_text`; every JSON document through
`load_json`. Each refuses what it cannot read with a `ValidationError` naming the field, so
that bad input is answered with a message (a form error, a 4xx JSON error, a rejected import
row) and never reaches the database or the engine as a server error.

Text that cannot be stored is refused, not repaired: NUL (PostgreSQL refuses it) and lone
surrogates (half of a UTF-16 pair, which a JSON ``\\ud800`` escape can carry and no database
can encode; bytes of an import file that are not UTF-8 are read as such). What is stored is
exactly what was sent, trimmed of outer spaces.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from werkzeug.routing import IntegerConverter

from partnermatch.errors import ValidationError

# The largest id every database's id columns hold: they are PostgreSQL INTEGER (SQLite's
# hold more), and a larger number reached the query and failed there (a 500).
MAX_ID = 2**31 - 1
# Whole numbers are read from at most this many ASCII digits: enough for any id, and int()
# never sees the 5,000-digit strings it refuses with an error of its own.
MAX_DIGITS = len(str(MAX_ID))
_WHOLE_NUMBER = re.compile(rf"[+-]?[0-9]{{1,{MAX_DIGITS}}}")
# JSON bodies and import lines nest objects and lists at most this deep; the profile schema
# needs three levels (a row, its evidence list, an item).
MAX_JSON_DEPTH = 32
_SURROGATE = re.compile("[\ud800-\udfff]")


class InputTooLarge(ValidationError):
    """A document over its size limit (the API answers 413)."""


# --- numbers -----------------------------------------------------------------------------------


def parse_int(
    value: Any, field: str, *, low: int, high: int, default: int | None = None
) -> int | None:
    """Read a whole number within [low, high] from JSON (an int) or text (ASCII digits).

    None and blank text give `default`. Booleans, fractions, exponents, other scripts' digits
    ("٣", "²") and anything out of range are refused.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _WHOLE_NUMBER.fullmatch(value.strip()):
        number = int(value.strip())
    if number is None or not low <= number <= high:
        raise ValidationError(field, f"Give a whole number from {low} to {high}.")
    return number


def parse_id(value: Any, field: str) -> int:
    """Read a database id: a whole number from 1 to ``MAX_ID``."""
    number = parse_int(value, field, low=1, high=MAX_ID)
    if number is None:
        raise ValidationError(field, "Give an id.")
    return number


class IdConverter(IntegerConverter):
    """``<id:name>`` in a route: ASCII digits from 1 to ``MAX_ID``; anything else is a 404.

    Werkzeug's ``int`` accepts any number of digits, so an id past what the database holds
    reached the query and failed there (OverflowError, a 500).
    """

    regex = rf"[0-9]{{1,{MAX_DIGITS}}}"

    def __init__(self, map: Any) -> None:
        super().__init__(map, min=1, max=MAX_ID)


# --- text --------------------------------------------------------------------------------------


def refuse_unencodable(value: str, field: str) -> None:
    """Raise ValidationError if the text holds a character no database can store."""
    if "\x00" in value:
        raise ValidationError(field, "Remove the NUL character (\\x00) from this text.")
    surrogate = _SURROGATE.search(value)
    if surrogate:
        raise ValidationError(
            field,
            f"This text is not valid Unicode at character {surrogate.start() + 1} "
            f"(U+{ord(surrogate.group()):04X}, half of a surrogate pair, or a byte that is "
            "not UTF-8): remove it.",
        )


def clean_text(
    value: Any, field: str, *, max_length: int | None = None, required: bool = False
) -> str:
    """Return text trimmed of outer spaces, or raise ValidationError naming the field.

    None is empty text. Non-text, NUL, lone surrogates, text over `max_length` characters
    and (when `required`) empty text are refused.
    """
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError(field, "Give text here.")
    refuse_unencodable(value, field)
    value = value.strip()
    if required and not value:
        raise ValidationError(field, "This field is required.")
    if max_length is not None and len(value) > max_length:
        raise ValidationError(field, f"Use at most {max_length} characters ({len(value)} given).")
    return value


# --- JSON --------------------------------------------------------------------------------------


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _path(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


def _nodes(document: Any) -> Iterator[tuple[Any, str, int]]:
    """Yield every value of a parsed document with its path and depth, without recursion."""
    stack: list[tuple[Any, str, int]] = [(document, "", 1)]
    while stack:
        value, path, depth = stack.pop()
        yield value, path, depth
        if isinstance(value, dict):
            stack.extend((item, _path(path, key), depth + 1) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend((item, _path(path, n), depth + 1) for n, item in enumerate(value))


def load_json(
    data: str | bytes,
    *,
    field: str = "body",
    max_bytes: int,
    max_depth: int = MAX_JSON_DEPTH,
) -> Any:
    """Parse one JSON document, refusing what the rest of the application cannot take.

    Raise InputTooLarge over `max_bytes`, and ValidationError for text that is not JSON
    (NaN and Infinity included), nesting deeper than `max_depth` (Python's parser recurses
    and would fail near 1,000 levels) and strings that cannot be stored (`clean_text`'s
    rule), naming the string's path (``organisation.name``, ``evidence[0].title``).
    """
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise InputTooLarge(field, f"Send at most {max_bytes:,} bytes ({size:,} given).")
    too_deep = ValidationError(field, f"Nest objects and lists at most {max_depth} levels deep.")
    try:
        document = json.loads(data, parse_constant=_refuse_constant)
    except RecursionError:
        raise too_deep from None
    except json.JSONDecodeError as error:
        raise ValidationError(
            field, f"Not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})."
        ) from None
    except (ValueError, UnicodeDecodeError) as error:
        raise ValidationError(field, f"Not valid JSON: {error}.") from None
    for value, path, depth in _nodes(document):
        if depth > max_depth:
            raise too_deep
        if isinstance(value, dict):
            for key in value:
                refuse_unencodable(key, path or field)
        elif isinstance(value, str):
            refuse_unencodable(value, path or field)
    return document
