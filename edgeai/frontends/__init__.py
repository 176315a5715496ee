"""Model front ends: each reads a file format into an ``edgeai.ir.QGraph``."""
