//! Fresh RabbitMQ queue names per test (filled in by the broker work).
