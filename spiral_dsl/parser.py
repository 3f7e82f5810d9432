"""Text → AST: lark's LALR parser and one Transformer whose methods are named after the rules.

Lark's exceptions never leak: every parse failure is an :class:`SplSyntaxError` with file,
line, column and a caret excerpt. A statement whose arguments are all literals (and, for a
stroke, names its ``via``) becomes a core statement directly, so printing a core program and
parsing it back gives the same program.

Hostile text is bounded before it can cost much: the text's size (``LIMITS.source_bytes``),
the depth of nesting (``LIMITS.nesting``, measured on lark's tree without recursion, before
any recursive pass runs) and the number of core statements (``LIMITS.core_statements``, counted
while the fast path reads). Lines are counted at ``\n`` only, as lark counts them, and
whitespace is the grammar's (space, tab, form feed, carriage return) on both paths. Programs of
core statements one a line take the fast path (:mod:`spiral_dsl.fast_parse`); all others are
read by lark, at most ``LIMITS.sugar_source_bytes`` of them.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

from . import ast as A
from .errors import SplError, SplLimitError, SplRangeError, SplSyntaxError, source_line
from .fast_parse import fast_parse
from .limits import LIMITS
from .source import WS_CHARS as _WS_CHARS

__all__ = ["parse", "parse_with_lark", "grammar_text", "ParsedProgram"]

# Friendly names for terminals in "expected ..." messages.
_TERMINAL_NAMES = {
    "NAME": "a name", "NUMBER": "a number", "HEXCOLOR": "a colour like #1a2b3c",
    "ESCAPED_STRING": "a string", "DOMAIN": "'paint' or 'scene'",
    "LPAR": "'('", "RPAR": "')'", "COMMA": "','", "LBRACE": "'{'", "RBRACE": "'}'",
    "EQUAL": "'='", "COLON": "':'", "PLUS": "'+'", "MINUS": "'-'", "STAR": "'*'",
    "SLASH": "'/'", "$END": "end of file",
}


def grammar_text() -> str:
    """The grammar, from the installed package or, in a source checkout, from ``grammars/``."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "grammars" / "spl.lark", here.parent / "grammars" / "spl.lark"):
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    raise SplError("grammar file spl.lark not found; reinstall spiral-dsl")


class ParsedProgram(tuple):
    """``(header, body)`` as produced by :func:`parse`."""


def _span(filename: str, meta) -> A.Span:
    return A.Span(filename, meta.line, meta.column, meta.end_line, meta.end_column)


def _tok_span(filename: str, tok: Token) -> A.Span:
    return A.Span(filename, tok.line, tok.column, tok.end_line, tok.end_column)


@v_args(meta=True)
class _ToAst(Transformer):
    """lark tree → AST. Methods are named after the grammar rules they build."""

    def __init__(self, filename: str):
        super().__init__()
        self.filename = filename

    def _s(self, meta) -> A.Span:
        return _span(self.filename, meta)

    # -- program
    def start(self, meta, children):
        domain_tok, *items = children
        settings, body = [], []
        for item in items:
            if isinstance(item, tuple) and len(item) == 3 and item[0] == "setting":
                if body:
                    raise SplSyntaxError(
                        f"setting {item[1][0]!r} must come right after {domain_tok!s}, "
                        "before any statement").at(item[2])
                settings.append(item)
            else:
                body.append(item)
        seen = {}
        for _, (key, value), span in settings:
            if key in seen:
                raise SplSyntaxError(f"setting {key!r} given twice").at(span)
            seen[key] = value
        header_end = settings[-1][2] if settings else _tok_span(self.filename, domain_tok)
        head_span = A.Span(self.filename, domain_tok.line, domain_tok.column,
                           header_end.end_line, header_end.end_column)
        header = A.Header(str(domain_tok), tuple(sorted(seen.items())), head_span)
        # settings spans are kept for the checker's range errors
        return ParsedProgram((header, tuple(body), {k: s for _, (k, _v), s in settings}))

    def setting(self, meta, children):
        name, value = children
        return ("setting", (str(name), value), self._s(meta))

    def setting_number(self, meta, children):
        return _number_value(children[0])

    def setting_negative(self, meta, children):
        return -_number_value(children[0])

    def setting_string(self, meta, children):
        return _unescape(children[0], self.filename)

    def setting_color(self, meta, children):
        return A.Color.from_hex(str(children[0]))

    def setting_rgb(self, meta, children):
        return A.Color(*(_number_value(c) for c in children))

    # -- statements (a statement of literals is built as a core statement: see ast.fold)
    def move(self, meta, children):
        return A.fold(A.MoveStmt(children[0], self._s(meta)))

    def via(self, meta, children):
        return ("via", children[0])

    def stroke(self, meta, children):
        via = None
        if isinstance(children[0], tuple):
            via = children[0][1]
            children = children[1:]
        to, pressure, size, color = children
        return A.fold(A.StrokeStmt(to, via, pressure, size, color, self._s(meta)))

    def place(self, meta, children):
        shape, cell, size, color = children
        return A.fold(A.PlaceStmt(str(shape), cell, str(size), color, self._s(meta)))

    def let(self, meta, children):
        name, value = children
        return A.Let(str(name), value, self._s(meta))

    def param(self, meta, children):
        name, type_ = children
        return A.Param(str(name), str(type_), self._s(meta))

    def params(self, meta, children):
        return tuple(children)

    def block(self, meta, children):
        return tuple(children)

    def def_(self, meta, children):
        name, params, body = children
        return A.Def(str(name), params, body, self._s(meta))

    def call(self, meta, children):
        name, args = children
        return A.CallStmt(str(name), args, self._s(meta))

    def args(self, meta, children):
        return tuple(children)

    def repeat(self, meta, children):
        var, start, end, body = children
        return A.Repeat(str(var), start, end, body, self._s(meta))

    # -- expressions
    def number(self, meta, children):
        return A.Number(_number_value(children[0]), self._s(meta))

    def name(self, meta, children):
        return A.Name(str(children[0]), self._s(meta))

    def hex_color(self, meta, children):
        return A.ColorLit(A.Color.from_hex(str(children[0])), self._s(meta))

    def point(self, meta, children):
        x, y = children
        return A.PointExpr(x, y, self._s(meta))

    def rgb(self, meta, children):
        return A.fold_expr(A.RgbExpr(*children, self._s(meta)))

    def neg(self, meta, children):
        return A.fold_expr(A.Neg(children[0], self._s(meta)))

    def _binop(op):  # noqa: N805 - a method factory used at class creation
        def method(self, meta, children):
            left, right = children
            return A.BinOp(op, left, right, self._s(meta))
        method.__name__ = {"+": "add", "-": "sub", "*": "mul", "/": "div"}[op]
        return method

    add, sub, mul, div = _binop("+"), _binop("-"), _binop("*"), _binop("/")
    del _binop

    def lerp(self, meta, children):
        return A.CallExpr("lerp", children[0], self._s(meta))

    def mix(self, meta, children):
        return A.CallExpr("mix", children[0], self._s(meta))


# "def" is a Python keyword: lark looks the rule up by name, so alias the method.
setattr(_ToAst, "def", _ToAst.def_)


def _number_value(tok) -> float:
    value = float(str(tok))
    if value == float("inf"):  # more than 308 digits before the point
        raise SplRangeError(f"number {_token_text(tok)} is too large; numbers must be finite "
                            "(below 1.8e308)").at(A.Span("", tok.line, tok.column, tok.end_line,
                                                         tok.end_column))
    return value


def _unescape(tok: Token, filename: str) -> str:
    """The value of a string token: JSON's escapes (``\\"`` ``\\\\`` ``\\n`` ``\\u00e9`` ...),
    no raw control characters, no lone surrogates (the printer writes strings this way)."""
    try:
        value = json.loads(str(tok))
        value.encode("utf-8")
    except (ValueError, UnicodeEncodeError):
        raise SplSyntaxError(
            "invalid string: use JSON escapes (\\\" \\\\ \\n \\t \\uXXXX), no control "
            "characters and no lone surrogates").at(_tok_span(filename, tok)) from None
    return value


@functools.lru_cache(maxsize=1)
def _lark() -> Lark:
    return Lark(grammar_text(), parser="lalr", lexer="contextual", propagate_positions=True,
                maybe_placeholders=False)


def _describe_expected(expected) -> str:
    names = sorted({_TERMINAL_NAMES.get(t, None) or _keyword(t) for t in expected})
    if len(names) > 8:
        names = names[:8] + ["..."]
    return ", ".join(names)


def _keyword(terminal: str) -> str:
    # anonymous keyword terminals are named like "MOVE", "PRESSURE", "__ANON_0"
    return f"'{terminal.lower()}'" if terminal.isalpha() else terminal


def _check_size(text: str, filename: str) -> None:
    if not isinstance(text, str):
        raise SplSyntaxError(f"a program is text (str), not {type(text).__name__}",
                             filename=filename)
    if len(text) > LIMITS.source_bytes:
        raise SplLimitError(f"the program text has {len(text):,} characters, more than "
                            f"source_bytes={LIMITS.source_bytes:,} (a limit, see "
                            "docs/language.md#limits)", filename=filename)


def parse(text: str, filename: str = "<string>"):
    """Parse ``text`` into ``(header, body, setting_spans)``; raise :class:`SplSyntaxError`
    (or :class:`SplLimitError` past a limit), positioned in ``filename``."""
    _check_size(text, filename)
    fast = fast_parse(text, filename)
    if isinstance(fast, tuple):
        return fast
    _check_sugar_size(text, filename, fast)
    return parse_with_lark(text, filename)


def _check_sugar_size(text: str, filename: str, line: int = 1) -> None:
    """Bound what lark reads (about 10,000 statements a second): a text that is not only core
    statements one a line may have at most ``LIMITS.sugar_source_bytes`` characters."""
    if len(text) > LIMITS.sugar_source_bytes:
        raise SplLimitError(
            f"the program text has {len(text):,} characters and is not only core statements "
            "one a line (from this line on), more than "
            f"sugar_source_bytes={LIMITS.sugar_source_bytes:,} (a limit, see "
            "docs/language.md#limits): use core statements, one a line, for long programs", filename=filename, line=line,
            column=1, source_line=source_line(text, line))


def _end_position(text: str) -> tuple[int, int]:
    """Line and column just past the last character that is not whitespace (lines end at
    ``\n``): where an unexpected end of file is reported."""
    text = text.rstrip(_WS_CHARS + "\n")
    last = text.rfind("\n")
    return text.count("\n") + 1, len(text) - last


def _token_text(tok) -> str:
    text = str(tok)
    return repr(text) if len(text) <= 40 else repr(text[:30]) + f" (a {len(text):,}-character token)"


#: Rules that nest: each counts one level of ``LIMITS.nesting``.
_NESTING_RULES = frozenset({"add", "sub", "mul", "div", "neg", "point", "rgb", "lerp", "mix",
                            "repeat", "def"})


def _check_nesting(tree: Tree, filename: str, text: str) -> None:
    """Raise :class:`SplLimitError` at the first node nested deeper than ``LIMITS.nesting``
    (an explicit stack: this runs before any recursive pass over the tree)."""
    limit = LIMITS.nesting
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if node.data in _NESTING_RULES:
            depth += 1
            if depth > limit:
                meta = node.meta
                raise SplLimitError(
                    f"nesting deeper than nesting={limit} (a limit, see docs/language.md#limits)"
                    "; a long chain like a + b + c + ... nests one level per operator: "
                    "split it with let").at(
                    A.Span(filename, meta.line, meta.column, meta.end_line, meta.end_column), text)
        stack.extend((c, depth) for c in node.children if isinstance(c, Tree))


def parse_with_lark(text: str, filename: str = "<string>"):
    """:func:`parse` through lark alone (the definition of the syntax)."""
    _check_size(text, filename)
    _check_sugar_size(text, filename)

    def error(message: str, line: int, column: int) -> SplSyntaxError:
        return SplSyntaxError(message, filename=filename, line=line, column=column,
                              source_line=source_line(text, line))

    try:
        tree = _lark().parse(text)
    except UnexpectedCharacters as e:
        raise error(f"unexpected character {text[e.pos_in_stream]!r}", e.line, e.column) from None
    except UnexpectedEOF as e:
        raise error(f"unexpected end of file; expected {_describe_expected(e.expected)}",
                    *_end_position(text)) from None
    except UnexpectedToken as e:
        tok = e.token
        if tok.type == "$END":
            raise error(f"unexpected end of file; expected {_describe_expected(e.expected)}",
                        *_end_position(text)) from None
        raise error(f"unexpected {_token_text(tok)}; expected {_describe_expected(e.expected)}",
                    tok.line, tok.column) from None
    except UnexpectedInput as e:  # any other lark parse failure
        raise error(str(e).splitlines()[0], getattr(e, "line", 1), getattr(e, "column", 1)) from None
    _check_nesting(tree, filename, text)
    try:
        header, body, setting_spans = _ToAst(filename).transform(tree)
    except VisitError as e:
        inner = e.orig_exc
        if isinstance(inner, SplError):
            if not inner.filename and inner.line is not None:
                inner = type(inner)(inner.message, filename=filename, line=inner.line,
                                    column=inner.column)
            raise inner.with_source(text) from None
        raise
    return header, body, setting_spans
