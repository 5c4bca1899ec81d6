"""Our own frame processors and observers: the call transcript, latency, fallbacks, keypad, voicemail, idle and end of call."""
