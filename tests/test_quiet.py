import subprocess
import sys

SCRIPT = """
import sys, time
from w2v import quiet
tf = quiet.tensorflow()
assert not {"sklearn", "matplotlib"} & {m.split(".")[0] for m in sys.modules}, "keras's extras were imported"
assert not any(type(f).__name__ == "_Hidden" for f in sys.meta_path)
import matplotlib.pyplot
from sklearn.manifold import TSNE
print(float(tf.reduce_sum(tf.ones(3))))
"""


def test_tensorflow_loads_without_keras_extras_which_stay_importable_after():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3.0" and done.stderr == ""
