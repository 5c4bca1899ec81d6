"""Twilio's REST API client, as the transfer to staff and the SMS confirmation use it."""

from twilio.rest import Client


def rest_client(account_sid: str, auth_token: str, api_base_url: str | None = None) -> Client:
    """A client for the account; ``api_base_url`` sends its requests elsewhere (a loopback stand-in in tests)."""
    client = Client(account_sid, auth_token)
    if api_base_url:
        client.api.base_url = api_base_url
    return client
