"""Print the code that runs: backward()'s chain rule and Value's op methods, generated from tinygrad_bp.ops.

    python -m tinygrad_bp.generated
"""

from tinygrad_bp.engine import GENERATED

__all__ = ["GENERATED"]

if __name__ == "__main__":
    print(GENERATED, end="")
