"""Settings come in layers: defaults < instance/config.py < PARTNERMATCH_* < test mapping."""

from __future__ import annotations

import stat

import pytest

from partnermatch import create_app
from partnermatch.config import ConfigurationError


@pytest.fixture
def clean_environment(monkeypatch):
    for name in (
        "PARTNERMATCH_ENV",
        "PARTNERMATCH_DATABASE_URL",
        "PARTNERMATCH_DATA_DIR",
        "PARTNERMATCH_SECRET_KEY",
        "PARTNERMATCH_EMBEDDING_MODEL",
        "PARTNERMATCH_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults_keep_everything_in_the_instance_folder(tmp_path, clean_environment):
    app = create_app(instance_path=tmp_path)

    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/partnermatch.sqlite3"
    assert app.config["DATA_DIR"] == str(tmp_path)
    assert app.config["EMBEDDING_MODEL"] is None


def test_instance_config_overrides_defaults(tmp_path, clean_environment):
    (tmp_path / "config.py").write_text("PROFILES_PER_PAGE = 7\nSECRET_KEY = 'from-instance'\n")

    app = create_app(instance_path=tmp_path)

    assert app.config["PROFILES_PER_PAGE"] == 7
    assert app.config["SECRET_KEY"] == "from-instance"


def test_environment_overrides_instance_config(tmp_path, clean_environment):
    (tmp_path / "config.py").write_text("SECRET_KEY = 'from-instance'\n")
    clean_environment.setenv("PARTNERMATCH_SECRET_KEY", "from-environment")
    clean_environment.setenv("PARTNERMATCH_DATABASE_URL", f"sqlite:///{tmp_path}/other.db")
    clean_environment.setenv("PARTNERMATCH_DATA_DIR", str(tmp_path / "vectors"))
    clean_environment.setenv("PARTNERMATCH_EMBEDDING_MODEL", "/models/minilm")

    app = create_app(instance_path=tmp_path)

    assert app.config["SECRET_KEY"] == "from-environment"
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/other.db"
    assert app.config["DATA_DIR"] == str(tmp_path / "vectors")
    assert (tmp_path / "vectors").is_dir()
    assert app.config["EMBEDDING_MODEL"] == "/models/minilm"


def test_test_mapping_overrides_environment(tmp_path, clean_environment):
    clean_environment.setenv("PARTNERMATCH_SECRET_KEY", "from-environment")

    app = create_app({"SECRET_KEY": "from-test"}, instance_path=tmp_path)

    assert app.config["SECRET_KEY"] == "from-test"


def test_production_without_secret_key_refuses_to_start(tmp_path, clean_environment):
    clean_environment.setenv("PARTNERMATCH_ENV", "production")

    with pytest.raises(ConfigurationError, match="PARTNERMATCH_SECRET_KEY is not set"):
        create_app(instance_path=tmp_path)
    assert not (tmp_path / "secret_key").exists()


def test_production_cookies_are_secure(tmp_path, clean_environment):
    clean_environment.setenv("PARTNERMATCH_ENV", "production")
    clean_environment.setenv("PARTNERMATCH_SECRET_KEY", "a-long-random-production-key")
    clean_environment.setenv("PARTNERMATCH_BASE_URL", "https://partners.example.org")

    app = create_app(instance_path=tmp_path)

    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_development_generates_a_private_secret_key_once(tmp_path, clean_environment):
    first = create_app(instance_path=tmp_path)
    second = create_app(instance_path=tmp_path)

    key_file = tmp_path / "secret_key"
    assert len(first.config["SECRET_KEY"]) == 64
    assert second.config["SECRET_KEY"] == first.config["SECRET_KEY"]
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_unknown_environment_name_is_refused(tmp_path, clean_environment):
    clean_environment.setenv("PARTNERMATCH_ENV", "staging")

    with pytest.raises(ConfigurationError, match="'development' or 'production'"):
        create_app(instance_path=tmp_path)


def test_production_without_a_base_url_refuses_to_start(tmp_path, clean_environment):
    clean_environment.setenv("PARTNERMATCH_ENV", "production")
    clean_environment.setenv("PARTNERMATCH_SECRET_KEY", "a-long-random-production-key")

    with pytest.raises(ConfigurationError, match="PARTNERMATCH_BASE_URL is not set"):
        create_app(instance_path=tmp_path)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"BASE_URL": "https://partners.example.org/"}, "https://partners.example.org"),
        ({"SERVER_NAME": "partners.example.org"}, "https://partners.example.org"),
        (
            {
                "SERVER_NAME": "example.org",
                "APPLICATION_ROOT": "/pm/",
                "PREFERRED_URL_SCHEME": "https",
            },
            "https://example.org/pm",
        ),
    ],
)
def test_production_takes_the_base_url_or_derives_it_once_from_the_server_name(
    tmp_path, clean_environment, settings, expected
):
    app = create_app(
        {"PARTNERMATCH_ENV": "production", "SECRET_KEY": "k" * 32, **settings},
        instance_path=tmp_path,
    )

    assert app.config["BASE_URL"] == expected


@pytest.mark.parametrize("url", ["partners.example.org", "ftp://example.org", "https://x.org/?a=1"])
def test_a_base_url_that_is_not_a_web_address_is_refused(tmp_path, clean_environment, url):
    clean_environment.setenv("PARTNERMATCH_BASE_URL", url)

    with pytest.raises(ConfigurationError, match="give the site's address"):
        create_app(instance_path=tmp_path)


def test_development_links_to_make_run(tmp_path, clean_environment):
    assert create_app(instance_path=tmp_path).config["BASE_URL"] == "http://127.0.0.1:5000"


def test_reminder_after_days_is_a_whole_number_of_days_read_from_the_instance_config(
    tmp_path, clean_environment
):
    assert create_app(instance_path=tmp_path / "default").config["REMINDER_AFTER_DAYS"] == 7
    (tmp_path / "config.py").write_text("REMINDER_AFTER_DAYS = '10'\n")
    assert create_app(instance_path=tmp_path).config["REMINDER_AFTER_DAYS"] == 10

    with pytest.raises(ConfigurationError, match="REMINDER_AFTER_DAYS is 0: give a whole number"):
        create_app({"REMINDER_AFTER_DAYS": 0}, instance_path=tmp_path)
    with pytest.raises(ConfigurationError, match="REMINDER_AFTER_DAYS is 'weekly'"):
        create_app({"REMINDER_AFTER_DAYS": "weekly"}, instance_path=tmp_path)


def test_a_chunk_size_below_one_is_refused_by_its_environment_variable(tmp_path, clean_environment):
    clean_environment.setenv("PARTNERMATCH_ENCODE_CHUNK", "0")

    with pytest.raises(ConfigurationError, match="PARTNERMATCH_ENCODE_CHUNK is 0"):
        create_app(instance_path=tmp_path)
