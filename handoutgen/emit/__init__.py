"""Emit: a recorded Layout and one patient's values -> PDF bytes (fill.py), and what is done to a
finished PDF (finish.py): metadata, encryption, print on open."""
