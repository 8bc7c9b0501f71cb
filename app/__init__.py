"""HybridGait Studio's browser UI: a thin Gradio layer over ``core.studio.Studio``."""
