"""The shopping cart: one line per product."""

from dataclasses import dataclass


@dataclass
class Line:
    sku: str
    quantity: int


class Cart:
    def __init__(self, catalog):
        self.catalog = catalog
        self.lines = []

    def _line(self, sku):
        return next((line for line in self.lines if line.sku == sku), None)

    def add(self, sku, quantity=1):
        if quantity < 1:
            raise ValueError("quantity must be at least 1")
        self.catalog.get(sku)  # unknown products are refused here, not at checkout
        self.lines.append(Line(sku, quantity))

    def remove(self, sku, quantity=None):
        """Remove `quantity` units of `sku` (all of them when None)."""
        line = self._line(sku)
        if line is None:
            raise KeyError(sku)
        if quantity is None or quantity >= line.quantity:
            self.lines.remove(line)
        else:
            line.quantity -= quantity

    def quantity(self, sku):
        line = self._line(sku)
        return line.quantity if line else 0

    def items(self):
        """(product, quantity) for every line, in the order added."""
        return [(self.catalog.get(line.sku), line.quantity) for line in self.lines]

    def subtotal(self):
        return sum(product.unit_price(quantity) * quantity for product, quantity in self.items())
