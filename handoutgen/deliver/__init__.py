"""Delivery: email (mail.py over smtp.py, with a ledger so nothing is sent twice) and print
(spool.py, through CUPS)."""
