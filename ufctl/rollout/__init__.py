"""Blue-green rollouts of Kafka consumer services (local controller and analysis)."""
