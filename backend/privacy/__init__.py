"""Personal data (docs/api.md "Personal data"): erase and export one person, and WeChat's
user-data push (`authorized_user_information_changes`).

Above `users` and `webhooks` (it changes their rows and emits events); `consent.push` hands it
the user-data push. Nothing below imports it.
"""
