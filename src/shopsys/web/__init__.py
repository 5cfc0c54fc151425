"""serve-web: the public storefront role (Starlette app, Kafka producer)."""
