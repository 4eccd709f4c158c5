"""Request validation: pydantic models in, field-named gateway errors out.

The models double as the OpenAPI schemas. Value checks raise
``PydanticCustomError`` with the message the caller sees, so that every
failure reads ``"<field>: <reason>"`` (design 2).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationError,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from hstgw.errors import GatewayError, ParameterInvalid, ParameterMissing

__all__ = [
    "INT32_MAX",
    "MAX_PAGE_SIZE",
    "QUERY_CONFIG",
    "AppId",
    "AppName",
    "ClientGuid",
    "CompanyId",
    "GroupId",
    "MutexType",
    "OneOf",
    "Page",
    "PageSize",
    "Range",
    "Text",
    "UserId",
    "field_path",
    "is_user_id",
    "parse_body",
    "parse_query",
    "to_gateway_error",
]

M = TypeVar("M", bound=BaseModel)

# A query's model: unknown parameters ignored, and frozen, so that the parse of a query
# string can be kept and handed to every request that repeats it (wrappers.serve).
QUERY_CONFIG = ConfigDict(extra="ignore", frozen=True)

_TYPE_MESSAGES = {
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "bool_type": "must be a boolean",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "literal_error": "must be one of {expected}",
    "too_long": "must have at most {max_length} items",
    "too_short": "must have at least {min_length} items",
    "greater_than_equal": "must be >= {ge}",
    "less_than_equal": "must be <= {le}",
    "decimal_type": "must be a number",
    "decimal_parsing": "must be a number",
    "decimal_max_places": "must have at most {decimal_places} decimal places",
}


class _Check:
    """Pydantic metadata: a check after the type's own validation, with its own message,
    all in pydantic-core (no Python call per field); ``json_extra()`` documents it."""

    def checks(self) -> list[core_schema.CoreSchema]:
        raise NotImplementedError

    def json_extra(self) -> dict[str, Any]:
        raise NotImplementedError

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.chain_schema([handler(source), *self.checks()])

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        out = handler(schema)
        out.update(self.json_extra())
        return out


@dataclass(frozen=True, slots=True)
class Range(_Check):
    """``Annotated[int, Range(lo, hi)]``: an integer in ``lo..hi``, named in the error."""

    lo: int
    hi: int

    def checks(self) -> list[core_schema.CoreSchema]:
        return [
            core_schema.custom_error_schema(
                core_schema.int_schema(ge=self.lo, le=self.hi),
                "range",
                custom_error_message=f"must be {self.lo}..{self.hi}",
            )
        ]

    def json_extra(self) -> dict[str, Any]:
        return {"minimum": self.lo, "maximum": self.hi}


@dataclass(frozen=True, slots=True)
class Text(_Check):
    """``Annotated[str, Text(regex, reason, lo, hi)]``: a string of ``lo..hi``
    characters matching ``regex``; ``reason`` is the error when it does not."""

    regex: str
    reason: str
    lo: int
    hi: int

    def checks(self) -> list[core_schema.CoreSchema]:
        return [
            core_schema.custom_error_schema(
                core_schema.str_schema(min_length=self.lo, max_length=self.hi),
                "length",
                custom_error_message=f"must be {self.lo}..{self.hi} characters",
            ),
            core_schema.custom_error_schema(
                core_schema.str_schema(pattern=f"^(?:{self.regex})$"),
                "pattern",
                custom_error_message=self.reason,
            ),
        ]

    def json_extra(self) -> dict[str, Any]:
        return {"pattern": f"^{self.regex}$", "minLength": self.lo, "maxLength": self.hi}


def _either(choices: tuple[int, ...]) -> str:
    """``1, 2 or 3``, as pydantic words a literal's choices."""
    *head, last = map(str, choices)
    return f"{', '.join(head)} or {last}" if head else last


@dataclass(frozen=True, slots=True)
class OneOf(_Check):
    """``Annotated[int, OneOf((1, 2))]``: one of these integers; ``true`` is not 1."""

    choices: tuple[int, ...]

    def checks(self) -> list[core_schema.CoreSchema]:
        return [
            core_schema.custom_error_schema(
                core_schema.literal_schema(list(self.choices)),
                "choice",
                custom_error_message=f"must be one of {_either(self.choices)}",
            )
        ]

    def json_extra(self) -> dict[str, Any]:
        return {"enum": list(self.choices)}

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        # Booleans are not integers: the type is checked strictly before the choice.
        return core_schema.chain_schema([core_schema.int_schema(strict=True), *self.checks()])


HEX32_RE = r"[0-9a-f]{32}"
# Letters, digits, `_` and CJK ideographs (design 1: the seed's "中英文、下划线", and
# its own quick start's "test123"). "CJK ideographs": the Unicode blocks of CJK unified
# ideographs (the main block and extensions A to I) and CJK compatibility ideographs
# (and their supplement), whole blocks, so that the rule does not move with the
# Unicode version of whoever checks it (docs/api.md lists them).
CJK_IDEOGRAPH_BLOCKS = (
    (0x3400, 0x4DBF),  # extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # compatibility ideographs
    (0x20000, 0x2A6DF),  # extension B
    (0x2A700, 0x2EBEF),  # extensions C, D, E, F
    (0x2EBF0, 0x2EE5F),  # extension I
    (0x2F800, 0x2FA1F),  # compatibility ideographs supplement
    (0x30000, 0x3134F),  # extension G
    (0x31350, 0x323AF),  # extension H
)
APP_NAME_RE = (
    "[A-Za-z0-9_" + "".join(f"\\U{lo:08X}-\\U{hi:08X}" for lo, hi in CJK_IDEOGRAPH_BLOCKS) + "]+"
)

ID_RE = r"[A-Za-z0-9_-]+"
VISIBLE_RE = r"[\x21-\x7e]*"

INT32_MAX = 2**31 - 1
# Every paged list (apps, records, online users, REST and terminal): docs/security.md.
MAX_PAGE_SIZE = 100
Page = Annotated[int, Range(1, INT32_MAX)]
PageSize = Annotated[int, Range(1, MAX_PAGE_SIZE)]
USER_ID_MAX = 128

AppId = Annotated[str, Text(HEX32_RE, "must be 32 lowercase hex characters", 32, 32)]
# user_id and group_id (design 1); mutex_type names a kind of terminal.
UserId = Annotated[str, Text(ID_RE, "only letters, digits, _ and - are allowed", 1, USER_ID_MAX)]
GroupId = UserId
MutexType = Annotated[str, Text(ID_RE, "only letters, digits, _ and - are allowed", 1, 32)]
CompanyId = Annotated[
    str, Text(r"[A-Za-z0-9_-]*", "only letters, digits, _ and - are allowed", 0, 128)
]
ClientGuid = Annotated[str, Text(VISIBLE_RE, "only visible ASCII characters are allowed", 0, 128)]
AppName = Annotated[
    str, Text(APP_NAME_RE, "only letters, digits, CJK ideographs and _ are allowed", 1, 64)
]


_USER_ID = re.compile(ID_RE)


def is_user_id(value: str) -> bool:
    """The rule of :data:`UserId` (user_id and group_id) as a test, for a value that
    did not come through a model: 1-128 of ``[A-Za-z0-9_-]``."""
    return 1 <= len(value) <= USER_ID_MAX and _USER_ID.fullmatch(value) is not None


def field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "body"


def to_gateway_error(exc: ValidationError) -> GatewayError:
    """The first error of ``exc`` as the caller should read it."""
    err = exc.errors(include_url=False)[0]
    kind = err["type"]
    field = field_path(tuple(err["loc"]))
    if kind == "missing":
        return ParameterMissing(field)
    if kind == "json_invalid":
        return ParameterInvalid("body", "malformed JSON")
    if kind in ("model_type", "model_attributes_type") and not err["loc"]:
        return ParameterInvalid("body", "must be a JSON object")
    template = _TYPE_MESSAGES.get(kind)
    if template is not None:
        return ParameterInvalid(field, template.format(**err.get("ctx", {})))
    return ParameterInvalid(field, err["msg"])


def parse_body(model: type[M], raw: bytes) -> M:
    if not raw.strip():
        raise ParameterInvalid("body", "must be a JSON object")
    try:
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        raise to_gateway_error(exc) from None


# A query integer is written in plain decimal: no sign but "-", no spaces, "_" or ".0",
# which pydantic's lax str-to-int would take.
_DECIMAL = re.compile(r"-?[0-9]+")
_INT_FIELDS: dict[type[BaseModel], frozenset[str]] = {}


def _int_fields(model: type[BaseModel]) -> frozenset[str]:
    fields = _INT_FIELDS.get(model)
    if fields is None:
        fields = frozenset(
            name
            for name, info in model.model_fields.items()
            if info.annotation is int or info.annotation == (int | None)
        )
        _INT_FIELDS[model] = fields
    return fields


def parse_query(model: type[M], params: Mapping[str, str]) -> M:
    for name in _int_fields(model):
        value = params.get(name)
        if value is not None and _DECIMAL.fullmatch(value) is None:
            raise ParameterInvalid(name, "must be an integer")
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise to_gateway_error(exc) from None
