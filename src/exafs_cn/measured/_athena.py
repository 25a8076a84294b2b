"""Athena project files read as data: nothing in a project is ever evaluated.

Athena (Demeter) writes its projects as Perl source: ``$old_group = 'name';``,
``@args = ('key', 'value', ...);``, ``@x = ('8000.0', ...);`` and ``[record]`` between
groups, gzipped or not; Larch writes the same or a JSON layout. Larch's own reader runs
the Perl lines through an expression interpreter that has numpy in its symbol table, so a
crafted line (``$old_group = float64(1).tofile(...)``) writes files and ``open(...)``
reads them. Projects are what people mail each other; here every line is tokenised as
the data it is meant to hold (quoted strings, numbers, lists of them) and anything else
is refused, for that group alone.

A group that cannot be read (no ``@x``/``@y``, a value that is no number, chi(k) data)
is returned with its error, and the other groups are read: one bad group never costs a
project.

Examples
--------
>>> text = '''# Athena project file -- Demeter version 0.9.26
... $old_group = 'abcde';
... @args = ('label', 'Cu foil', 'bkg_z', 'Cu');
... @x = ('8970.0', '8980.0', '8990.0');
... @y = ('0.1', '0.5', '1.0');
... [record]
... 1;
... '''
>>> (group,) = parse_project(text)
>>> group.label, group.element, group.energy.tolist()
('Cu foil', 'Cu', [8970.0, 8980.0, 8990.0])
>>> print(parse_project(text.replace("'Cu foil'", "open('/etc/hostname').read()"))[0].error)
@args: "open('/etc/hostname').read()," is not data (a quoted text, a number or a list); nothing in a project is evaluated
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import numpy as np

from exafs_cn.exceptions import ProjectDataError

#: The line that makes a file an Athena project (Larch's own test, within the first 500 characters).
PROJECT_MARK = "Athena project file -- "
#: Group arguments that say the group holds something other than mu(E) (Larch reads these as not-mu too).
_NOT_MU = {"is_chi": "chi(k)", "is_rsp": "chi(R)"}
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<single>'(?:[^'\\]|\\.)*')
      | (?P<double>"(?:[^"\\]|\\.)*")
      | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
      | (?P<separator>,|=>)
      | (?P<undef>undef)
    )""",
    re.VERBOSE | re.DOTALL,
)
_PERL_HEX = re.compile(r"\\x\{([0-9a-fA-F]{1,6})\}")
_ASSIGNMENT = re.compile(r"^\s*([$@%])(\w+)\s*=\s*(.*?)\s*;?\s*$", re.DOTALL)


@dataclass(frozen=True)
class AthenaGroup:
    """One group of a project: its label, energy and mu, the element it names, or its error."""

    label: str
    energy: np.ndarray | None = None
    mu: np.ndarray | None = None
    element: str | None = None
    error: str | None = None


def is_project(head: str) -> bool:
    """Whether the text starts like an Athena project (Perl or JSON layout)."""
    return PROJECT_MARK in head[:500] or head.lstrip().startswith("# Athena project file")


def parse_project(text: str) -> list[AthenaGroup]:
    """The groups of a project's text, Perl or JSON layout; ProjectDataError if it has no group structure."""
    if "____header" in text[:500] and text.lstrip().startswith("{"):
        return _parse_json(text)
    return _parse_perl(text)


def _parse_perl(text: str) -> list[AthenaGroup]:
    groups: list[AthenaGroup] = []
    record: dict[str, str] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("[record]"):
            groups.append(_perl_group(record, len(groups)))
            record = {}
            continue
        match = _ASSIGNMENT.match(stripped)
        if match and match.group(2) in ("old_group", "args", "x", "y"):
            record[match.group(2)] = match.group(3)
    return groups


def _perl_group(record: dict[str, str], index: int) -> AthenaGroup:
    fallback = f"group {index + 1}"
    try:
        old = _values(record["old_group"], "$old_group") if "old_group" in record else []
        name = str(old[0]) if old else fallback
    except ProjectDataError as exc:
        return AthenaGroup(fallback, error=str(exc))
    try:
        pairs = _values(record.get("args", "()"), "@args")
        args = {str(k): v for k, v in zip(pairs[0::2], pairs[1::2])}
    except ProjectDataError as exc:
        return AthenaGroup(name, error=str(exc))
    label = str(args.get("label") or name)
    return _group(label, args, record.get("x"), record.get("y"), _values)


def _parse_json(text: str) -> list[AthenaGroup]:
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ProjectDataError(f"unreadable JSON project ({type(exc).__name__})") from None
    if not isinstance(document, dict):
        raise ProjectDataError("a JSON project that is not a mapping of groups")
    order = next((v for k, v in document.items() if str(k).startswith("_____order")), None)
    if not isinstance(order, list):
        raise ProjectDataError("a JSON project without its list of groups (_____order)")
    groups = []
    for index, name in enumerate(order):
        entry = document.get(name) if isinstance(name, str) else None
        label = str(name) if isinstance(name, str) else f"group {index + 1}"
        if not isinstance(entry, dict):
            groups.append(AthenaGroup(label, error="listed in the project's order but not in it"))
            continue
        args = entry.get("args") if isinstance(entry.get("args"), dict) else {}
        label = str(args.get("label") or label)
        groups.append(_group(label, args, entry.get("x"), entry.get("y"), lambda value, key: value))
    return groups


def _group(label: str, args: dict, x, y, parse) -> AthenaGroup:
    """A group from its arguments and its x and y (Perl source text, or JSON lists)."""
    for flag, what in _NOT_MU.items():
        if _truthy(args.get(flag)):
            return AthenaGroup(label, error=f"holds {what} data, not mu(E) ({flag} is set)")
    if x is None or y is None:
        return AthenaGroup(label, error=f"no mu(E) in this group (no {'@x' if x is None else '@y'})")
    try:
        energy, mu = _numbers(parse(x, "@x"), "@x"), _numbers(parse(y, "@y"), "@y")
    except ProjectDataError as exc:
        return AthenaGroup(label, error=str(exc))
    element = args.get("atsym") or args.get("bkg_z")
    return AthenaGroup(label, energy, mu, str(element) if element not in (None, "") else None)


def _truthy(value) -> bool:
    try:
        return bool(int(float(value)))
    except (TypeError, ValueError):
        return False


def _numbers(values, key: str) -> np.ndarray:
    if not isinstance(values, list):
        raise ProjectDataError(f"{key} is not a list of numbers")
    try:
        return np.array([float(value) for value in values], dtype=float)
    except (TypeError, ValueError):
        bad = next(v for v in values if not _is_number(v))
        raise ProjectDataError(f"{key} holds {str(bad)[:30]!r}, not a number") from None


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


#: Deepest nesting of Perl array references read (Demeter's arguments nest one level).
MAX_NESTING = 8


def _values(source: str, key: str) -> list:
    """A Perl scalar or list of quoted strings, numbers and array references (``[...]``), as
    Python values; anything else is refused, naming what it met."""
    text = source.strip()
    if text.startswith("(") and text.endswith(")"):
        text = text[1:-1]
    values, position = _list(text, 0, key, 0, closing=None)
    return values


def _list(text: str, position: int, key: str, depth: int, closing: str | None) -> tuple[list, int]:
    """The values from ``position`` to ``closing`` (or the end), and the position after it."""
    if depth > MAX_NESTING:
        raise ProjectDataError(f"{key}: lists nested deeper than {MAX_NESTING}; nothing in a project is evaluated")
    values: list = []
    expect_value = True
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            if closing:
                raise ProjectDataError(f"{key}: a list without its closing {closing!r}")
            return values, position
        if closing and text[position] == closing:
            return values, position + 1
        if text[position] == "[":
            if not expect_value:
                raise ProjectDataError(f"{key}: two values without a comma between them; nothing in a project is evaluated")
            inner, position = _list(text, position + 1, key, depth + 1, closing="]")
            values.append(inner)
            expect_value = False
            continue
        match = _TOKEN.match(text, position)
        if match is None:
            raise ProjectDataError(
                f"{key}: {text[position:position + 30].strip()!r} is not data (a quoted text, a number or a list); "
                "nothing in a project is evaluated"
            )
        position = match.end()
        kind = match.lastgroup
        if kind == "separator":
            expect_value = True
            continue
        if not expect_value:
            raise ProjectDataError(f"{key}: two values without a comma between them; nothing in a project is evaluated")
        expect_value = False
        token = match.group(kind)
        if kind == "single":
            values.append(re.sub(r"\\([\\'])", r"\1", token[1:-1]))
        elif kind == "double":
            values.append(_PERL_HEX.sub(lambda m: chr(int(m.group(1), 16)), token[1:-1]).replace('\\"', '"'))
        elif kind == "number":
            values.append(token)
        else:
            values.append(None)


__all__ = ["AthenaGroup", "PROJECT_MARK", "ProjectDataError", "is_project", "parse_project"]
