"""nxthdr: collectors, probing and storage of a small Internet-measurement AS."""

__version__ = "0.1.0"
