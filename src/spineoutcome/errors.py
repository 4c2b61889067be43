"""One exception hierarchy for the package.

Every error the package raises on purpose derives from :class:`SpineoutcomeError`, so a caller
(the CLI above all) catches one class and prints the message, never a traceback, as
scikit-learn does with its ``exceptions`` module. The subclasses elsewhere also derive from the
built-in class they have always been (``ValueError``, ``KeyError``, ...), so existing
``except ValueError`` code keeps working.
"""

from __future__ import annotations


class SpineoutcomeError(Exception):
    """Base class of every error the package raises knowingly; its message is meant for the user."""
