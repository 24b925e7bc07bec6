"""Prefect flows: thin orchestration over the churnlens library."""
