"""The Streamlit app: entry streamlit_app.py, pages in app_pages/, shared logic in ordinary modules."""
