"""Products and the catalog that holds them."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    price_cents: int
    taxable: bool = True
    bulk_prices: tuple = ()  # ((min_quantity, unit_price_cents), ...)

    def unit_price(self, quantity):
        """The unit price when buying `quantity`: the best bulk tier reached, else the list price."""
        price = self.price_cents
        for min_quantity, tier_price in self.bulk_prices:
            if quantity >= min_quantity:
                price = min(price, tier_price)
        return price


class UnknownProduct(KeyError):
    def __str__(self):
        return f"no product with SKU {self.args[0]!r} in the catalog"


class Catalog:
    def __init__(self, products=()):
        self._products = {}
        for product in products:
            self.add(product)

    def add(self, product):
        if product.price_cents < 0:
            raise ValueError(f"{product.sku}: a price cannot be negative")
        self._products[product.sku] = product

    def get(self, sku):
        try:
            return self._products[sku]
        except KeyError:
            raise UnknownProduct(sku) from None

    def search(self, query):
        """Products whose name contains `query`, ignoring case."""
        query = query.lower()
        return [p for p in self._products.values() if query in p.name.lower()]
