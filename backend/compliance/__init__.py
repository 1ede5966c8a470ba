"""Channel compliance: opening states, monthly quotas and submission caps per platform account."""
