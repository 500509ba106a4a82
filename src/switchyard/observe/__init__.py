"""What an operator sees: one-line structured logs (``logs``) and the access log (``access``)."""
