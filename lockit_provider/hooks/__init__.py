"""Hooks for the LockitNetwork API."""
