"""Problems, models, penalties and the objective.

Importing the package registers the classification problems (:mod:`implicit_bias.core.classification`:
the ``separable_classification`` generator and the ``dataset`` classification task), which subclass
:class:`~implicit_bias.core.problems.LeastSquares` and so are imported after it, not by it.
"""

from implicit_bias.core import classification  # noqa: F401 - registers the classification problems
