"""The main window's parts, one concern each; :mod:`app.main_window` puts them together."""
