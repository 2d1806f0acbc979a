"""The training loop, callbacks, progress bar and history."""
