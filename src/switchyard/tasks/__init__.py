"""Background tasks a gateway runs beside the request path (started and closed by ``Services``)."""
