"""MNIST: ANN vs CNN, live. Entry point: `streamlit run streamlit_app.py`.

The pages live in app_pages/, not pages/: Streamlit runs a folder named pages/ in its legacy
multipage mode until the first st.navigation call, so a deep link such as /draw opened first
on a fresh server showed the raw file list and skipped this script (seen in Chromium)."""

import streamlit as st

from app_pages.common import model_toggle

st.set_page_config(page_title="MNIST: ANN vs CNN, live", page_icon="✍️", layout="wide")

navigation = st.navigation([
    st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("app_pages/dataset.py", title="Dataset", icon=":material/grid_view:"),
    st.Page("app_pages/train.py", title="Train", icon=":material/monitoring:"),
    st.Page("app_pages/confusion.py", title="Confusion matrix", icon=":material/grid_on:"),
    st.Page("app_pages/draw.py", title="Draw", icon=":material/draw:"),
])

with st.sidebar:
    model_toggle()
    st.caption("ANN: a plain multi-layer network that sees 784 unrelated numbers. "
               "CNN: a convolutional network that sees strokes and shapes.")

navigation.run()
