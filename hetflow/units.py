"""How hetflow writes money and time for people: one place, so every command agrees.

>>> money(0.123), money(0.0042), money(1e-6), money(0)
('$0.12', '$0.0042', '$0.000001', '$0.00')
>>> exact_money(0.5), exact_money(0.0015), exact_money(12)
('$0.50', '$0.0015', '$12.00')
>>> exact_duration(300), exact_duration(0.5), exact_duration(90), exact_duration(2.25)
('5m', '500ms', '90s', '2250ms')
>>> seconds(95), seconds(2.25), seconds(0.04)
('1m 35s', '2.2s', '40ms')
>>> count(3), count(13.333333)
('3', '13.3')
>>> printable("ok \\x1b]0;pwned\\x07 \\u202egnp.exe \\x9b2J")
'ok \\\\x1b]0;pwned\\\\x07 \\\\u202egnp.exe \\\\x9b2J'
>>> json_printable('"\\u202e\\x9b"')
'"\\\\u202e\\\\u009b"'
"""

from __future__ import annotations

import math
from decimal import Decimal

_DURATIONS = (("h", 3600.0), ("m", 60.0), ("s", 1.0), ("ms", 0.001))


def money(x: float) -> str:
    """An estimate: cents from ten cents up, two significant digits below, never ``e-06``."""
    if x >= 0.1 or x <= 0:
        return f"${x:,.2f}"
    digits = 1 - math.floor(math.log10(x))  # two significant digits
    return "$" + f"{x:.{digits}f}".rstrip("0").rstrip(".")


def money_up(x: float) -> str:
    """A sum to ask for (a budget that covers ``x``): two significant digits, rounded up.

    >>> money_up(0.0041234), money_up(0.003), money_up(1.234)
    ('$0.0042', '$0.003', '$1.24')
    """
    if x >= 0.1 or x <= 0:
        return f"${math.ceil(x * 100 - 1e-9) / 100:,.2f}"
    digits = 1 - math.floor(math.log10(x))
    step = 10.0**-digits
    return "$" + f"{math.ceil(x / step - 1e-9) * step:.{digits}f}".rstrip("0").rstrip(".")


def number(x: float) -> str:
    """A number as a `.het` file reads it back: no exponent, no trailing ``.0``."""
    if float(x).is_integer():
        return str(int(x))
    return format(Decimal(repr(float(x))), "f")


def exact_money(x: float) -> str:
    """A limit the user gave (a budget), as a `.het` file writes it: ``$0.50``, ``$0.0015``."""
    return f"${x:.2f}" if round(x, 2) == x else "$" + number(x)


def exact_duration(seconds: float) -> str:
    """A limit the user gave (a deadline), as a `.het` file writes it: ``5m``, ``500ms``."""
    for unit, scale in _DURATIONS:
        amount = seconds / scale
        if amount >= 1 and round(amount, 6).is_integer():
            text = str(int(round(amount)))
            if float(text) * scale == seconds:
                return text + unit
    return number(seconds) + "s"


def seconds(x: float) -> str:
    """A duration: ``1m 35s``, ``2.2s``, ``40ms``."""
    if x >= 60:
        m, s = divmod(round(x), 60)
        return f"{m}m {s}s" if s else f"{m}m"
    return f"{x:.1f}s" if x >= 1 else f"{x * 1000:.0f}ms"


def count(x: float) -> str:
    """An expected number of calls: whole numbers as they are, fractions to one decimal."""
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"


# Text from outside (a provider's error, a model's reply) must not drive the terminal:
# C0 and C1 controls (ESC starts CSI/OSC sequences; U+009B is a one-byte CSI) and the
# bidirectional overrides that make text read other than it is stored.
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_UNSAFE = {
    **{c: f"\\x{c:02x}" for c in range(0x20) if c not in (0x0A,)},
    0x7F: "\\x7f",
    **{c: f"\\x{c:02x}" for c in range(0x80, 0xA0)},
    **{ord(c): f"\\u{ord(c):04x}" for c in _BIDI + "\u2028\u2029"},
}
_UNSAFE_JSON = {c: f"\\u{c:04x}" for c in (0x7F, *range(0x80, 0xA0))} | {
    ord(c): f"\\u{ord(c):04x}" for c in _BIDI + "\u2028\u2029"
}


def printable(text: str) -> str:
    """Text safe to print on a terminal: controls and bidi overrides shown escaped."""
    return text.translate(_UNSAFE) if not text.isprintable() else text


def json_printable(text: str) -> str:
    """JSON text (as ``json.dumps`` writes it, C0 controls already escaped) with C1
    controls and bidi overrides escaped too: still the same JSON, safe on a terminal."""
    return text.translate(_UNSAFE_JSON) if not text.isprintable() else text
