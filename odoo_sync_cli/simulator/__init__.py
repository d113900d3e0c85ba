"""An Odoo 19 (and 17) look-alike HTTP server on loopback, for tests, demos and benchmarks."""
