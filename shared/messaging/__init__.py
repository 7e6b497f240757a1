"""Kafka: the producer, an event as a CloudEvents Kafka record, publishing after commit."""
