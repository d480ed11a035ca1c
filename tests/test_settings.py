from pathlib import Path

import pytest

from assistant.settings import Settings


def test_environment_variables_use_the_assistant_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ASSISTANT_MODEL", "openai/gpt-4o-mini")
    monkeypatch.setenv("ASSISTANT_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("ASSISTANT_FALLBACK_MODELS", '["anthropic/claude-3-5-haiku-latest"]')
    settings = Settings()
    assert settings.model == "openai/gpt-4o-mini"
    assert settings.data_dir == tmp_path / "d"
    assert settings.fallback_models == ["anthropic/claude-3-5-haiku-latest"]
    assert settings.uses_embedded_postgres and settings.uses_embedded_redis


def test_dotenv_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("ASSISTANT_ANSWER_TOKENS=99\nASSISTANT_REDIS_URL=redis://localhost:6390/0\n")
    settings = Settings()
    assert settings.answer_tokens == 99
    assert not settings.uses_embedded_redis


def test_reading_settings_creates_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ASSISTANT_DATA_DIR", str(tmp_path / "not-yet"))
    Settings()
    assert not (tmp_path / "not-yet").exists()


def test_bad_values_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_PORT", "99999")
    with pytest.raises(ValueError, match="port"):
        Settings()
