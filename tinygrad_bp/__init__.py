"""tinygrad_bp: a scalar autograd engine that makes backpropagation visible and checkable."""

from tinygrad_bp.engine import Value, grad

__all__ = ["Value", "grad"]
__version__ = "0.1.0"
