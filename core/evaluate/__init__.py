"""Evaluation: embedding extraction, distances and retrieval protocols (CASIA-B)."""
