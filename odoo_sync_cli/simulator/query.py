"""Odoo domains and order strings, checked the way Odoo checks them and compiled to SQLite SQL.

A domain is a prefix-notation list (``'&'``, ``'|'``, ``'!'`` and ``[path, operator, value]``
leaves). :func:`normalize_domain` checks its syntax with Odoo 19's error texts and makes every
implicit AND explicit. :func:`compile_where` turns it into one SQL boolean expression over
``FROM <table> AS t`` (the storage layout of :mod:`odoo_sync_cli.simulator.models`), the way Odoo
turns it into PostgreSQL, including the rules that make Odoo differ from naive SQL:

- ``'!'`` is pushed down to the leaves. A negative operator (``!=``, ``not in``, ``not like``,
  ...) is the exact complement of its positive form, so it matches NULL where the positive form
  does not; ``!`` on ``<``/``>``/``<=``/``>=`` flips the comparison instead, so NULL stays out.
- Odoo 19 treats the falsy value of a type as "unset": ``0`` on numbers (NULL compares as 0),
  ``''`` and ``False`` on text, ``False`` on booleans, and ``=?`` drops any falsy value.
- Datetimes are stored with microseconds and compared by Odoo 19 per whole second; a date-only
  string on a datetime field is midnight in the user's time zone.
- A string compared with a relational field searches the comodel's display name.

:func:`compile_order` checks an order string and returns an ``ORDER BY`` body with PostgreSQL's
NULL placement (last ascending, first descending) and many2one fields ordered by the comodel's
``_order``. Both functions raise :class:`OdooServerError` with the name and text Odoo would send.

The SQL may call ``sim_ilike(value, pattern)`` (Unicode-aware ILIKE for non-ASCII patterns):
register :func:`sql_ilike` under that name on the connection that runs it, as the store does.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.relativedelta import relativedelta

from .errors import OdooServerError, user_error, value_error
from .models import TEXT_TYPES, UNSTORED_TYPES, X2MANY_TYPES, FieldSpec, ModelSpec

NAMES_TABLE = "_sim_names"
DOMAIN_OPERATORS = ("&", "|", "!")

_OPERATORS_17 = frozenset(
    {
        "=",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "=?",
        "=like",
        "=ilike",
        "like",
        "not like",
        "ilike",
        "not ilike",
        "in",
        "not in",
        "child_of",
        "parent_of",
        "any",
        "not any",
    }
)
_OPERATORS_19 = _OPERATORS_17 | {"not =like", "not =ilike", "any!", "not any!"}
# Spellings Odoo accepts and rewrites before anything else looks at the operator.
_ALIASES_17 = {"<>": "!="}
_ALIASES_19 = {"<>": "!=", "==": "=", "any!": "any", "not any!": "not any"}

_NEGATIVE = {
    "!=": "=",
    "not in": "in",
    "not like": "like",
    "not ilike": "ilike",
    "not =like": "=like",
    "not =ilike": "=ilike",
    "not any": "any",
}
# What '!' turns an inequality into (Odoo distributes negation this way, so NULL stays out).
_FLIP = {"<": ">=", ">=": "<", ">": "<=", "<=": ">"}
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: bool(a == b),
    "<": lambda a, b: bool(a < b),
    "<=": lambda a, b: bool(a <= b),
    ">": lambda a, b: bool(a > b),
    ">=": lambda a, b: bool(a >= b),
}
_PATTERN_OPS = frozenset({"like", "ilike", "=like", "=ilike"})
_NUMBER_TYPES = frozenset({"integer", "float", "monetary"})
_SECOND = timedelta(seconds=1)
_ORDER_TERM = re.compile(
    r"^\s*(?P<field>[a-z0-9_]+)(?:\s+(?P<dir>asc|desc))?(?:\s+nulls\s+(?P<nulls>first|last))?\s*$",
    re.IGNORECASE,
)
_ISO_START = re.compile(r"^\d+-")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RELATIVE_TERM = re.compile(r"^(?P<n>\d+)(?P<unit>[dwmyHMS])$")
_UNIT_DELTA = {
    "d": "days",
    "w": "weeks",
    "m": "months",
    "y": "years",
    "H": "hours",
    "M": "minutes",
    "S": "seconds",
}
_UNIT_SET = {"d": "day", "m": "month", "y": "year", "H": "hour", "M": "minute", "S": "second"}
_MAX_ORDER_DEPTH = 4
_INLINE_LIST_MAX = 200


@dataclass(frozen=True)
class Semantics:
    """Which Odoo the simulator imitates."""

    version: int = 19
    user_tz: str = "Europe/Brussels"


def model_spec(registry: Mapping[str, ModelSpec], model: str) -> ModelSpec:
    """The spec of ``model``, or the UserError Odoo raises for a model it does not have."""
    spec = registry.get(model)
    if spec is None:
        raise user_error(f"Object {model} doesn't exist")
    return spec


_ID_FIELD = FieldSpec(name="id", type="integer", store=True)


def get_field(spec: ModelSpec, name: str) -> FieldSpec | None:
    """The field ``name`` of ``spec``; every model has ``id`` even when its spec omits it."""
    found = spec.fields.get(name)
    if found is None and name == "id":
        return _ID_FIELD
    return found


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# --------------------------------------------------------------------------------------------
# Normalization


_TRUE_LEAF = (1, "=", 1)
_FALSE_LEAF = (0, "=", 1)
# Operators Odoo 19 accepts in conditions built in code but refuses in a domain list.
_INTERNAL_OPERATORS = frozenset({"any!", "not any!"})


def _condition_text(path: Any, operator: Any, value: Any) -> str:
    return repr((path, operator, value))


def _type_error(message: str) -> OdooServerError:
    return OdooServerError("builtins.TypeError", message)


def _normalize_leaf_19(item: list[Any] | tuple[Any, ...]) -> list[Any]:
    """One condition checked as Odoo 19's ``Domain(*item)`` checks it, with its error texts."""
    path, operator, value = item
    if not isinstance(path, str):
        if tuple(item) == _TRUE_LEAF:
            return [1, "=", 1]
        if tuple(item) == _FALSE_LEAF:
            return [0, "=", 1]
        raise _type_error(f"Domain() invalid arguments: {tuple(item)!r}")
    if not path:
        raise _type_error(f"Empty field name in condition {_condition_text(path, operator, value)}")
    if not isinstance(operator, str):
        raise OdooServerError(
            "builtins.AttributeError",
            f"'{type(operator).__name__}' object has no attribute 'lower'",
        )
    op = operator.lower()
    if op not in _OPERATORS_19 | _ALIASES_19.keys():
        raise value_error(f"Invalid operator in condition {_condition_text(path, op, value)}")
    return [path, _ALIASES_19.get(op, op), value]


def _normalize_19(domain: object) -> list[Any]:
    """Odoo 19's ``Domain(list)``: items read from the end with a stack, so the last bad item
    is the one reported; a complete expression left beside another is ANDed with it."""
    if domain is True:
        return []
    if domain is False:
        return [[0, "=", 1]]
    if not isinstance(domain, list | tuple):
        raise _type_error(f"Domain() invalid argument type for domain: {domain!r}")
    stack: list[list[Any]] = []
    try:
        for item in reversed(domain):
            if isinstance(item, list | tuple) and len(item) == 3:
                if item[1] in _INTERNAL_OPERATORS:
                    raise value_error(f"Domain() invalid item in domain: {item!r}")
                stack.append([_normalize_leaf_19(item)])
            elif isinstance(item, str) and item in ("&", "|"):
                first, second = stack.pop(), stack.pop()
                stack.append([item, *first, *second])
            elif item == "!":
                stack.append(["!", *stack.pop()])
            else:
                raise value_error(f"Domain() invalid item in domain: {item!r}")
    except IndexError:
        raise value_error(f"Domain() malformed domain {domain!r}") from None
    parts = list(reversed(stack))
    return ["&"] * max(0, len(parts) - 1) + [token for part in parts for token in part]


def _normalize_17(domain: object) -> list[Any]:
    """Odoo 17's ``normalize_domain``, then its checks of each condition."""
    if not isinstance(domain, list | tuple):
        raise OdooServerError(
            "builtins.AssertionError",
            "Domains to normalize must have a 'domain' form: a list or tuple of domain components",
        )
    result: list[Any] = []
    expected = 1
    for item in domain:
        if expected == 0:
            # A complete expression is followed by more: Odoo ANDs them, so the AND goes first.
            result.insert(0, "&")
            expected = 1
        if isinstance(item, list | tuple):
            expected -= 1
            result.append(item)
        else:
            expected += {"!": 1, "&": 2, "|": 2}.get(item, 0) - 1
            result.append(item)
    if result and expected != 0:
        raise value_error(f"Domain {list(domain)!r} is syntactically not correct.")
    return [
        _normalize_leaf_17(t) if isinstance(t, list | tuple) else _operator_17(t) for t in result
    ]


def _operator_17(token: Any) -> str:
    if isinstance(token, str) and token in DOMAIN_OPERATORS:
        return token
    raise value_error(f"Invalid leaf {token!r}")


def _normalize_leaf_17(item: list[Any] | tuple[Any, ...]) -> list[Any]:
    if len(item) != 3:
        # Odoo 17 unpacks the condition into (left, operator, right).
        detail = f"expected 3, got {len(item)}" if len(item) < 3 else "expected 3"
        few = "not enough" if len(item) < 3 else "too many"
        raise value_error(f"{few} values to unpack ({detail})")
    if tuple(item) in (_TRUE_LEAF, _FALSE_LEAF) and not isinstance(item[0], str):
        return [int(item[0]), "=", 1]
    path, operator, value = item
    op = operator.lower() if isinstance(operator, str) else operator
    op = _ALIASES_17.get(op, op)
    if not isinstance(path, str) or not path or not isinstance(op, str) or op not in _OPERATORS_17:
        raise value_error(f"Invalid leaf {_condition_text(*item)}")
    return [path, op, value]


def normalize_domain(domain: object, *, version: int = 19) -> list[Any]:
    """Check ``domain`` and return it in prefix form with every implicit AND made explicit.

    Leaves come back as ``[path, operator, value]`` lists with the operator lower-cased and
    its aliases resolved (``<>`` is ``!=``); the constant leaves stay ``[1, '=', 1]`` and
    ``[0, '=', 1]``. The result normalizes to itself. A domain that is not a list (``None``
    included) is refused, as Odoo refuses it; ``search_read`` reads a falsy one as ``[]``.
    """
    if version >= 19:
        return _normalize_19(domain)
    return _normalize_17(domain)


@dataclass
class _Node:
    kind: str  # "and", "or", "not", "leaf"
    children: list[_Node] = field(default_factory=list)
    leaf: list[Any] | None = None


def _tree(normalized: list[Any]) -> _Node | None:
    """Build an expression tree from a normalized domain, without recursion."""
    stack: list[_Node] = []
    for token in reversed(normalized):
        if token == "!":
            stack.append(_Node("not", [stack.pop()]))
        elif token in ("&", "|"):
            kind = "and" if token == "&" else "or"
            first, second = stack.pop(), stack.pop()
            children: list[_Node] = []
            for part in (first, second):
                children.extend(part.children if part.kind == kind else [part])
            stack.append(_Node(kind, children))
        else:
            stack.append(_Node("leaf", leaf=token))
    return stack[0] if stack else None


def domain_leaves(normalized: list[Any]) -> list[list[Any]]:
    return [item for item in normalized if isinstance(item, list)]


# --------------------------------------------------------------------------------------------
# Values


def _is_list(value: Any) -> bool:
    return isinstance(value, list | tuple)


def _unset(value: Any, version: int) -> bool:
    """Whether ``=?`` drops its condition for ``value``."""
    if version >= 19:
        return not value
    return value is None or value is False


def _falsy_null(value: Any) -> bool:
    return value is None or value is False


def _to_number(spec: FieldSpec, value: Any, version: int) -> int | float | None:
    """A domain value as a number for ``spec``; None for NULL (only in Odoo <= 18)."""
    if _falsy_null(value):
        return 0 if version >= 19 else None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        if spec.type == "integer":
            try:
                return int(value.strip())
            except ValueError:
                # PostgreSQL refuses the literal; Odoo passes its error through.
                raise OdooServerError(
                    "psycopg2.errors.InvalidTextRepresentation",
                    f'invalid input syntax for type integer: "{value}"',
                ) from None
        try:
            return float(value)
        except ValueError as exc:
            raise value_error(str(exc)) from None
    raise value_error(f"could not convert {type(value).__name__} to a number: {value!r}")


def local_midnight_utc(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC).replace(tzinfo=None)


def format_datetime(moment: datetime) -> str:
    """The stored text form of a naive UTC datetime: always six digits of microseconds."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def _relative_date(text: str, now_local: datetime) -> date | datetime:
    """Evaluate a relative date such as ``today -1w`` or ``now =3H`` from local time.

    ``today`` starts from the local date, ``now`` (or nothing) from the local time. Each
    further term adds (``+``), subtracts (``-``) or sets (``=``, which also resets the smaller
    parts) a count of days, weeks, months, years, hours, minutes or seconds: ``+3d``, ``=1m``.
    """
    terms = text.split()
    moment: date | datetime = now_local
    if terms and terms[0] == "today":
        moment = now_local.date()
        terms = terms[1:]
    elif terms and terms[0] == "now":
        terms = terms[1:]
    elif not terms:
        raise value_error(f"Invalid empty date expression: {text!r}")
    for term in terms:
        sign, match = term[:1], _RELATIVE_TERM.match(term[1:])
        if sign not in ("+", "-", "=") or match is None or (sign == "=" and match["unit"] == "w"):
            raise value_error(f"Invalid term {term!r} in expression date: {text!r}")
        count, unit = int(match["n"]), match["unit"]
        if unit in "HMS" and not isinstance(moment, datetime):
            moment = datetime.combine(moment, time(), tzinfo=now_local.tzinfo)
        if sign != "=":
            delta: dict[str, Any] = {_UNIT_DELTA[unit]: count if sign == "+" else -count}
            moment = moment + relativedelta(**delta)
            continue
        part = _UNIT_SET[unit]
        parts = ("year", "month", "day", "hour", "minute", "second", "microsecond")
        smaller = parts[parts.index(part) + 1 :]
        if not isinstance(moment, datetime):
            smaller = tuple(p for p in smaller if p in ("month", "day"))
        changes: dict[str, Any] = {
            part: count,
            **{p: 1 if p in ("month", "day") else 0 for p in smaller},
        }
        try:
            moment = moment.replace(**changes)
        except ValueError as exc:
            raise value_error(str(exc)) from None
    return moment


def _parse_temporal(
    value: Any, *, now_local: datetime, reject_tz: bool
) -> tuple[date | datetime, bool]:
    """Parse a domain value for a date or datetime field: (naive UTC value, is_date_only)."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        return value, True
    elif isinstance(value, str):
        text = value.strip()
        if _ISO_START.match(text):
            try:
                if _DATE_ONLY.match(text):
                    return date.fromisoformat(text), True
                parsed = datetime.fromisoformat(text)
            except ValueError as exc:
                raise value_error(str(exc)) from None
            if parsed.tzinfo is not None and reject_tz:
                raise value_error(f"expecting only datetimes with no timezone: {value!r}")
        else:
            relative = _relative_date(text, now_local)
            if not isinstance(relative, datetime):
                return relative, True
            parsed = relative
    else:
        raise value_error(f"Invalid date or datetime value: {value!r}")
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed, False


# --------------------------------------------------------------------------------------------
# SQL fragments


@dataclass(frozen=True)
class Frag:
    """A piece of SQL and the parameters of its placeholders, in order."""

    sql: str
    params: list[Any] = field(default_factory=list)


TRUE = Frag("1")
FALSE = Frag("0")


def _join(kind: str, parts: list[Frag]) -> Frag:
    if kind == "AND":
        if any(p.sql == "0" for p in parts):
            return FALSE
        parts = [p for p in parts if p.sql != "1"]
        if not parts:
            return TRUE
    else:
        if any(p.sql == "1" for p in parts):
            return TRUE
        parts = [p for p in parts if p.sql != "0"]
        if not parts:
            return FALSE
    if len(parts) == 1:
        return parts[0]
    params: list[Any] = []
    for p in parts:
        params.extend(p.params)
    return Frag("(" + f" {kind} ".join(f"({p.sql})" for p in parts) + ")", params)


def _negate(frag: Frag) -> Frag:
    if frag.sql == "1":
        return FALSE
    if frag.sql == "0":
        return TRUE
    # COALESCE keeps NOT two-valued: a condition that is NULL for a row did not match it.
    return Frag(f"NOT COALESCE(({frag.sql}), 0)", frag.params)


def _in_list(expr: str, values: list[Any]) -> Frag:
    if not values:
        return FALSE
    if len(values) > _INLINE_LIST_MAX:
        return Frag(f"{expr} IN (SELECT value FROM json_each(?))", [json.dumps(values)])
    return Frag(f"{expr} IN ({', '.join('?' for _ in values)})", list(values))


def like_to_glob(pattern: str) -> str:
    """Translate a LIKE pattern (``%``, ``_``, backslash escapes) to a case-sensitive GLOB."""
    out: list[str] = []
    escaped = False
    for ch in pattern:
        if escaped:
            out.append(f"[{ch}]" if ch in "*?[" else ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "%":
            out.append("*")
        elif ch == "_":
            out.append("?")
        elif ch in "*?[":
            out.append(f"[{ch}]")
        else:
            out.append(ch)
    if escaped:
        out.append("\\")
    return "".join(out)


@functools.lru_cache(maxsize=256)
def like_regex(pattern: str) -> re.Pattern[str]:
    """A regular expression for a case-insensitive LIKE pattern (matched on lower-cased text)."""
    out: list[str] = []
    escaped = False
    for ch in pattern.lower():
        if escaped:
            out.append(re.escape(ch))
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
    if escaped:
        out.append(re.escape("\\"))
    return re.compile("".join(out), re.DOTALL)


def sql_ilike(value: Any, pattern: Any) -> int | None:
    """SQLite function ``sim_ilike(value, pattern)``: Unicode-aware ILIKE."""
    if value is None or pattern is None:
        return None
    return 1 if like_regex(str(pattern)).fullmatch(str(value).lower()) else 0


def _pattern_match(expr: str, op: str, value: Any) -> Frag:
    """``like``/``ilike``/``=like``/``=ilike`` on a text expression."""
    if op in ("like", "ilike") and (_falsy_null(value) or value == ""):
        return TRUE
    if _falsy_null(value):
        return FALSE
    text = str(value)
    pattern = f"%{text}%" if op in ("like", "ilike") else text
    if op in ("like", "=like"):
        return Frag(f"{expr} GLOB ?", [like_to_glob(pattern)])
    if pattern.isascii():
        trailing = len(pattern) - len(pattern.rstrip("\\"))
        if trailing % 2 == 1:
            pattern += "\\"
        return Frag(f"{expr} LIKE ? ESCAPE '\\'", [pattern])
    return Frag(f"sim_ilike({expr}, ?)", [pattern])


# --------------------------------------------------------------------------------------------
# The compiler


@dataclass
class _Compiler:
    registry: Mapping[str, ModelSpec]
    semantics: Semantics
    context: Mapping[str, Any]
    now: datetime
    aliases: int = 0

    @property
    def v19(self) -> bool:
        return self.semantics.version >= 19

    @functools.cached_property
    def tz(self) -> ZoneInfo:
        name = self.context.get("tz") or self.semantics.user_tz
        try:
            return ZoneInfo(str(name))
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")

    @functools.cached_property
    def now_local(self) -> datetime:
        return self.now.replace(tzinfo=UTC).astimezone(self.tz)

    def alias(self) -> str:
        self.aliases += 1
        return f"s{self.aliases}"

    @property
    def active_test(self) -> bool:
        return self.context.get("active_test", True) is not False

    # -- tree -----------------------------------------------------------------------------

    def domain(self, spec: ModelSpec, alias: str, normalized: list[Any], negate: bool) -> Frag:
        root = _tree(normalized)
        if root is None:
            return FALSE if negate else TRUE
        return self.node(spec, alias, root, negate)

    def node(self, spec: ModelSpec, alias: str, node: _Node, negate: bool) -> Frag:
        if node.kind == "leaf":
            assert node.leaf is not None
            return self.leaf(spec, alias, node.leaf, negate)
        if node.kind == "not":
            return self.node(spec, alias, node.children[0], not negate)
        is_and = (node.kind == "and") != negate
        parts = [self.node(spec, alias, child, negate) for child in node.children]
        return _join("AND" if is_and else "OR", parts)

    # -- leaves ---------------------------------------------------------------------------

    def leaf(self, spec: ModelSpec, alias: str, leaf: list[Any], negate: bool) -> Frag:
        path, op, value = leaf
        if not isinstance(path, str):
            constant = path == 1
            return TRUE if constant != negate else FALSE
        names = path.split(".")
        fld = get_field(spec, names[0])
        if fld is None:
            raise self.invalid_field(spec, names[0], leaf)
        related = None if fld.has_column else fld.attrs.get("related")
        if isinstance(related, str) and related:
            return self.related_leaf(
                spec, alias, [*related.split("."), *names[1:]], op, value, negate
            )
        if op == "=?":
            if _unset(value, self.semantics.version):
                return FALSE if negate else TRUE
            op = "in" if _is_list(value) else "="
        if op in ("=", "!=") and _is_list(value):
            op = "in" if op == "=" else "not in"
        elif op in ("in", "not in") and isinstance(value, bool):
            op = "=" if op == "in" else "!="
        elif op in ("in", "not in") and not _is_list(value):
            value = [value]
        if len(names) == 1 and self.ignored(fld):
            # Odoo replaces a condition it cannot search by TRUE (and logs it).
            return FALSE if negate else TRUE
        if op in _NEGATIVE:
            op, negate = _NEGATIVE[op], not negate
        if negate and op in _FLIP:
            op, negate = _FLIP[op], False
        if len(names) > 1:
            return self.path_leaf(spec, alias, fld, names[1:], op, value, negate, leaf)
        frag = self.positive(spec, alias, fld, op, value, leaf)
        return _negate(frag) if negate else frag

    def related_leaf(
        self,
        spec: ModelSpec,
        alias: str,
        path: list[str],
        op: str,
        value: Any,
        negate: bool,
    ) -> Frag:
        """A condition on an unstored related field, searched through its path as Odoo does.

        ``('move_type', op, v)`` on account.move.line is ``('move_id.move_type', op, v)``. A
        negative operator on a value is the negation of the positive search (Odoo answers
        NotImplemented there and negates), and when the first hop is an optional many2one a
        condition that accepts an empty value also matches records where that hop is empty.
        """
        if op in _NEGATIVE:
            op, negate = _NEGATIVE[op], not negate
        target = ".".join(path)
        frag = self.leaf(spec, alias, [target, op, value], False)
        first = get_field(spec, path[0])
        values = list(value) if _is_list(value) else [value]
        empty = any(_falsy_null(v) or v == "" for v in values)
        if (
            empty
            and first is not None
            and first.type == "many2one"
            and not first.attrs.get("required")
            and len(path) > 1
        ):
            frag = _join("OR", [frag, Frag(f"{alias}.{quote(first.name)} IS NULL")])
        return _negate(frag) if negate else frag

    @staticmethod
    def ignored(fld: FieldSpec) -> bool:
        if fld.has_column or fld.name == "display_name" or fld.type == "binary":
            return False
        return not fld.attrs.get("searchable", True) or fld.type in UNSTORED_TYPES

    def invalid_field(self, spec: ModelSpec, name: str, leaf: list[Any]) -> OdooServerError:
        word = "condition" if self.v19 else "leaf"
        return value_error(f"Invalid field {spec.name}.{name} in {word} {_condition_text(*leaf)}")

    def positive(
        self, spec: ModelSpec, alias: str, fld: FieldSpec, op: str, value: Any, leaf: list[Any]
    ) -> Frag:
        """A positive condition (no ``not``/``!=``) on one field of ``spec``."""
        if op in ("child_of", "parent_of"):
            return self.hierarchy(spec, alias, fld, op, value, leaf)
        if fld.name == "display_name" and not fld.has_column:
            return self.name_search(spec, alias, op, value)
        if not fld.has_column:
            # Binaries and computed fields the simulator does not store read as empty: they
            # are searched as empty too, so that search and read agree.
            expr = "NULL"
        elif fld.name == "id":
            return self.id_leaf(f"{alias}.{quote('id')}", op, value)
        else:
            expr = f"{alias}.{quote(fld.name)}"
        kind = fld.type
        if op == "any":
            return self.any_leaf(fld, expr, value, leaf)
        if kind == "many2one":
            return self.many2one(fld, expr, op, value)
        if kind in X2MANY_TYPES:
            return self.x2many(fld, expr, op, value)
        if op in _PATTERN_OPS:
            target = expr if kind in TEXT_TYPES or kind == "date" else f"CAST({expr} AS TEXT)"
            return _pattern_match(target, op, value)
        if kind in _NUMBER_TYPES:
            return self.number(fld, expr, op, value)
        if kind == "boolean":
            return self.boolean(expr, op, value)
        if kind == "date":
            return self.date_leaf(expr, op, value)
        if kind == "datetime":
            return self.datetime_leaf(expr, op, value)
        return self.text(expr, op, value)

    def id_leaf(self, expr: str, op: str, value: Any) -> Frag:
        """Conditions on ``id``, which is never NULL: kept plain so the primary key serves them."""
        if op == "in":
            return _in_list(
                expr, [_to_number(_ID_FIELD, v, 17) for v in value if not _falsy_null(v)]
            )
        if op in _PATTERN_OPS:
            return _pattern_match(f"CAST({expr} AS TEXT)", op, value)
        if _falsy_null(value):
            return FALSE
        return Frag(f"{expr} {op} ?", [_to_number(_ID_FIELD, value, 17)])

    def number(self, fld: FieldSpec, expr: str, op: str, value: Any) -> Frag:
        version = self.semantics.version
        if op == "in":
            numbers = [_to_number(fld, v, version) for v in value]
            present = [n for n in numbers if n is not None]
            frag = _in_list(expr, present)
            # Odoo 19: 0 means "unset" and NULL reads as 0; Odoo <= 18: only False is NULL.
            if None in numbers or (self.v19 and 0 in present):
                frag = _join("OR", [frag, Frag(f"{expr} IS NULL")])
            return frag
        number = _to_number(fld, value, version)
        if number is None:
            return Frag(f"{expr} IS NULL") if op == "=" else FALSE
        frag = Frag(f"{expr} {op} ?", [number])
        if self.v19 and _COMPARE[op](0, number):
            frag = Frag(f"({expr} {op} ? OR {expr} IS NULL)", [number])
        return frag

    def boolean(self, expr: str, op: str, value: Any) -> Frag:
        if op == "in":
            wanted = {bool(v) for v in value}
        elif op == "=":
            wanted = {bool(value)}
        else:
            return Frag(f"COALESCE({expr}, 0) {op} ?", [int(bool(value))])
        if wanted == {True, False}:
            return TRUE
        if wanted == {True}:
            return Frag(f"{expr} = 1")
        if wanted == {False}:
            return Frag(f"({expr} IS NULL OR {expr} = 0)")
        return FALSE

    def text(self, expr: str, op: str, value: Any) -> Frag:
        if op in ("=", "in"):
            values = list(value) if op == "in" else [value]
            null = any(_falsy_null(v) or (self.v19 and v == "") for v in values)
            present = [v if isinstance(v, str) else str(v) for v in values if not _falsy_null(v)]
            if self.v19 and null and "" not in present:
                present.append("")
            frag = _in_list(expr, present) if op == "in" else Frag(f"{expr} = ?", present[:1])
            if op == "=" and not present:
                frag = FALSE
            if null:
                frag = _join("OR", [frag, Frag(f"{expr} IS NULL")])
            return frag
        if _falsy_null(value):
            return FALSE
        return Frag(f"{expr} {op} ?", [value if isinstance(value, str) else str(value)])

    def date_value(self, value: Any) -> str:
        if isinstance(value, str) and not _ISO_START.match(value.strip()):
            # A relative date is evaluated in the user's time zone; its local day is meant.
            relative = _relative_date(value.strip(), self.now_local)
            day = relative.date() if isinstance(relative, datetime) else relative
            return day.isoformat()
        parsed, _ = _parse_temporal(value, now_local=self.now_local, reject_tz=False)
        day = parsed.date() if isinstance(parsed, datetime) else parsed
        return day.isoformat()

    def date_leaf(self, expr: str, op: str, value: Any) -> Frag:
        if op == "in":
            null = any(_falsy_null(v) for v in value)
            days = [self.date_value(v) for v in value if not _falsy_null(v)]
            frag = _in_list(expr, days)
            return _join("OR", [frag, Frag(f"{expr} IS NULL")]) if null else frag
        if _falsy_null(value):
            return Frag(f"{expr} IS NULL") if op == "=" else FALSE
        return Frag(f"{expr} {op} ?", [self.date_value(value)])

    def datetime_bounds(self, op: str, value: Any) -> Frag:
        """Odoo 19: compare a datetime column per whole second (see the module docstring)."""
        parsed, date_only = _parse_temporal(value, now_local=self.now_local, reject_tz=True)
        if date_only:
            day = parsed.date() if isinstance(parsed, datetime) else parsed
            start = local_midnight_utc(day, self.tz)
            after = local_midnight_utc(day + timedelta(days=1), self.tz)
        else:
            assert isinstance(parsed, datetime)
            start = parsed.replace(microsecond=0)
            after = start + _SECOND
        bounds = {
            "=": (start, start + _SECOND),
            "<": (None, start),
            ">=": (start, None),
            ">": (after, None),
            "<=": (None, after),
        }
        low, high = bounds[op]
        return self._range(low, high)

    def _range(self, low: datetime | None, high: datetime | None) -> Frag:
        sql: list[str] = []
        params: list[Any] = []
        if low is not None:
            sql.append("{0} >= ?")
            params.append(format_datetime(low))
        if high is not None:
            sql.append("{0} < ?")
            params.append(format_datetime(high))
        return Frag(" AND ".join(sql), params)

    def datetime_17(self, op: str, value: Any) -> str:
        """Odoo <= 18: a datetime value at full precision, as stored text."""
        if isinstance(value, str) and _DATE_ONLY.match(value.strip()):
            clock = "23:59:59" if op in (">", "<=") else "00:00:00"
            return f"{value.strip()} {clock}.000000"
        parsed, date_only = _parse_temporal(value, now_local=self.now_local, reject_tz=False)
        if date_only:
            return f"{parsed.isoformat()} 00:00:00.000000"
        assert isinstance(parsed, datetime)
        return format_datetime(parsed)

    def datetime_leaf(self, expr: str, op: str, value: Any) -> Frag:
        if op == "in":
            null = any(_falsy_null(v) for v in value)
            present = [v for v in value if not _falsy_null(v)]
            if self.v19:
                parts = [self.datetime_bounds("=", v) for v in present]
                frag = _join("OR", [Frag(p.sql.format(expr), p.params) for p in parts])
            else:
                frag = _in_list(expr, [self.datetime_17("=", v) for v in present])
            return _join("OR", [frag, Frag(f"{expr} IS NULL")]) if null else frag
        if _falsy_null(value):
            return Frag(f"{expr} IS NULL") if op == "=" else FALSE
        if self.v19:
            frag = self.datetime_bounds(op, value)
            return Frag(frag.sql.format(expr), frag.params)
        return Frag(f"{expr} {op} ?", [self.datetime_17(op, value)])

    # -- relational -----------------------------------------------------------------------

    def comodel(self, fld: FieldSpec) -> ModelSpec | None:
        return self.registry.get(fld.relation or "")

    def name_condition(self, expr: str, op: str, value: Any) -> Frag:
        """A condition on a display-name text column."""
        if op in _PATTERN_OPS:
            return _pattern_match(expr, op, value)
        return self.text(expr, op, value)

    def name_search(self, spec: ModelSpec, alias: str, op: str, value: Any) -> Frag:
        """A condition on the display name of the ``spec`` record seen through ``alias``."""
        parts = []
        for name in spec.rec_name_fields:
            fld = get_field(spec, name)
            if fld is not None and fld.has_column:
                parts.append(self.positive(spec, alias, fld, op, value, [name, op, value]))
        if parts:
            return _join("OR", parts)
        sub = self.alias()
        inner = self.name_condition(f"{sub}.name", op, value)
        return Frag(
            f"{alias}.id IN (SELECT {sub}.id FROM {NAMES_TABLE} AS {sub} "
            f"WHERE {sub}.model = ? AND ({inner.sql}))",
            [spec.name, *inner.params],
        )

    def ids_matching_name(self, fld: FieldSpec, op: str, value: Any) -> Frag:
        """A sub-select of the comodel ids whose display name satisfies ``op value``."""
        sub = self.alias()
        co = self.comodel(fld)
        if co is not None:
            cond = self.name_search(co, sub, op, value)
            return Frag(
                f"SELECT {sub}.id FROM {quote(co.table)} AS {sub} WHERE {cond.sql}", cond.params
            )
        inner = self.name_condition(f"{sub}.name", op, value)
        return Frag(
            f"SELECT {sub}.id FROM {NAMES_TABLE} AS {sub} WHERE {sub}.model = ? AND ({inner.sql})",
            [fld.relation, *inner.params],
        )

    def many2one(self, fld: FieldSpec, expr: str, op: str, value: Any) -> Frag:
        if op in ("=", "in"):
            values = list(value) if op == "in" else [value]
            ids = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
            names = [v for v in values if isinstance(v, str) and v != ""]
            parts = []
            if ids:
                parts.append(_in_list(expr, ids))
            if names:
                sub = self.ids_matching_name(fld, "in", names)
                parts.append(Frag(f"{expr} IN ({sub.sql})", sub.params))
            if any(_falsy_null(v) or v == "" for v in values):
                parts.append(Frag(f"{expr} IS NULL"))
            return _join("OR", parts)
        if op in _PATTERN_OPS or isinstance(value, str):
            if op in ("like", "ilike") and (_falsy_null(value) or value == ""):
                return TRUE
            sub = self.ids_matching_name(fld, op, value)
            return Frag(f"{expr} IN ({sub.sql})", sub.params)
        if _falsy_null(value):
            return FALSE
        return Frag(f"{expr} {op} ?", [_to_number(_ID_FIELD, value, 17)])

    def x2many(self, fld: FieldSpec, expr: str, op: str, value: Any) -> Frag:
        item = self.alias()

        def member(cond: Frag) -> Frag:
            return Frag(
                f"EXISTS (SELECT 1 FROM json_each({expr}) AS {item} WHERE {cond.sql})",
                cond.params,
            )

        if op in ("=", "in"):
            values = list(value) if op == "in" else [value]
            ids = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
            names = [v for v in values if isinstance(v, str)]
            parts = []
            if ids:
                parts.append(member(_in_list(f"{item}.value", ids)))
            if names:
                sub = self.ids_matching_name(fld, "in", names)
                parts.append(member(Frag(f"{item}.value IN ({sub.sql})", sub.params)))
            if any(_falsy_null(v) for v in values):
                parts.append(Frag(f"COALESCE(json_array_length({expr}), 0) = 0"))
            return _join("OR", parts)
        if op in ("like", "ilike") and (_falsy_null(value) or value == ""):
            return TRUE
        if _falsy_null(value):
            return FALSE
        if op in _PATTERN_OPS or isinstance(value, str):
            sub = self.ids_matching_name(fld, op, value)
            return member(Frag(f"{item}.value IN ({sub.sql})", sub.params))
        return member(Frag(f"{item}.value {op} ?", [_to_number(_ID_FIELD, value, 17)]))

    def subdomain(self, co: ModelSpec, value: Any, *, active: bool) -> Frag:
        """``SELECT id`` of the comodel records matching a domain (for ``any`` and paths)."""
        sub = self.alias()
        normalized = normalize_domain(value, version=self.semantics.version)
        cond = self.domain(co, sub, normalized, False)
        if active and co.has_active and self.active_test:
            cond = _join("AND", [cond, Frag(f"{sub}.{quote('active')} = 1")])
        return Frag(
            f"SELECT {sub}.id FROM {quote(co.table)} AS {sub} WHERE {cond.sql}", cond.params
        )

    def any_leaf(self, fld: FieldSpec, expr: str, value: Any, leaf: list[Any]) -> Frag:
        if fld.type not in X2MANY_TYPES | {"many2one"}:
            # Odoo shows the subdomain as it parsed it: conditions as tuples, [] as TRUE.
            parsed = normalize_domain(value, version=self.semantics.version) or [[1, "=", 1]]
            shown = [tuple(t) if isinstance(t, list) else t for t in parsed]
            raise value_error(
                "Cannot use 'any' with non-relational fields in condition "
                + _condition_text(leaf[0], leaf[1], shown)
            )
        co = self.comodel(fld)
        if co is None:
            raise value_error(
                f"The simulator cannot search {fld.relation or fld.type} records of field "
                f"{fld.name!r} with 'any'"
            )
        if fld.type == "many2one":
            sub = self.subdomain(co, value, active=False)
            return Frag(f"{expr} IN ({sub.sql})", sub.params)
        sub = self.subdomain(co, value, active=True)
        item = self.alias()
        return Frag(
            f"EXISTS (SELECT 1 FROM json_each({expr}) AS {item} WHERE {item}.value IN ({sub.sql}))",
            sub.params,
        )

    def path_leaf(
        self,
        spec: ModelSpec,
        alias: str,
        fld: FieldSpec,
        rest: list[str],
        op: str,
        value: Any,
        negate: bool,
        leaf: list[Any],
    ) -> Frag:
        """``a.b.c op value``: the remaining path is searched on the comodel (as ``any``)."""
        if fld.type not in X2MANY_TYPES | {"many2one"}:
            if self.v19:
                # Odoo 19 reads ``field.name`` on a plain field as a property (``date.year``).
                raise value_error(f"Invalid field property {rest[0]!r} on {spec.name}.{fld.name}")
            raise self.invalid_field(spec, ".".join([fld.name, *rest]), leaf)
        expr = f"{alias}.{quote(fld.name)}" if fld.has_column else "NULL"
        co = self.comodel(fld)
        sub_leaf = [".".join(rest), op, value]
        if co is None:
            sub = self.alias()
            if rest == ["id"]:
                inner = self.id_leaf(f"{sub}.id", op, value)
            elif rest in (["display_name"], ["name"]):
                inner = self.name_condition(f"{sub}.name", op, value)
            else:
                raise value_error(
                    f"The simulator stores no {fld.relation} records: cannot search "
                    f"{'.'.join([fld.name, *rest])}"
                )
            if negate:
                inner = _negate(inner)
            select = Frag(
                f"SELECT {sub}.id FROM {NAMES_TABLE} AS {sub} "
                f"WHERE {sub}.model = ? AND ({inner.sql})",
                [fld.relation, *inner.params],
            )
        else:
            sub = self.alias()
            cond = self.leaf(co, sub, sub_leaf, negate)
            if fld.type in X2MANY_TYPES and co.has_active and self.active_test:
                cond = _join("AND", [cond, Frag(f"{sub}.{quote('active')} = 1")])
            select = Frag(
                f"SELECT {sub}.id FROM {quote(co.table)} AS {sub} WHERE {cond.sql}", cond.params
            )
        if fld.type == "many2one":
            return Frag(f"{expr} IN ({select.sql})", select.params)
        item = self.alias()
        return Frag(
            f"EXISTS (SELECT 1 FROM json_each({expr}) AS {item} "
            f"WHERE {item}.value IN ({select.sql}))",
            select.params,
        )

    def hierarchy(
        self, spec: ModelSpec, alias: str, fld: FieldSpec, op: str, value: Any, leaf: list[Any]
    ) -> Frag:
        """``child_of`` / ``parent_of`` over the ``parent_id`` of a stored model."""
        target = spec if fld.name == "id" else self.comodel(fld)
        parent = get_field(target, "parent_id") if target is not None else None
        if (
            target is None
            or parent is None
            or parent.relation != target.name
            or (fld.name != "id" and fld.type != "many2one")
        ):
            raise value_error(f"Invalid hierarchy condition {_condition_text(*leaf)}")
        table = quote(target.table)
        values = list(value) if _is_list(value) else [value]
        ids = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
        names = [v for v in values if isinstance(v, str)]
        starts: list[Frag] = []
        if ids:
            starts.append(_in_list("id", ids))
        if names:
            sub = self.alias()
            cond = self.name_search(target, sub, "in", names)
            starts.append(
                Frag(f"id IN (SELECT {sub}.id FROM {table} AS {sub} WHERE {cond.sql})", cond.params)
            )
        if not starts:
            return FALSE
        seed = _join("OR", starts)
        cte = self.alias()
        step = self.alias()
        if op == "child_of":
            walk = (
                f"SELECT {step}.id FROM {table} AS {step} JOIN {cte} ON {step}.parent_id = {cte}.id"
            )
        else:
            walk = (
                f"SELECT {step}.parent_id FROM {table} AS {step} "
                f"JOIN {cte} ON {step}.id = {cte}.id WHERE {step}.parent_id IS NOT NULL"
            )
        column = f"{alias}.{quote(fld.name)}"
        return Frag(
            f"{column} IN (WITH RECURSIVE {cte}(id) AS (SELECT id FROM {table} WHERE {seed.sql} "
            f"UNION {walk}) SELECT id FROM {cte})",
            seed.params,
        )


def _mentions_active(normalized: list[Any]) -> bool:
    return any(
        isinstance(leaf[0], str) and leaf[0] == "active" for leaf in domain_leaves(normalized)
    )


def compile_where(
    registry: Mapping[str, ModelSpec],
    model: str,
    domain: object,
    *,
    context: Mapping[str, Any],
    semantics: Semantics,
    now: datetime | None = None,
) -> tuple[str, list[Any]]:
    """Compile ``domain`` on ``model`` to a SQL condition over ``FROM <table> AS t``.

    The implicit active filter is included. ``now`` (naive UTC) anchors relative dates
    such as ``'today'``; it defaults to the current time.
    """
    spec = model_spec(registry, model)
    normalized = normalize_domain(domain, version=semantics.version)
    compiler = _Compiler(
        registry=registry,
        semantics=semantics,
        context=context,
        now=now if now is not None else datetime.now(UTC).replace(tzinfo=None),
    )
    frag = compiler.domain(spec, "t", normalized, False)
    if spec.has_active and compiler.active_test and not _mentions_active(normalized):
        frag = _join("AND", [Frag(f"t.{quote('active')} = 1"), frag])
    return frag.sql, frag.params


# --------------------------------------------------------------------------------------------
# Order


def _invalid_order(order: str) -> OdooServerError:
    return user_error(
        f'Invalid "order" specified ({order}). A valid "order" specification is a '
        "comma-separated list of valid field names (optionally followed by asc/desc for the "
        "direction)"
    )


def parse_order(order: str) -> list[tuple[str, bool, str | None]]:
    """Split an order string into (field, descending, nulls) terms, or raise UserError."""
    terms = []
    for part in order.split(","):
        match = _ORDER_TERM.match(part)
        if match is None:
            raise _invalid_order(order)
        nulls = match["nulls"].lower() if match["nulls"] else None
        terms.append((match["field"], (match["dir"] or "asc").lower() == "desc", nulls))
    return terms


def _order_items(
    registry: Mapping[str, ModelSpec],
    spec: ModelSpec,
    order: str,
    expr_of: Callable[[str], str],
    reverse: bool,
    nulls_override: str | None,
    depth: int,
) -> list[tuple[str, bool, str | None]]:
    """(expression, descending, NULLs placement or None for the bare primary key) per term."""
    items: list[tuple[str, bool, str | None]] = []
    for name, desc, nulls in parse_order(order):
        fld = get_field(spec, name)
        if fld is None:
            raise value_error(f"Invalid field {name!r} on model {spec.name!r}")
        if not fld.has_column or fld.type in X2MANY_TYPES:
            raise value_error(f"Cannot convert {spec.name}.{name} to SQL because it is not stored")
        desc = desc != reverse
        nulls = nulls_override or nulls
        if fld.type == "many2one" and depth < _MAX_ORDER_DEPTH:
            items.extend(_many2one_items(registry, fld, expr_of(name), desc, nulls, depth))
        elif name == "id" and nulls is None and depth == 0:
            # The primary key is never NULL; a bare term lets SQLite walk the key in order.
            items.append((expr_of(name), desc, None))
        else:
            items.append((expr_of(name), desc, nulls or ("first" if desc else "last")))
    return items


def _many2one_items(
    registry: Mapping[str, ModelSpec],
    fld: FieldSpec,
    fk: str,
    desc: bool,
    nulls: str | None,
    depth: int,
) -> list[tuple[str, bool, str | None]]:
    """Order by a many2one: the comodel's ``_order``, each term turned by this direction."""
    co = registry.get(fld.relation or "")
    if co is None:
        relation = _sql_text(fld.relation or "")
        name = f"(SELECT o.name FROM {NAMES_TABLE} AS o WHERE o.model = {relation} AND o.id = {fk})"
        return [(name, desc, nulls or ("first" if desc else "last"))]
    alias = f"o{depth + 1}"
    table = quote(co.table)

    def expr_of(name: str) -> str:
        if name == "id":
            return fk
        return f"(SELECT {alias}.{quote(name)} FROM {table} AS {alias} WHERE {alias}.id = {fk})"

    return _order_items(registry, co, co.order or "id", expr_of, desc, nulls, depth + 1)


def compile_order(
    registry: Mapping[str, ModelSpec],
    model: str,
    order: str | None,
    *,
    semantics: Semantics,
    tiebreak: str | None = None,
) -> str:
    """The ``ORDER BY`` body for ``order`` on ``model`` (its ``_order`` when empty).

    ``tiebreak`` is an SQL expression appended when the order can tie, i.e. when no term sorts
    by the model's own ``id``: rows equal on every term come back in the order it gives them,
    as PostgreSQL hands tied rows over in whatever order its plan yields.
    """
    del semantics  # NULLS FIRST/LAST exist in every version the simulator imitates
    spec = model_spec(registry, model)
    if order and not isinstance(order, str):
        # Odoo matches the order against a regular expression, which wants a string.
        raise OdooServerError(
            "builtins.TypeError",
            f"expected string or bytes-like object, got {type(order).__name__!r}",
        )
    text = order if order and order.strip() else spec.order or "id"
    own_id = f"t.{quote('id')}"
    items = _order_items(registry, spec, text, lambda name: f"t.{quote(name)}", False, None, 0)
    body = ", ".join(
        f"{expr} {'DESC' if desc else 'ASC'}" + (f" NULLS {nulls.upper()}" if nulls else "")
        for expr, desc, nulls in items
    )
    if tiebreak and not any(expr == own_id for expr, _, _ in items):
        body += f", {tiebreak}"
    return body
