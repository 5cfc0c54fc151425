"""``shopsys load``: a load generator for the storefront API."""
