"""Flow files as files: checking them before they take a call, and drawing them."""
