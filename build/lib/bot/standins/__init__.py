"""Local stand-ins for the cloud services the bot uses (Deepgram, OpenAI).

Each stand-in speaks its provider's real wire protocol on 127.0.0.1, so the
real Pipecat client code can be exercised without network access, and it can
be switched into fault modes to test how the bot copes with a failing service.
"""
