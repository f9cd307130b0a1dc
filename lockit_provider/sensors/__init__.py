"""Sensors for the LockitNetwork API."""
