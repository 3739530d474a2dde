"""Characters XML 1.0 cannot carry.

Uploader-controlled strings (links, file names, captions) end up in the
CyberTipline report; one control character such as ``\\x0b`` would make the
document unparseable, so an uploader could block their own report. Such
characters are replaced at intake and again when a report is built."""

from __future__ import annotations

import re
from typing import Any

# Everything outside XML 1.0's Char production (control characters other
# than tab, newline and carriage return; lone surrogates; U+FFFE, U+FFFF).
_INVALID = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
REPLACEMENT = "\ufffd"


def xml_text(s: str) -> str:
    return _INVALID.sub(REPLACEMENT, s)


def xml_clean(value: Any) -> Any:
    """``value`` with every string in it (keys included) made XML-safe."""
    if isinstance(value, str):
        return xml_text(value)
    if isinstance(value, dict):
        return {xml_clean(k) if isinstance(k, str) else k: xml_clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [xml_clean(v) for v in value]
    return value
