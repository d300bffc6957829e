"""Templates: the per-app catalog synced from WeChat, bans, the one template-kind look-up, the value rules."""
