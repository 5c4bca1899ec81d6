"""The booking domain: the business, availability, the store, the flow's tools, how things are said."""
