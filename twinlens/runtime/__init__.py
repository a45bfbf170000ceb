"""The ground floor every twinlens process stands on: config, logging, self-metrics.

Imports neither ``exporter`` nor ``rum_gateway``; both import from here.
"""
