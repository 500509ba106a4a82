"""What answers cost: each deployment's prices, resolved once, and the cost of a usage.

* ``sheet.py`` — ``PriceSheet``: dollars per token as floats, ``cost(usage)`` in
  about a microsecond; the ``x-switchyard-cost-usd`` header's formatting;
* ``table.py`` — the maintained offline table (``genai-prices``), imported only
  when a deployment needs it and reduced to a sheet once;
* ``book.py`` — ``PriceBook``: a deployment's sheet from its ``price:`` or the table.
"""

from switchyard.pricing.book import PriceBook
from switchyard.pricing.sheet import COST_HEADER, UNPRICED, PriceSheet, Rates, usd

__all__ = ["COST_HEADER", "UNPRICED", "PriceBook", "PriceSheet", "Rates", "usd"]
