from matrixlite.matrix import Matrix

__all__ = ["Matrix"]
