import pytest

from matrixlite import Matrix


def test_identity():
    assert Matrix.identity(2) == Matrix([[1, 0], [0, 1]])


def test_transpose():
    assert Matrix([[1, 2, 3]]).T == Matrix([[1], [2], [3]])


def test_square_product():
    a = Matrix([[1, 2], [3, 4]])
    assert a @ Matrix.identity(2) == a


def test_add():
    assert Matrix([[1, 2]]) + Matrix([[3, 4]]) == Matrix([[4, 6]])


def test_ragged_rows_rejected():
    with pytest.raises(ValueError):
        Matrix([[1, 2], [3]])


def test_determinant_simple():
    assert Matrix([[2, 0], [0, 3]]).determinant() == 6
