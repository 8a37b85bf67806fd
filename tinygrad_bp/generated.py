"""Print the code that runs: backward()'s chain rule, each op's node maker and Value's op methods, generated
by tinygrad_bp.codegen from the op table in tinygrad_bp.ops.

    python -m tinygrad_bp.generated
"""

from tinygrad_bp.codegen import GENERATED

__all__ = ["GENERATED"]

if __name__ == "__main__":
    print(GENERATED, end="")
