"""w2v: a command-line experiment runner for word2vec on TensorFlow 2."""

__version__ = "0.1.0"
