import os
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


MEMORY = """
import re
from w2v import quiet
tf = quiet.tensorflow()
rss = lambda: int(re.search(r"VmRSS:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) >> 10
before = rss()
table = tf.random.uniform([256 << 10, 256])  # 256 MB
held = rss()
del table
print(held - before, rss() - before)
"""


def test_a_freed_table_goes_back_to_the_system():
    # With oneDNN's ops on, its pool keeps every block it ever held: a process stays at its peak for good.
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}  # as a user's shell has it
    done = subprocess.run([sys.executable, "-c", MEMORY], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    held, kept = map(int, done.stdout.split())
    assert held >= 250 and kept < 50, (held, kept)
