"""Trainers for DPA, RRPO, DPO and TDPO."""
