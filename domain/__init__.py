"""Business rules in plain Python: no I/O, no clock reads, standard library only."""
