"""Loopback fakes speaking the real protocols: STAC, COG byte ranges, PC SAS, Sentinel Hub."""
