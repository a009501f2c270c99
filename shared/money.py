"""Money: ISO 4217 currencies the platform accepts, shared by every service.

Amounts are `Decimal` with their currency beside them and are never converted between currencies
without a stated rate.
"""

from __future__ import annotations

# ISO 4217 codes the platform accepts; amounts are never converted between them.
CURRENCIES = frozenset(
    {
        "GBP",
        "EUR",
        "USD",
        "CHF",
        "SEK",
        "NOK",
        "DKK",
        "PLN",
        "CZK",
        "AUD",
        "CAD",
        "NZD",
        "JPY",
        "SGD",
        "HKD",
        "ZAR",
        "AED",
        "INR",
    }
)

# Digits after the decimal point of each accepted currency (ISO 4217's minor unit): what an amount converted
# into it is rounded to. JPY has none; every other accepted currency has two.
_MINOR_UNITS = {"JPY": 0}


def minor_units(currency: str) -> int:
    return _MINOR_UNITS.get(currency, 2)
