"""How hetflow writes money and time for people: one place, so every command agrees.

>>> money(0.123), money(0.0042), money(1e-6), money(0)
('$0.12', '$0.0042', '$0.000001', '$0.00')
>>> exact_money(0.5), exact_money(0.0015), exact_money(12)
('$0.50', '$0.0015', '$12.00')
>>> seconds(95), seconds(2.25), seconds(0.04)
('1m 35s', '2.2s', '40ms')
>>> count(3), count(13.333333)
('3', '13.3')
"""

from __future__ import annotations

import math


def money(x: float) -> str:
    """An estimate: cents from ten cents up, two significant digits below, never ``e-06``."""
    if x >= 0.1 or x <= 0:
        return f"${x:,.2f}"
    digits = 1 - math.floor(math.log10(x))  # two significant digits
    return "$" + f"{x:.{digits}f}".rstrip("0").rstrip(".")


def exact_money(x: float) -> str:
    """A limit the user gave (a budget): cents, or every digit it has: ``$0.50``, ``$0.0015``."""
    if round(x, 2) == x:
        return f"${x:,.2f}"
    return "$" + f"{x:.9f}".rstrip("0")


def seconds(x: float) -> str:
    """A duration: ``1m 35s``, ``2.2s``, ``40ms``."""
    if x >= 60:
        m, s = divmod(round(x), 60)
        return f"{m}m {s}s" if s else f"{m}m"
    return f"{x:.1f}s" if x >= 1 else f"{x * 1000:.0f}ms"


def count(x: float) -> str:
    """An expected number of calls: whole numbers as they are, fractions to one decimal."""
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"
