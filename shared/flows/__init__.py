"""The use cases the event functions run: a lifecycle step, the relay's sweep."""
