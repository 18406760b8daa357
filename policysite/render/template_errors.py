"""A mistake in a theme's template, reported as a `Problem` with the template's file and line.

Jinja2 rewrites a rendering error's traceback so that each template frame carries the
template's file name and line (jinja2.debug.rewrite_traceback_stack). The innermost such frame
is where the editor must look: an undefined value (`{{ version.nope.deeper }}` under
StrictUndefined), an `{% include %}` or `{% extends %}` of a missing file, a syntax error in a
template loaded while rendering, or any other exception raised by an expression of the
template. An exception that no template frame passed through is a bug of ours and keeps
its traceback (docs/editing.md, "Theme mistakes").
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import jinja2

from policysite.errors import PolicyError, Problem

HINT = "fix the template in the theme and build again"


def _innermost_template_frame(tb: TracebackType | None, templates: Path) -> tuple[Path, int] | None:
    """The file and line of the innermost traceback frame that runs a file of `templates`."""
    root = templates.resolve()
    found = None
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        path = Path(name)
        if path.suffix and (root == path.resolve().parent or root in path.resolve().parents):
            found = (path, tb.tb_lineno)
        tb = tb.tb_next
    return found


def template_problem(error: Exception, templates: Path, page: str) -> Problem | None:
    """The problem `error`, raised while rendering `page` (its output file), is in a
    template of the folder `templates`; None when no template is to blame."""
    if isinstance(error, PolicyError):  # raised on purpose, e.g. by asset(): already told
        return None
    where = f" (while making {page})"
    if isinstance(error, jinja2.TemplateSyntaxError):
        path = Path(error.filename) if error.filename else templates / (error.name or "?")
        return Problem(path, f"{error.message or 'syntax error'}{where}", HINT, error.lineno)
    located = _innermost_template_frame(error.__traceback__, templates)
    if isinstance(error, jinja2.TemplateNotFound):
        missing = templates / error.name
        message = f"template {error.name!r} not found: {missing} does not exist{where}"
        hint = f"create {missing}, or correct the name in the {{% include %}} or {{% extends %}}"
        if located is None:
            return Problem(missing, message, hint)
        return Problem(located[0], message, hint, located[1])
    if located is None:
        return None
    if isinstance(error, jinja2.UndefinedError):
        message = f"undefined value: {error.message}{where}"
        hint = "correct the name: this page's template context has no such value"
        return Problem(located[0], message, hint, located[1])
    return Problem(located[0], f"{type(error).__name__}: {error}{where}", HINT, located[1])


def raise_template_problem(error: Exception, templates: Path, page: str) -> None:
    """Raise `error` as a PolicyError when a template is to blame; otherwise return."""
    problem = template_problem(error, templates, page)
    if problem is not None:
        raise PolicyError(problem) from error
