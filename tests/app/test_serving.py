"""The server carries no TensorFlow: every page renders in a fresh interpreter without importing it
(nor the learned space's projection library, openTSNE: its maps are drawn by the CLI and the worker).

With TensorFlow in the server, each script run paid ~0.5 s of garbage collection over its
objects (docs/architecture.md); prediction is NumPy and training runs in a worker process, so none is needed.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter: an earlier test in this process may have imported Keras already.
RENDER_EVERY_PAGE = """
import sys, types
import numpy as np
sys.path.insert(0, {root!r})
from mnist_core.data import synthetic
from mnist_core.data import load_mnist

# The canvas returns a real MNIST test digit redrawn as strokes, so the Draw page really predicts
# (the component itself needs a browser; the e2e tests draw for real).
(_, _), (x_test, y_test) = load_mnist()
drawing = synthetic.redraw(x_test[0], np.random.default_rng(0), canvas=300)
fake = types.ModuleType("streamlit_drawable_canvas")
fake.st_canvas = lambda **kwargs: types.SimpleNamespace(image_data=drawing, json_data=None)
sys.modules["streamlit_drawable_canvas"] = fake

from streamlit.testing.v1 import AppTest
at = AppTest.from_file({app!r}, default_timeout=180)
at.run()
assert not at.exception, at.exception
for page in ("app_pages/dataset.py", "app_pages/train.py", "app_pages/confusion.py", "app_pages/inside.py",
             "app_pages/experiments.py", "app_pages/draw.py"):
    at.switch_page(page).run()
    assert not at.exception, (page, at.exception)
verdicts = [m.value for m in at.metric if "ANN" in m.label or "CNN" in m.label]
assert verdicts == [str(y_test[0])] * 2, verdicts
at.switch_page("app_pages/space.py").run()  # the drawing placed into both maps
assert not at.exception and at.segmented_control(key="space_source").value == "Your last drawing", at.exception
print(sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras", "openTSNE", "umap")))
"""


def test_every_page_renders_without_importing_tensorflow_keras_or_the_projection_library():
    code = RENDER_EVERY_PAGE.format(root=str(ROOT), app=str(ROOT / "streamlit_app.py"))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.strip().splitlines()[-1] == "[]", "the server imported: " + result.stdout[-2000:]
