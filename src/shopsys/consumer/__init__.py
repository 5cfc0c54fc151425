"""serve-consumer: the consumer loop writing purchases to MongoDB, and the management API."""
