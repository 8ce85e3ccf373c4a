"""Catalog, cart and checkout pricing for a small web shop."""
