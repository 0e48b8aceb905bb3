"""Refusals as an operator reads them: one line per problem, no library internals.

pydantic's own text of a :class:`~pydantic.ValidationError` names its model, repeats the input
and ends every line with a link to its documentation; the CLI says which setting or option is
wrong and why, in the words of the rule that refused it.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError


def _value_error_text(message: str) -> str:
    # A model validator's ValueError reaches pydantic as "Value error, <our message>".
    return message.removeprefix("Value error, ")


def validation_lines(exc: ValidationError, *, env_prefix: str | None = None) -> list[str]:
    """One ``name: why`` line per error of ``exc``.

    ``env_prefix`` names a setting by its environment variable (``TRUYVET_INGEST_PORT``), as the
    operator wrote it.

    Example:
        >>> from pydantic import BaseModel
        >>> class Port(BaseModel):
        ...     ingest_port: int
        >>> try:
        ...     Port(ingest_port="eighty")
        ... except ValidationError as exc:
        ...     print(validation_lines(exc, env_prefix="TRUYVET_")[0])
        TRUYVET_INGEST_PORT: Input should be a valid integer, unable to parse string as an integer
    """
    lines = []
    for error in exc.errors(include_url=False):
        location = ".".join(str(part) for part in error.get("loc", ()))
        if env_prefix and location:
            location = env_prefix + location.upper()
        why = _value_error_text(str(error.get("msg", "invalid")))
        lines.append(f"{location}: {why}" if location else why)
    return lines


def refusal_text(body: Any, status: int) -> str:
    """A service's refusal (its problem body) as one or more lines for a person.

    Example:
        >>> refusal_text({"error": "forbidden", "detail": "this token may not report cases"}, 403)
        'refused (403 forbidden): this token may not report cases'
        >>> refusal_text({"error": "invalid", "detail": "the request does not match the schema",
        ...               "errors": [{"loc": ["body", "onset_at"], "msg": "bad date"}]}, 422)
        'refused (422 invalid): the request does not match the schema\\n  onset_at: bad date'
    """
    if not isinstance(body, dict):
        return f"refused ({status}): {str(body)[:300]}"
    head = f"refused ({status} {body.get('error', 'error')}): {body.get('detail', '')}".rstrip()
    lines = [head]
    for error in body.get("errors") or []:
        if isinstance(error, dict):
            location = [str(p) for p in error.get("loc", []) if p != "body"]
            lines.append(f"  {'.'.join(location)}: {error.get('msg', '')}")
    return "\n".join(lines)
