"""Camera clip names from a list, an upstream XCom, templated text or a file listing them."""

from __future__ import annotations

import ast
import re
from typing import Any

from lockit_provider.common.output import PathLike, read_text
from lockit_provider.exceptions import LockitConfigError

_SEPARATORS = re.compile(r"[\n,]")


def clip_names(clips: Any = None, clips_file: PathLike | None = None) -> list[str]:
    """Return the clip names given (without duplicates, in order).

    ``clips`` is a list of names, or text: a rendered list (``"['A001.R3D', ...]"``) or names separated
    by commas or new lines. ``clips_file`` lists one name per line; blank lines and ``#`` comments are
    skipped.
    """
    names = _names(clips) if clips is not None else []
    if clips_file:
        lines = (line.split("#", 1)[0] for line in read_text(clips_file).splitlines())
        names += [line for line in lines if line.strip()]
    unique = list(dict.fromkeys(name.strip() for name in names if name.strip()))
    if not unique:
        raise LockitConfigError("No clip names were given: set clips or clips_file.", field="clips")
    return unique


def _names(clips: Any) -> list[str]:
    if isinstance(clips, str):
        text = clips.strip()
        if text.startswith("["):
            try:
                clips = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                raise LockitConfigError(
                    f"clips looks like a list but cannot be read: {text[:80]!r}", field="clips"
                ) from None
        else:
            return _SEPARATORS.split(text)
    if isinstance(clips, (list, tuple)) and all(isinstance(name, str) for name in clips):
        return list(clips)
    raise LockitConfigError(
        f"clips must be a list of clip file names or text listing them, not {type(clips).__name__}.",
        field="clips",
    )
