"""Third-party platforms (docs/wechat.md §14): the ticket, the merchants' apps, their tokens and keys."""
