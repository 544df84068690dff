"""Neural architecture search from scratch: a cell search space, a tabular benchmark on it,
regularised evolution and DARTS.

Every candidate operation on a cell's edge is defined once, in :mod:`course.nas.ops`.
"""
