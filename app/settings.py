"""One typed Settings object, read from the environment (DESIGN.md §3)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """REA's settings. Every field is the env var `REA_<NAME>` unless its alias says otherwise."""

    model_config = SettingsConfigDict(env_prefix="REA_", extra="ignore", populate_by_name=True)

    home: Path = Field(Path(".rea"), description="SQLite files, Chroma data, job dirs, reports.")
    database_url: str | None = Field(None, description="Default: SQLite file under home.")
    checkpoint_url: str | None = Field(None, description="Default: its own SQLite file under home.")
    chroma_url: str | None = Field(None, description="Unset = embedded persistent Chroma.")
    backend: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    brain: Literal["auto", "llm", "offline"] = "auto"
    llm_model: str = "gpt-4o-mini"
    llm_structured_output: Literal["json_schema", "function_calling", "json_mode"] = Field(
        "json_schema",
        description="json_schema for OpenAI/vLLM; function_calling for servers "
        "without response_format support (older llama.cpp, some Ollama builds).",
    )
    rolling_exploitation: bool = Field(
        True,
        description="Exploitation refills a freed job slot at once; false: each round waits "
        "for all its trials (the behaviour before 2026-12-05).",
    )
    wide_stream: Literal["shared", "independent"] = Field(
        "shared",
        description="What the exploitation's wide trials are fit to: every run (shared) or "
        "only the baseline and earlier wide trials, over the baseline's family (independent; "
        "measured worse on 2026-12-05, docs/benchmark-campaign.md).",
    )
    keep_incumbent_family: bool = Field(
        True,
        description="While exploitation's best config is of another model family than the "
        "baseline's, one trial a round keeps tuning the baseline's family; false: every trial "
        "follows the best's family (the behaviour before 2026-12-05, afternoon).",
    )
    max_parallel_jobs: int | None = Field(
        None, ge=1, description="Local jobs running at once (unset: one per core)."
    )
    openai_api_key: str | None = Field(None, alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(None, alias="OPENAI_BASE_URL")
    webhook_secret: str | None = Field(
        None, description="Signs job callbacks; unset: `rea serve` keeps one in REA_HOME."
    )
    api_token: str | None = Field(
        None, description="Bearer token for every API call but the webhook (required off loopback)."
    )
    public_url: str | None = Field(
        None,
        description="The service's URL as jobs see it (their callbacks go there); unset: "
        "http://127.0.0.1:<port>. Set it when jobs run on other machines (Ray).",
    )

    @property
    def jobs_dir(self) -> Path:
        return self.home / "jobs"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'rea.sqlite').resolve()}"

    @property
    def resolved_checkpoint_url(self) -> str:
        return self.checkpoint_url or f"sqlite:///{(self.home / 'checkpoints.sqlite').resolve()}"
