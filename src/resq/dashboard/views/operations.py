"""The Operations page (run by the entry point's navigation)."""

from resq.dashboard import _context, operations

operations.render(_context.current())
