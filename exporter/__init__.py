"""Synthetic monitoring: blackbox-compatible probes and scheduled checks."""
