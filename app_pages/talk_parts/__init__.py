"""The Talk page's parts: the wall of the room's digits (`wall`) and learning from the room (`lesson`)."""
