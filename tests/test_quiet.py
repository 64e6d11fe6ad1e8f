import subprocess
import sys

SCRIPT = """
import os, sys
from w2v import quiet
tf = quiet.tensorflow()
loaded = {m.split(".")[0] for m in sys.modules}
assert not {"keras", "sklearn", "matplotlib"} & loaded, "TensorFlow imported Keras and its extras"
assert "TF_USE_LEGACY_KERAS" not in os.environ
import matplotlib.pyplot
from sklearn.manifold import TSNE
assert tf.keras.layers.Dense(2).units == 2
print(float(tf.reduce_sum(tf.ones(3))))
"""


def test_tensorflow_loads_without_keras_which_stays_usable_after():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3.0" and done.stderr == ""
