"""Products and the catalog that holds them."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    price_cents: int
    taxable: bool = True


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
