"""Deferrable triggers for the LockitNetwork API."""
