"""An order and its rules as plain data: the lifecycle, the order, its events, the API models.

No I/O and no wire format.
"""
