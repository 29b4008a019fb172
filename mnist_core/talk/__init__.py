"""Talk mode: the presenter's key, cookie and addresses (`presenter`), the room's digits and
what they add up to (`crowd`), the audience's path from a phone's Send to a stored verdict
(`audience`), and a model retrained on the room's digits (`room_learning`)."""
