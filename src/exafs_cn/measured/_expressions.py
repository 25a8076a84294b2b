"""``--energy``/``--mu`` expressions: arithmetic over a file's columns, and nothing else.

An expression is parsed with Python's own parser and every node is checked against a short
grammar before anything is evaluated: numbers, the file's column names, ``+ - * / ** %``,
unary signs, parentheses, and calls of the functions in :data:`FUNCTIONS` by name with
plain arguments. There are no attributes (so no ``.tofile``, ``.dump``, ``__class__``),
no subscripts, no strings, no keywords, no statements, no comprehensions or lambdas. Only
an expression that passes is evaluated, by asteval (Larch's evaluator) over a symbol table
that holds the columns and those functions alone: two locks, either of which is enough.

Examples
--------
>>> import numpy as np
>>> columns = {"i0": np.array([2.0, 4.0]), "it": np.array([1.0, 1.0])}
>>> evaluate("log(i0/it)", columns, "scan.dat")
array([0.69314718, 1.38629436])
>>> evaluate("i0.tofile('x')", columns, "scan.dat")
Traceback (most recent call last):
...
exafs_cn.exceptions.ExpressionError: scan.dat: --mu/--energy "i0.tofile('x')": attribute access (.tofile) is not allowed; an expression may use the columns, numbers, + - * / ** and log, ln, log10, exp, sqrt, abs, gradient
"""

from __future__ import annotations

import ast
import keyword
import re
from collections.abc import Mapping

import numpy as np

from exafs_cn.exceptions import ExpressionError

#: What an expression may call besides the file's columns.
FUNCTIONS = {
    "log": np.log,
    "ln": np.log,
    "log10": np.log10,
    "exp": np.exp,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "gradient": np.gradient,
}
#: Longest expression taken (a real one is a few dozen characters).
MAX_LENGTH = 500
#: How much of an expression a message quotes.
QUOTED = 60
_OPERATORS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.Mod, ast.UAdd, ast.USub)
_ALLOWED_HELP = f"an expression may use the columns, numbers, + - * / ** and {', '.join(FUNCTIONS)}"


def quoted(expr: str) -> str:
    """``expr`` as a message quotes it: cut to :data:`QUOTED` characters."""
    return repr(expr if len(expr) <= QUOTED else expr[: QUOTED - 3] + "...")


def check(expr: str, names: Mapping[str, object], where: str) -> ast.Expression:
    """The parsed expression if it keeps to the grammar; ExpressionError saying what it broke."""
    return _checked(expr, names, where)[0]


def _checked(expr: str, names: Mapping[str, object], where: str) -> tuple[ast.Expression, str, dict[str, str]]:
    """:func:`check`'s tree, with the text it parsed and the aliases of keyword-named columns in it."""
    if not isinstance(expr, str):
        raise ExpressionError(f"{where}: --mu/--energy must be text, not {type(expr).__name__}")
    prefix = f"{where}: --mu/--energy {quoted(expr)}"
    if len(expr) > MAX_LENGTH:
        raise ExpressionError(f"{prefix}: {len(expr):,} characters, more than the {MAX_LENGTH} an expression may have")
    text, aliases = _keyword_columns(expr, names)
    names = {**names, **dict.fromkeys(aliases)}
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        reason = exc.msg if isinstance(exc, SyntaxError) else type(exc).__name__
        raise ExpressionError(f"{prefix}: not an expression ({reason}); {_ALLOWED_HELP}") from None
    stack: list[ast.AST] = [tree.body]
    while stack:
        node = stack.pop()
        refused = _refusal(node, names)
        if refused:
            raise ExpressionError(f"{prefix}: {refused}; {_ALLOWED_HELP}")
        stack.extend(ast.iter_child_nodes(node))
    return tree, text, aliases


def _keyword_columns(expr: str, names: Mapping[str, object]) -> tuple[str, dict[str, str]]:
    """``expr`` lower-cased, with each column named by a Python keyword (``if``, a fluorescence
    channel's usual name; ``in``, ``is``) written as an alias Python's parser takes, and the
    aliases with the columns they stand for. Keywords are no operators here (the grammar has no
    ``and``, ``or``, ``not``), so a word that names a column is that column."""
    text, aliases = expr.strip().lower(), {}
    for name in names:
        if keyword.iskeyword(name):
            alias = name + "_"
            while alias in names:
                alias += "_"
            replaced = re.sub(rf"(?<![\w.]){re.escape(name)}(?!\w)", alias, text)
            if replaced != text:
                text, aliases[alias] = replaced, name
    return text, aliases


def _refusal(node: ast.AST, names: Mapping[str, object]) -> str | None:
    """Why ``node`` is outside the grammar, or None."""
    if isinstance(node, ast.Constant):
        ok = isinstance(node.value, (int, float)) and not isinstance(node.value, bool)
        return None if ok else f"the constant {node.value!r:.30} is not a number"
    if isinstance(node, ast.Name):
        if node.id in names or node.id in FUNCTIONS:
            return None
        return f"no column named {node.id!r}"
    if isinstance(node, (ast.BinOp, ast.UnaryOp)):
        return None
    if isinstance(node, _OPERATORS) or isinstance(node, ast.Load):
        return None
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Attribute):
            return f"attribute access (.{node.func.attr:.20}) is not allowed"
        if not (isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS):
            return f"only {', '.join(FUNCTIONS)} may be called"
        if node.keywords:
            return "keyword arguments are not allowed"
        if any(isinstance(arg, ast.Starred) for arg in node.args):
            return "starred arguments are not allowed"
        return None
    if isinstance(node, ast.Attribute):
        return f"attribute access (.{node.attr:.20}) is not allowed"
    if isinstance(node, ast.Subscript):
        return "indexing ([...]) is not allowed"
    return f"{type(node).__name__.lower()} is not allowed"


def evaluate(expr: str, arrays: Mapping[str, np.ndarray], where: str) -> np.ndarray:
    """A column name or an arithmetic expression over the file's columns, as float numbers.

    ``arrays`` maps lower-case column names to arrays. ExpressionError (naming ``where``,
    quoting the expression, giving the reason and the columns) for anything refused or
    that does not give real numbers.
    """
    from asteval import Interpreter

    columns = f"(columns: {', '.join(arrays)})"
    _, text, aliases = _checked(expr, arrays, where)
    interpreter = Interpreter(minimal=True, use_numpy=False)
    for name in [n for n in interpreter.symtable if not n.startswith("_")]:
        del interpreter.symtable[name]
    interpreter.symtable.update(FUNCTIONS)
    interpreter.symtable.update({k: np.asarray(v, float) for k, v in arrays.items() if not keyword.iskeyword(k)})
    interpreter.symtable.update({alias: np.asarray(arrays[name], float) for alias, name in aliases.items()})
    with np.errstate(all="ignore"):
        value = interpreter.eval(text, show_errors=False, raise_errors=False)
    prefix = f"{where}: --mu/--energy {quoted(expr)}"
    if interpreter.error:
        kind, detail = interpreter.error[0].get_error()
        lines = [line.strip() for line in str(detail).splitlines() if line.strip()]
        reason = lines[-1] if lines else str(kind) or "it cannot be evaluated"
        raise ExpressionError(f"{prefix}: {reason[:120]} {columns}")
    if np.iscomplexobj(value):
        raise ExpressionError(f"{prefix}: gives complex numbers {columns}")
    try:
        return np.asarray(value, float)
    except (TypeError, ValueError):
        raise ExpressionError(f"{prefix}: does not give numbers {columns}") from None


__all__ = ["FUNCTIONS", "ExpressionError", "check", "evaluate", "quoted"]
