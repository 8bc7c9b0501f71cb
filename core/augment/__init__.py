"""Clothing augmentation: variant generation, curation records and merging into a dataset."""
