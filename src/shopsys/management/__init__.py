"""The management API and the operations page: what the consumer role serves beside its loop."""
