"""Pure parsers, one module per publishing shape: bytes in, links and records out. No I/O."""
