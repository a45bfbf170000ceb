"""Shared test support: real local servers and the tools the e2e tests drive."""
