"""Loopback fake servers that speak the real protocols (STAC, COG byte ranges, PC SAS, Sentinel Hub)."""
