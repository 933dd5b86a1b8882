import pytest

from bot.settings import SettingsError, load_settings
from storage.campaign import DEFAULT_CAMPAIGN

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
VARIABLES = (
    "KAOHE_DATABASE_URL",
    "KAOHE_CAMPAIGN",
    "KAOHE_ADMIN_TOKEN",
    "WECOM_CORP_ID",
    "WECOM_AGENT_ID",
    "WECOM_SECRET",
    "WECOM_TOKEN",
    "WECOM_AES_KEY",
    "WECOM_BOT_TOKEN",
    "WECOM_BOT_AES_KEY",
    "WECOM_API_BASE",
    "WECOM_MAX_AGE_S",
    "KAOHE_SEND_WORKERS",
    "KAOHE_TURN_BATCH",
    "KAOHE_TURN_ON_LOOP",
    "KAOHE_TURN_FLIGHTS",
    "KAOHE_GC_FREEZE",
    "KAOHE_HEADER_TIMEOUT_S",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    for name in VARIABLES + ("TOKEN", "SECRET", "DATABASE_URL", "CAMPAIGN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_defaults_need_no_configuration():
    s = load_settings()
    assert s.database_url == "sqlite:///./var/kaohe.db"
    assert s.campaign_file == DEFAULT_CAMPAIGN and not s.campaign_explicit
    assert s.admin_token is None
    assert s.api_base == "https://qyapi.weixin.qq.com/cgi-bin/"
    assert s.max_age_s == 600
    assert s.send_workers == 4
    assert s.turn_on_loop and s.gc_freeze
    assert not (s.app_enabled or s.sending_enabled or s.bot_enabled)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WECOM_AES_KEY", AES_KEY[:42]),
        ("WECOM_BOT_AES_KEY", AES_KEY[:42]),
        ("KAOHE_DATABASE_URL", "mysql://kaohe@localhost/kaohe"),
        ("KAOHE_DATABASE_URL", "not a url"),
        ("WECOM_AGENT_ID", "10000o2"),
        ("WECOM_MAX_AGE_S", "-1"),
        ("WECOM_MAX_AGE_S", "ten minutes"),
        ("WECOM_API_BASE", "qyapi.weixin.qq.com/cgi-bin/"),
        ("WECOM_API_BASE", "ftp://qyapi.weixin.qq.com/"),
        ("WECOM_TOKEN", "token with spaces"),
        ("KAOHE_SEND_WORKERS", "0"),
        ("KAOHE_SEND_WORKERS", "11"),
        ("KAOHE_SEND_WORKERS", "four"),
        ("KAOHE_TURN_BATCH", "0"),
        ("KAOHE_TURN_BATCH", "many"),
        ("KAOHE_TURN_ON_LOOP", "sometimes"),
        ("KAOHE_TURN_FLIGHTS", "0"),
        ("KAOHE_HEADER_TIMEOUT_S", "0"),
        ("KAOHE_HEADER_TIMEOUT_S", "soon"),
        ("KAOHE_TURN_FLIGHTS", "9"),
        ("KAOHE_TURN_FLIGHTS", "two"),
        ("KAOHE_GC_FREEZE", "2"),
    ],
)
def test_malformed_value_is_refused_in_one_line_naming_the_variable(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    message = str(refused.value)
    assert message.startswith(f"{variable}: ") and "\n" not in message


def test_half_configured_app_names_the_missing_token(monkeypatch):
    monkeypatch.setenv("WECOM_CORP_ID", "ww0123456789abcdef")
    monkeypatch.setenv("WECOM_AES_KEY", AES_KEY)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert str(refused.value).startswith("WECOM_TOKEN: ") and "\n" not in str(refused.value)


def test_half_configured_group_bot_names_the_missing_key(monkeypatch):
    monkeypatch.setenv("WECOM_BOT_TOKEN", "bottoken")
    with pytest.raises(SettingsError, match=r"^WECOM_BOT_AES_KEY: "):
        load_settings()


def test_values_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("KAOHE_DATABASE_URL", "postgresql://kaohe:pw@db/kaohe")
    monkeypatch.setenv("WECOM_CORP_ID", "ww0123456789abcdef")
    monkeypatch.setenv("WECOM_TOKEN", "Tok3n")
    monkeypatch.setenv("WECOM_AES_KEY", AES_KEY)
    monkeypatch.setenv("WECOM_AGENT_ID", "1000002")
    monkeypatch.setenv("WECOM_SECRET", "s3cret")
    monkeypatch.setenv("WECOM_API_BASE", "http://127.0.0.1:9999/cgi-bin")
    monkeypatch.setenv("WECOM_MAX_AGE_S", "0")
    s = load_settings()
    assert s.database_url == "postgresql+psycopg://kaohe:pw@db/kaohe"
    assert (s.corp_id, s.token, s.aes_key, s.agent_id, s.secret) == (
        "ww0123456789abcdef",
        "Tok3n",
        AES_KEY,
        1000002,
        "s3cret",
    )
    assert s.api_base == "http://127.0.0.1:9999/cgi-bin/"
    assert s.max_age_s == 0
    assert s.app_enabled and s.sending_enabled


def test_values_are_read_from_a_dot_env_file(tmp_path):
    (tmp_path / ".env").write_text(
        f"KAOHE_ADMIN_TOKEN=adm1n\nWECOM_BOT_TOKEN=bottoken\nWECOM_BOT_AES_KEY={AES_KEY}\n"
        "KAOHE_CAMPAIGN=campaigns/2014.toml\n",
        encoding="utf-8",
    )
    s = load_settings()
    assert s.admin_token == "adm1n"
    assert s.bot_enabled
    assert s.campaign == "campaigns/2014.toml"


def test_environment_wins_over_dot_env_file(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("KAOHE_ADMIN_TOKEN=from-file\n", encoding="utf-8")
    monkeypatch.setenv("KAOHE_ADMIN_TOKEN", "from-env")
    assert load_settings().admin_token == "from-env"


def test_bad_value_in_dot_env_file_names_the_variable(tmp_path):
    (tmp_path / ".env").write_text("WECOM_MAX_AGE_S=-5\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"^WECOM_MAX_AGE_S: "):
        load_settings()


def test_generic_variable_names_of_the_host_are_not_read(monkeypatch):
    monkeypatch.setenv("TOKEN", "abc")
    monkeypatch.setenv("SECRET", "xyz")
    monkeypatch.setenv("DATABASE_URL", "mysql://elsewhere/db")
    s = load_settings()
    assert (s.token, s.secret, s.database_url) == (None, None, "sqlite:///./var/kaohe.db")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WECOM_AES_KEY", AES_KEY[:42]),
        ("KAOHE_DATABASE_URL", "mysql://kaohe@localhost/kaohe"),
    ],
)
def test_serve_with_a_bad_variable_exits_with_one_line_naming_it(kaohe, variable, value):
    result = kaohe("serve", "--port", "0", env={variable: value})
    assert result.returncode != 0
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert len(lines) == 1 and variable in lines[0]


def test_kaohe_turn_batch_sizes_the_lanes_batches(monkeypatch, tmp_path):
    from bot.services import build_services

    monkeypatch.setenv("KAOHE_TURN_BATCH", "5")
    services = build_services(load_settings(database_url=f"sqlite:///{tmp_path}/t.db"))
    assert services.lane.batch == 5
    services.close()


@pytest.mark.parametrize(
    ("on_loop", "database", "expected"),
    [
        ("1", "sqlite", (True, False)),
        ("0", "sqlite", (False, False)),
        ("1", "pg", (True, True)),
        ("0", "pg", (False, False)),
    ],
)
def test_turns_run_on_the_event_loop_unless_turned_off_awaiting_postgresql(
    monkeypatch, tmp_path, on_loop, database, expected, request
):
    from bot.services import build_services

    url = f"sqlite:///{tmp_path}/t.db" if database == "sqlite" else request.getfixturevalue("pg_url")
    monkeypatch.setenv("KAOHE_TURN_ON_LOOP", on_loop)
    monkeypatch.setenv("KAOHE_TURN_FLIGHTS", "3")
    services = build_services(load_settings(database_url=url))
    assert (services.lane.on_loop, services.lane.awaits) == expected and services.lane.flights == 3
    services.close()


def test_kaohe_gc_freeze_turns_the_heap_keeper_off(monkeypatch, tmp_path):
    from bot.services import build_services

    monkeypatch.setenv("KAOHE_GC_FREEZE", "0")
    services = build_services(load_settings(database_url=f"sqlite:///{tmp_path}/t.db"))
    assert services.lane.heap.enabled is False
    services.close()
