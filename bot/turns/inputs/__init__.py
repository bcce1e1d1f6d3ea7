"""A turn's inputs, read before the model is called: the thread so far, other apps' posts
and the files attached to its messages, built into one `TurnInputs` value (`gather.py`)."""
