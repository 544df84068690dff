"""The AutoML course's library: from-scratch reference implementations.

Notebooks import what they teach from here, and the autograder checks learners'
exercises against these references.
"""

__version__ = "0.1.0"
