"""tinygrad_bp: a scalar autograd engine that makes backpropagation visible and checkable."""

from tinygrad_bp import codegen  # noqa: F401  (installs the generated fast code over engine's reference)
from tinygrad_bp.engine import Value, grad
from tinygrad_bp.explain import explain
from tinygrad_bp.gradcheck import GradcheckError, gradcheck, gradgradcheck
from tinygrad_bp.jit import jit

__all__ = ["Value", "grad", "gradcheck", "gradgradcheck", "GradcheckError", "explain", "jit"]
__version__ = "0.1.0"
