"""One error root for everything a user can get wrong.

Every error carries a position (``filename``, 1-based ``line`` and ``column``) and a
``message``; ``str(error)`` is ``file:line:col: message`` followed by the source line and a
caret, like a compiler. Errors that have no source position (a bad value passed from Python)
leave ``line`` as ``None`` and print only the message.
"""
from __future__ import annotations


class SplError(Exception):
    """Root of every spiral-dsl error."""

    def __init__(self, message: str, *, filename: str | None = None, line: int | None = None,
                 column: int | None = None, source_line: str | None = None):
        self.message = message
        self.filename = filename
        self.line = line
        self.column = column
        self.source_line = source_line
        super().__init__(self.__str__())

    def at(self, span, source: str | None = None) -> SplError:
        """Return this error positioned at ``span`` (a :class:`~spiral_dsl.ast.Span`)."""
        if span is None:
            return self
        line_text = None
        if source is not None:
            lines = source.splitlines()
            if 1 <= span.line <= len(lines):
                line_text = lines[span.line - 1]
        return type(self)(self.message, filename=span.filename, line=span.line,
                          column=span.column, source_line=line_text)

    def __str__(self) -> str:
        if self.line is None:
            return self.message
        head = f"{self.filename or '<string>'}:{self.line}:{self.column}: {self.message}"
        if self.source_line is None:
            return head
        caret = " " * (max(self.column, 1) - 1) + "^"
        return f"{head}\n{self.source_line}\n{caret}"

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
