"""Extracted items rendered into a translation unit with stub headers and
compiled into a cached shim executable."""
