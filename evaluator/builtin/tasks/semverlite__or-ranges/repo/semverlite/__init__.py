from semverlite.ranges import satisfies
from semverlite.version import Version

__all__ = ["Version", "satisfies"]
