"""The console's services: scope checks, validation and starting work, one module per area.

A view (``web/views``) or an API route (``web/api``) only translates HTTP to
a call here and the answer back to HTML or JSON; the decision (who may, what
is valid, what starts) lives here once, whichever face asked.
"""
