"""Training: config and presets, P x K sampling, part-wise losses and the resumable loop."""
