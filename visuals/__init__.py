"""Figure builders: plain data in (lists, tensors), a plotly Figure out. No Streamlit here,
so every figure can be built and checked in a test, a script or a notebook."""
