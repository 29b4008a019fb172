"""The engine of the MNIST ANN-vs-CNN demo. No Streamlit in here: every module is usable alone."""

import os

# TensorFlow's C++ start-up chatter hides real messages in the CLI and the test logs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
