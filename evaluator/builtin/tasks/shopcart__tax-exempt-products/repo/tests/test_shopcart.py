import pytest

from shopcart.cart import Cart
from shopcart.catalog import Catalog, Product, UnknownProduct
from shopcart.money import format_price
from shopcart.pricing import Coupon, checkout


@pytest.fixture
def catalog():
    return Catalog([Product("TEA", "Green tea", 450), Product("MUG", "Mug", 1200)])


def test_subtotal(catalog):
    cart = Cart(catalog)
    cart.add("TEA", 2)
    cart.add("MUG")
    assert cart.subtotal() == 2100


def test_unknown_product(catalog):
    with pytest.raises(UnknownProduct):
        Cart(catalog).add("NOPE")


def test_search(catalog):
    assert [p.sku for p in catalog.search("TEA")] == ["TEA"]


def test_small_price():
    assert format_price(450) == "$4.50"


def test_percent_coupon(catalog):
    cart = Cart(catalog)
    cart.add("MUG")
    assert checkout(cart, Coupon("TEN", percent=10))["total"] == 1080


def test_no_tax_by_default(catalog):
    cart = Cart(catalog)
    cart.add("MUG")
    assert checkout(cart)["tax"] == 0
