"""Kafka plumbing: the awaited producer, the consumer factory and topic administration."""
