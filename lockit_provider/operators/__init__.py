"""Operators for the LockitNetwork API."""
