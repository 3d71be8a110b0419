"""The window's panels: each a widget that shows one part of the session and says what the user asked for."""
