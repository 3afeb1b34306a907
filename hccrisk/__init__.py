"""hccrisk: early recurrence and survival of hepatocellular carcinoma from contrast imaging.

One subpackage per concern; see docs/architecture.md for the data flow and file contracts.
"""

__version__ = "0.1.0"
