"""The Validation page (run by the entry point's navigation)."""

from resq.dashboard import _context, validation

validation.render(_context.current())
