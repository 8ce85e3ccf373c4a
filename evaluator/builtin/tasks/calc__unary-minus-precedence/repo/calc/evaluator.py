"""Tree -> number."""

import math


class EvalError(ValueError):
    """The expression is well formed but cannot be computed."""


FUNCTIONS = {"sqrt": math.sqrt, "abs": abs, "min": min, "max": max, "round": round}
CONSTANTS = {"pi": math.pi, "e": math.e}


def _divide(op, left, right):
    if right == 0:
        raise EvalError("division by zero")
    if op == "/":
        return left / right
    if op == "//":
        return left // right
    return left % right


def evaluate_tree(tree, variables):
    kind = tree[0]
    if kind == "num":
        return tree[1]
    if kind == "var":
        name = tree[1]
        if name in variables:
            return variables[name]
        if name in CONSTANTS:
            return CONSTANTS[name]
        raise EvalError(f"unknown variable {name!r}")
    if kind == "neg":
        return -evaluate_tree(tree[1], variables)
    if kind == "call":
        function = FUNCTIONS.get(tree[1])
        if function is None:
            raise EvalError(f"unknown function {tree[1]!r}")
        return function(*(evaluate_tree(arg, variables) for arg in tree[2]))
    if kind == "binop":
        op = tree[1]
        left = evaluate_tree(tree[2], variables)
        right = evaluate_tree(tree[3], variables)
        if op == "+":
            return left + right
        if op == "-":
            return left - right
        if op == "*":
            return left * right
        if op in ("/", "//", "%"):
            return _divide(op, left, right)
        if op == "**":
            return left ** right
    raise EvalError(f"cannot evaluate {tree!r}")
