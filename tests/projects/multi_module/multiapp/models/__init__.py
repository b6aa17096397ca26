"""Import every model module so its tables are registered on Base.metadata."""

from multiapp.models.billing import Invoice, Plan
from multiapp.models.users import User

__all__ = ["Invoice", "Plan", "User"]
