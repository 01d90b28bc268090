"""What every config model shares: objects that refuse unknown keys, and values echoed in
messages cut to a readable size. A module of its own so that the models of one concern
(``container.py``) and ``model.py`` both build on it."""

from __future__ import annotations

import reprlib
from typing import Any

from pydantic import BaseModel, ConfigDict

# What a value echoed in a message may take up: a long string, or a YAML alias expanded
# many times over, must not flood the terminal.
SHOWN_LIMIT = 200
_REPR = reprlib.Repr()  # keyword arguments need Python 3.12
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 3, SHOWN_LIMIT, 80
_REPR.maxtuple = _REPR.maxlist = _REPR.maxdict = _REPR.maxset = 8


def shown(value: Any) -> str:
    """``repr(value)`` cut to about ``SHOWN_LIMIT`` characters, without building the whole
    repr of a huge value first."""
    text = _REPR.repr(value)
    return text if len(text) <= SHOWN_LIMIT else f"{text[:SHOWN_LIMIT]}…"


class Strict(BaseModel):
    """Every config object rejects unknown keys: a misspelt key must never be ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)
