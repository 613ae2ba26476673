"""The home page (工作台): for a manager the zone's figures, for an officer their own work."""
