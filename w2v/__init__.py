"""w2v: word2vec experiments on TensorFlow 2, from the command line (``w2v --help``) or from Python:

    import w2v
    result = w2v.train("configs/tiny.yaml", name="exp1", overrides=["train.epochs=2"])
    vectors = w2v.load("exp1")
    vectors.most_similar("government", topn=5)

``train``, ``resume``, ``load``, ``list_runs``, ``WordVectors``, ``UnknownWord`` and ``InvalidArgument`` are
``w2v.api``'s, imported on first use: ``import w2v`` alone loads nothing else.
"""

__version__ = "0.1.0"

_API = ("InvalidArgument", "UnknownWord", "WordVectors", "list_runs", "load", "resume", "train")
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> object:
    if name in _API:
        from w2v import api

        return getattr(api, name)
    raise AttributeError(f"module 'w2v' has no attribute {name!r}")
