"""Message schema, validation, CSV history loader, Kafka producer and ingester."""
