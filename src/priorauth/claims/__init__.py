"""Post-service review of paid claims, synthetic claims, and policy impact analysis."""
