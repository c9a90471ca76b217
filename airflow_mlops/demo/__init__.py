"""Helpers that build the local, network-free demo environment behind `make demo`."""
