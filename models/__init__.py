"""churnlens models: the multilingual encoder and the departure-reason classifier (no Prefect here)."""
