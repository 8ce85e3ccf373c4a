"""A safe arithmetic expression evaluator."""

from calc.evaluator import EvalError, evaluate_tree
from calc.parser import ParseError, parse
from calc.tokenizer import TokenizeError, tokenize

__all__ = ["EvalError", "ParseError", "TokenizeError", "evaluate", "parse", "tokenize"]


def evaluate(expression, variables=None):
    """Evaluate `expression`; names are looked up in `variables`, then in the constants."""
    return evaluate_tree(parse(tokenize(expression)), variables or {})
