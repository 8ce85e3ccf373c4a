"""Coupons, tax and the checkout total."""

from dataclasses import dataclass
from decimal import Decimal

from shopcart.money import round_cents


@dataclass(frozen=True)
class Coupon:
    code: str
    percent: int = 0  # e.g. 10 for 10 % off
    amount_cents: int = 0  # fixed amount off
    min_subtotal_cents: int = 0  # the coupon applies only from this subtotal on


def discount_for(coupon, subtotal):
    """What the coupon takes off a cart of `subtotal` cents (never more than the subtotal)."""
    if coupon is None or subtotal < coupon.min_subtotal_cents:
        return 0
    discount = round_cents(Decimal(subtotal) * coupon.percent / 100) + coupon.amount_cents
    return min(discount, subtotal)


def checkout(cart, coupon=None, tax_rate=0.0):
    """Subtotal, discount, tax and total of a cart, in cents.

    Tax is charged on taxable products only, after the discount (which is
    spread over the lines in proportion to their price).
    """
    subtotal = cart.subtotal()
    discount = discount_for(coupon, subtotal)
    taxable = sum(p.unit_price(q) * q for p, q in cart.items() if p.taxable)
    if subtotal:
        taxable_after_discount = Decimal(taxable) - Decimal(discount) * taxable / subtotal
    else:
        taxable_after_discount = Decimal(0)
    tax = round_cents(taxable_after_discount * Decimal(str(tax_rate)))
    return {"subtotal": subtotal, "discount": discount, "tax": tax, "total": subtotal - discount + tax}
