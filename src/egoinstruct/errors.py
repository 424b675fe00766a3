"""Errors that speak to the user.

Every problem with user-provided input (sample sheet, config, annotations, media files) is raised
as :class:`InputError` whose message names the file, the row or field, what was expected and how to
fix it. Rule scripts let it propagate, so Snakemake's log shows exactly that message.
"""


class InputError(ValueError):
    """Bad input: the message names the file, the row or field, and the fix."""


class MissingModelError(RuntimeError):
    """A configured model is not available offline; the message says how to provide it."""
