"""MNIST: ANN vs CNN, live. Entry point: `streamlit run streamlit_app.py`."""

import streamlit as st

from pages.common import model_toggle

st.set_page_config(page_title="MNIST: ANN vs CNN, live", page_icon="✍️", layout="wide")

navigation = st.navigation([
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/dataset.py", title="Dataset", icon=":material/grid_view:"),
    st.Page("pages/train.py", title="Train", icon=":material/monitoring:"),
    st.Page("pages/confusion.py", title="Confusion matrix", icon=":material/grid_on:"),
    st.Page("pages/draw.py", title="Draw", icon=":material/draw:"),
])

with st.sidebar:
    model_toggle()
    st.caption("ANN: a plain multi-layer network that sees 784 unrelated numbers. "
               "CNN: a convolutional network that sees strokes and shapes.")

navigation.run()
