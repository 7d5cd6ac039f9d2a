"""The escrow smart contract: Vyper sources and their compiled, committed artifacts.

``contracts.artifacts`` loads the committed artifacts (no compiler needed at run time);
``contracts.build`` compiles the sources into them (``campaigns contracts build``).
"""
