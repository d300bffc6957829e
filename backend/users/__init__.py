"""Users: log-in, sessions, recipients as business code names them, binding codes, phone numbers.

Imports no other capability."""
