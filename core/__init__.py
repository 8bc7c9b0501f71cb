"""HybridGait Studio core library: readers, conversion, augmentation, training and evaluation.

Nothing in this package imports a UI toolkit; the Gradio app in ``app/`` is a thin layer over it.
"""

__version__ = "0.1.0"
