"""`attnviz explore`: a full-screen explorer in the terminal (Textual, imported by that command only)."""
