"""Layout: composed blocks -> a recorded Layout (page.py): every page's drawing operations with
empty patient fields, the structure tree for tagging, and the font subsets. Made once per clinic,
treatment and kind, and kept (cache.py)."""
