"""The What-if page (run by the entry point's navigation)."""

from resq.dashboard import _context, whatif

whatif.render(_context.current())
