import pytest

from calc import EvalError, ParseError, TokenizeError, evaluate


def test_precedence():
    assert evaluate("1 + 2 * 3") == 7


def test_parentheses():
    assert evaluate("(1 + 2) * 3") == 9


def test_variables():
    assert evaluate("x * y", {"x": 3, "y": 4}) == 12


def test_single_argument_function():
    assert evaluate("sqrt(16)") == 4


def test_unknown_variable():
    with pytest.raises(EvalError):
        evaluate("nope + 1")


def test_bad_character():
    with pytest.raises(TokenizeError):
        evaluate("1 $ 2")


def test_unbalanced_parentheses():
    with pytest.raises(ParseError):
        evaluate("(1 + 2")
