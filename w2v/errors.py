"""The one exception type that the CLI turns into a one-line message and exit code 2."""


class W2VError(Exception):
    """A problem with the user's input (config, corpus, run directory, evaluation file).

    The message must name the offending file, key or value; the CLI prints it on one line
    and exits with code 2, without a traceback unless ``--debug`` is given.
    """


class UnknownWord(W2VError, KeyError):
    """A word the vocabulary lacks: a W2VError for the command line, a KeyError for code that looks words up
    as in a dict (or in gensim's KeyedVectors)."""

    def __str__(self) -> str:
        return Exception.__str__(self)  # KeyError's own would quote the message


class InvalidArgument(W2VError, ValueError):
    """An argument of a Python call that is none of the values it takes: a ValueError for Python code."""
