"""One page of the main window per module; each takes the shared AppState."""
