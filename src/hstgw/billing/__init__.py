"""Metering and billing: usage events in, rated records out, limits held."""
