"""One error root for everything a user can get wrong.

Every error carries a position (``filename``, 1-based ``line`` and ``column``) and a
``message``; ``str(error)`` is ``file:line:col: message`` followed by the source line and a
caret, like a compiler. Errors that have no source position (a bad value passed from Python)
leave ``line`` as ``None`` and print only the message.

Lines are counted at ``\n`` only (as the parser counts them; a ``\r`` before it is dropped
from the excerpt), and what an error prints is bounded: the message by
``LIMITS.error_message_chars``, the source excerpt by a window of
``LIMITS.error_excerpt_chars`` around the caret.
"""
from __future__ import annotations

from .limits import LIMITS


def source_line(text: str | None, line: int | None) -> str | None:
    """Line ``line`` (1-based, lines end at ``\n``) of ``text``, or ``None`` outside it."""
    if text is None or line is None or line < 1:
        return None
    start = 0
    for _ in range(line - 1):
        start = text.find("\n", start) + 1
        if start == 0:
            return None
    end = text.find("\n", start)
    out = text[start:] if end < 0 else text[start:end]
    return out[:-1] if out.endswith("\r") else out


def shorten(text: str, limit: int) -> str:
    """``text`` cut in the middle to at most ``limit`` characters."""
    if len(text) <= limit:
        return text
    keep = limit - 5
    return f"{text[:keep - keep // 3]} ... {text[len(text) - keep // 3:]}"


def _excerpt(src: str, column: int) -> tuple[str, int]:
    """A window of the source line around ``column`` and the caret's column within it."""
    width = LIMITS.error_excerpt_chars
    if len(src) <= width:
        return src, column
    start = max(0, min(column - 1 - width // 2, len(src) - width))
    window = src[start:start + width]
    caret = column - start
    if start > 0:
        window, caret = "..." + window, caret + 3
    if start + width < len(src):
        window += "..."
    return window, caret


class SplError(Exception):
    """Root of every spiral-dsl error."""

    def __init__(self, message: str, *, filename: str | None = None, line: int | None = None,
                 column: int | None = None, source_line: str | None = None):
        self.message = shorten(str(message), LIMITS.error_message_chars)
        self.filename = filename
        self.line = line
        self.column = column
        self.source_line = source_line
        super().__init__(self.__str__())

    def at(self, span, source: str | None = None) -> SplError:
        """Return this error positioned at ``span`` (a :class:`~spiral_dsl.ast.Span`)."""
        if span is None:
            return self
        return type(self)(self.message, filename=span.filename, line=span.line,
                          column=span.column, source_line=source_line(source, span.line))

    def with_source(self, source: str | None) -> SplError:
        """This error with its source line filled in from ``source`` (when it has a line)."""
        if self.line is None or self.source_line is not None or source is None:
            return self
        return type(self)(self.message, filename=self.filename, line=self.line,
                          column=self.column, source_line=source_line(source, self.line))

    def __str__(self) -> str:
        if self.line is None:
            return self.message
        head = f"{self.filename or '<string>'}:{self.line}:{self.column}: {self.message}"
        if self.source_line is None:
            return head
        src, column = _excerpt(self.source_line, max(self.column or 1, 1))
        caret = " " * (column - 1) + "^"
        return f"{head}\n{src}\n{caret}"

    def __reduce__(self):  # picklable across processes (Ray, multiprocessing)
        return (_rebuild, (type(self), self.message, self.filename, self.line, self.column,
                           self.source_line))


def _rebuild(cls, message, filename, line, column, source_line):
    return cls(message, filename=filename, line=line, column=column, source_line=source_line)


class SplSyntaxError(SplError):
    """The text is not a program: unexpected character or token."""


class SplTypeError(SplError):
    """A value of the wrong type, wrong arity, or a statement in the wrong domain."""


class SplNameError(SplError):
    """An undefined or duplicate name, or a recursive definition."""


class SplRangeError(SplError):
    """A value outside its valid range (the message names the value and the range)."""


class SplLimitError(SplError):
    """A program that exceeds a size limit (core statements, objects in a scene)."""


class SplBackendError(SplError):
    """An interpreter backend is missing or failed (the message says what to install)."""


class SplStateError(SplError):
    """An operation the object's state does not allow: a closed canvas, an episode that is
    over, a step before the first reset."""
