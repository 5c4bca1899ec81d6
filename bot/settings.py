"""Configuration from the environment (and ``.env``), validated at start-up.

Providers use their standard variable names; the bot's own settings start
with ``BOT_``. A bad value becomes :class:`ConfigError`, whose message is one
line naming the variable, and the entry points print it and exit.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from pathlib import Path

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.booking.business import Business
from bot.booking.database import POSTGRES_SCHEMES
from bot.telephony.sms import ConfirmationTexter
from bot.telephony.transfer import StaffTransfer

PROJECT_DIR = Path(__file__).resolve().parent.parent


class ConfigError(Exception):
    """A configuration problem, already phrased as one line naming the setting."""


class Provider(StrEnum):
    AUTO = "auto"  # the cloud provider when its key is set, else the embedded engine
    LOCAL = "local"
    CLOUD = "cloud"
    NULL = "null"  # an instant stand-in that does no work (bot/services/null.py): for benchmarks


class LocalSTT(StrEnum):
    WHISPER = "whisper"  # Whisper tiny.en via faster-whisper
    MOONSHINE = "moonshine"  # Moonshine tiny via onnxruntime


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_ignore_empty=True, extra="ignore", populate_by_name=True)

    # Cloud providers (standard names)
    deepgram_api_key: str | None = Field(None, validation_alias="DEEPGRAM_API_KEY")
    deepgram_base_url: str | None = Field(None, validation_alias="DEEPGRAM_BASE_URL")
    deepgram_stt_model: str = Field("nova-3-general", validation_alias="DEEPGRAM_STT_MODEL")
    deepgram_tts_voice: str = Field("aura-2-thalia-en", validation_alias="DEEPGRAM_TTS_VOICE")
    openai_api_key: str | None = Field(None, validation_alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(None, validation_alias="OPENAI_BASE_URL")
    openai_model: str = Field("gpt-4o-mini", validation_alias="OPENAI_MODEL")
    twilio_account_sid: str | None = Field(None, validation_alias="TWILIO_ACCOUNT_SID")
    twilio_auth_token: str | None = Field(None, validation_alias="TWILIO_AUTH_TOKEN")
    twilio_api_base_url: str | None = Field(None, validation_alias="TWILIO_API_BASE_URL")
    transfer_number: str | None = Field(None, pattern=r"^\+[1-9]\d{6,14}$", validation_alias="BOT_TRANSFER_NUMBER")
    # The number booking confirmations are texted from when the line cannot speak them
    sms_from: str | None = Field(None, pattern=r"^\+[1-9]\d{6,14}$", validation_alias="BOT_SMS_FROM")

    # Which engine does each job
    stt: Provider = Field(Provider.AUTO, validation_alias="BOT_STT")
    llm: Provider = Field(Provider.AUTO, validation_alias="BOT_LLM")
    tts: Provider = Field(Provider.AUTO, validation_alias="BOT_TTS")
    # When a cloud provider fails, the embedded engine takes over (processors/fallbacks.py)
    fallbacks: bool = Field(True, validation_alias="BOT_FALLBACKS")
    llm_timeout_secs: float = Field(2.0, gt=0, le=30, validation_alias="BOT_LLM_TIMEOUT_SECS")
    # When a call's media stream drops, the same call may reconnect and resume this long after (bot/call/resume.py)
    resume_grace_secs: float = Field(30.0, ge=0, le=600, validation_alias="BOT_RESUME_GRACE_SECS")
    # The caller spoke (VAD) and no transcript came this long after: that STT is given up (processors/keypad.py)
    stt_stall_secs: float = Field(3.0, gt=0, le=30, validation_alias="BOT_STT_STALL_SECS")
    # Silence after the bot's question before "are you still there?", and again before hanging up (0: never)
    idle_secs: float = Field(15.0, ge=0, le=300, validation_alias="BOT_IDLE_SECS")

    # The business and its data
    flow_file: Path = Field(PROJECT_DIR / "flows" / "booking.yaml", validation_alias="BOT_FLOW_FILE")
    business_file: Path | None = Field(None, validation_alias="BOT_BUSINESS_FILE")
    db_path: Path = Field(PROJECT_DIR / "data" / "bookings.db", validation_alias="BOT_DB_PATH")
    # Bookings shared by several hosts: a PostgreSQL database (docs/deployment.md); unset, SQLite at BOT_DB_PATH
    database_url: str | None = Field(None, validation_alias="BOT_DATABASE_URL")
    recordings_dir: Path = Field(PROJECT_DIR / "recordings" / "calls", validation_alias="BOT_RECORDINGS_DIR")
    # The longest voicemail kept when the flow cannot finish (the caller is recorded until their turn ends)
    voicemail_max_secs: float = Field(60.0, gt=0, le=600, validation_alias="BOT_VOICEMAIL_MAX_SECS")

    # The server
    host: str = Field("0.0.0.0", validation_alias="BOT_HOST")
    port: int = Field(8765, ge=1, le=65535, validation_alias="BOT_PORT")
    public_url: str | None = Field(None, validation_alias="BOT_PUBLIC_URL")
    admin_token: str | None = Field(None, validation_alias="BOT_ADMIN_TOKEN")
    # Worker processes behind BOT_PORT (bot/serving/supervisor.py; 0: one per core) and the directory where
    # they keep the host's calls in progress (bot/serving/host_line.py; unset: one of their own). Servers of
    # one host that share it (two systemd units for rolling restarts) count their calls together.
    workers: int = Field(0, ge=0, le=64, validation_alias="BOT_WORKERS")
    line_dir: Path | None = Field(None, validation_alias="BOT_LINE_DIR")
    # Calls this host takes at once, all its workers together (0: no limit). Past it, a new call is sent to
    # BOT_OVERFLOW_URL (another host's voice webhook) or told the lines are busy: a call too many slows every call.
    max_calls: int = Field(0, ge=0, le=10000, validation_alias="BOT_MAX_CALLS")
    overflow_url: str | None = Field(None, pattern=r"^https?://\S+$", validation_alias="BOT_OVERFLOW_URL")
    # On SIGTERM (bot/serving/drain.py): /readyz fails at once but new calls are still taken this long, so
    # the load balancer's health checks move on first; then new calls are turned away, the calls in
    # progress may go on for BOT_DRAIN_SECS, and those still going are handed to another server to resume.
    drain_notice_secs: float = Field(2.0, ge=0, le=60, validation_alias="BOT_DRAIN_NOTICE_SECS")
    drain_secs: float = Field(90.0, ge=0, le=3600, validation_alias="BOT_DRAIN_SECS")
    # OpenTelemetry traces (bot/serving/tracing.py): one per call, spans per turn and service, over OTLP/HTTP
    tracing: bool = Field(False, validation_alias="BOT_TRACING")
    otlp_endpoint: str = Field(
        "http://localhost:4318", pattern=r"^https?://\S+$", validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    otlp_headers: str | None = Field(None, validation_alias="OTEL_EXPORTER_OTLP_HEADERS")
    otel_service_name: str = Field("phone-booking-bot", validation_alias="OTEL_SERVICE_NAME")
    # Abuse limits and keeping data (docs/security.md); a limit of 0 is no limit. A withheld number is one number.
    calls_per_number_per_hour: int = Field(10, ge=0, le=10000, validation_alias="BOT_CALLS_PER_NUMBER_PER_HOUR")
    bookings_per_number_per_day: int = Field(3, ge=0, le=10000, validation_alias="BOT_BOOKINGS_PER_NUMBER_PER_DAY")
    requests_per_source_per_minute: int = Field(
        120, ge=0, le=100000, validation_alias="BOT_REQUESTS_PER_SOURCE_PER_MINUTE"
    )
    max_call_secs: int = Field(900, ge=60, le=14400, validation_alias="BOT_MAX_CALL_SECS")
    retention_days: int = Field(30, ge=1, le=3650, validation_alias="BOT_RETENTION_DAYS")
    allow_clock_override: bool = Field(False, validation_alias="BOT_ALLOW_CLOCK_OVERRIDE")
    log_level: str = Field("INFO", validation_alias="BOT_LOG_LEVEL")

    # The staff dashboard (/dashboard, bot/dashboard/): staff log in with this password or BOT_ADMIN_TOKEN
    staff_password: str | None = Field(None, min_length=8, validation_alias="BOT_STAFF_PASSWORD")
    # Signs the dashboard's session cookies; unset: a new random key each start (everyone logs in again)
    dashboard_secret: str | None = Field(None, min_length=32, validation_alias="BOT_DASHBOARD_SECRET")
    dashboard_session_hours: float = Field(12.0, gt=0, le=720, validation_alias="BOT_DASHBOARD_SESSION_HOURS")
    # Per-unit prices (US$) for the dashboard's estimated cost per call; a job on an embedded engine costs 0
    price_phone_per_min: float = Field(0.0085, ge=0, le=10, validation_alias="BOT_PRICE_PHONE_PER_MIN")
    price_stt_per_min: float = Field(0.0077, ge=0, le=10, validation_alias="BOT_PRICE_STT_PER_MIN")
    price_tts_per_1k_chars: float = Field(0.030, ge=0, le=10, validation_alias="BOT_PRICE_TTS_PER_1K_CHARS")
    price_llm_per_turn: float = Field(0.0004, ge=0, le=10, validation_alias="BOT_PRICE_LLM_PER_TURN")

    # Turn-taking and the embedded engines
    vad_stop_secs: float = Field(0.2, gt=0, le=2, validation_alias="BOT_VAD_STOP_SECS")
    # 0.3 s after the VAD's 0.2 s: a caller's turn ends after half a second of
    # silence. Every 0.1 s more tolerates longer hesitations and costs 0.1 s on
    # every reply (docs/performance.md).
    # Caller audio per pipeline frame. Twilio sends 20 ms; joining three cuts the server's CPU per call
    # by about a third (docs/load.md) for at most 40 ms more before a turn's end is noticed.
    audio_in_ms: int = Field(60, ge=20, le=200, multiple_of=20, validation_alias="BOT_AUDIO_IN_MS")
    # The bot's audio per media message to Twilio, which queues it and plays it in order: fewer,
    # longer messages cost less CPU and leave more audio queued ahead of a busy server (docs/load.md).
    audio_out_ms: int = Field(100, ge=20, le=400, multiple_of=10, validation_alias="BOT_AUDIO_OUT_MS")
    # A stretch of the bot's speech starts once this much more of it is in hand (bot/telephony/playout.py):
    # paid only when a streaming TTS delivers in real time, it keeps a late chunk from being heard.
    audio_cushion_ms: int = Field(100, ge=0, le=300, validation_alias="BOT_AUDIO_CUSHION_MS")
    user_speech_timeout: float = Field(0.3, gt=0, le=5, validation_alias="BOT_USER_SPEECH_TIMEOUT")
    engine_threads: int = Field(1, ge=1, le=64, validation_alias="BOT_ENGINE_THREADS")
    local_stt: LocalSTT = Field(LocalSTT.WHISPER, validation_alias="BOT_LOCAL_STT")
    whisper_window_secs: float = Field(10.0, ge=0, le=30, validation_alias="BOT_WHISPER_WINDOW_SECS")
    stt_early: bool = Field(True, validation_alias="BOT_STT_EARLY")
    tts_first_clause: bool = Field(True, validation_alias="BOT_TTS_FIRST_CLAUSE")
    tts_cache: bool = Field(True, validation_alias="BOT_TTS_CACHE")
    # Where the fixed phrases' audio is kept as files for the host's workers and its next start
    # (bot/services/piper_tts.py; unset: `serve` keeps them for its own workers, until it stops).
    tts_cache_dir: Path | None = Field(None, validation_alias="BOT_TTS_CACHE_DIR")
    # A cloud LLM asked on the caller's final transcript, during the speech timeout (bot/call/early_start.py).
    llm_early_start: bool = Field(True, validation_alias="BOT_LLM_EARLY_START")
    # With Deepgram and an early start, the VAD calls the speech over after this pause (asking Deepgram
    # for its final, starting the LLM), and the speech timeout waits the rest: the turn still ends after
    # BOT_VAD_STOP_SECS + BOT_USER_SPEECH_TIMEOUT of silence.
    early_start_pause_secs: float = Field(0.1, gt=0, le=2, validation_alias="BOT_EARLY_START_PAUSE_SECS")

    @field_validator("flow_file", "business_file")
    @classmethod
    def _file_exists(cls, path: Path | None) -> Path | None:
        if path is not None and not path.is_file():
            raise ValueError(f"no such file: {path}")
        return path

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, url: str | None) -> str | None:
        if url and not url.startswith(("https://", "http://")):
            raise ValueError("must start with https:// (the address Twilio reaches this server at)")
        return url.rstrip("/") if url else url

    @field_validator("database_url")
    @classmethod
    def _postgresql_url(cls, url: str | None) -> str | None:
        if url and not url.startswith(POSTGRES_SCHEMES):
            raise ValueError(
                "must be a PostgreSQL URL, postgresql://user:password@host:5432/database (unset: SQLite at BOT_DB_PATH)"
            )
        return url

    @property
    def database(self) -> str | Path:
        """Where the bookings are: BOT_DATABASE_URL if set, else the SQLite file BOT_DB_PATH."""
        return self.database_url or self.db_path

    @model_validator(mode="after")
    def _cloud_needs_keys(self) -> Settings:
        needs = {
            "BOT_STT": (self.stt, self.deepgram_api_key, "DEEPGRAM_API_KEY"),
            "BOT_LLM": (self.llm, self.openai_api_key, "OPENAI_API_KEY"),
            "BOT_TTS": (self.tts, self.deepgram_api_key, "DEEPGRAM_API_KEY"),
        }
        for setting, (choice, key, key_name) in needs.items():
            if choice is Provider.CLOUD and not key:
                raise ValueError(f"{setting}: 'cloud' needs {key_name} to be set")
        return self

    @property
    def staff_transfer(self) -> StaffTransfer | None:
        """How to put a caller through to staff, when a number and Twilio credentials are set."""
        if not (self.transfer_number and self.twilio_account_sid and self.twilio_auth_token):
            return None
        return StaffTransfer(
            self.transfer_number, self.twilio_account_sid, self.twilio_auth_token, self.twilio_api_base_url
        )

    @property
    def confirmation_texter(self) -> ConfirmationTexter | None:
        """How to text a caller their confirmation, when a from number and Twilio credentials are set."""
        if not (self.sms_from and self.twilio_account_sid and self.twilio_auth_token):
            return None
        return ConfirmationTexter(self.sms_from, self.twilio_account_sid, self.twilio_auth_token, self.twilio_api_base_url)

    def uses_cloud(self, job: str) -> bool:
        choice, key = {
            "stt": (self.stt, self.deepgram_api_key),
            "llm": (self.llm, self.openai_api_key),
            "tts": (self.tts, self.deepgram_api_key),
        }[job]
        return choice is Provider.CLOUD or (choice is Provider.AUTO and bool(key))

    @cached_property
    def business(self) -> Business:
        path = self.business_file or self.flow_file.with_suffix(".business.yaml")
        try:
            return Business.from_file(path)
        except FileNotFoundError:
            raise ConfigError(f"BOT_BUSINESS_FILE: no such file: {path}") from None
        except (ValidationError, ValueError) as e:
            raise ConfigError(f"BOT_BUSINESS_FILE: {path}: {_first_error(e)}") from None


_ALIASES = {name: field.validation_alias for name, field in Settings.model_fields.items()}


def _first_error(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{where}: {first['msg']}" if where else first["msg"]
    return str(error).splitlines()[0]


def load_settings(**overrides) -> Settings:
    """Read and validate the configuration, or raise :class:`ConfigError` (one line)."""
    try:
        settings = Settings(**overrides)
    except ValidationError as e:
        first = e.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        message = first["msg"].removeprefix("Value error, ")
        name = _ALIASES.get(field, field)
        raise ConfigError(f"{name}: {message}" if name else message) from None
    settings.business  # noqa: B018 - validate the business file now, not mid-call
    return settings

