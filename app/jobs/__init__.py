"""What the app runs on its worker threads: job factories and time estimates, without Qt."""
