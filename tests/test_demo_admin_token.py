import stat

from bot.settings import load_settings


def test_demo_makes_an_admin_token_once_keeps_it_private_and_prints_it(kaohe, tmp_path):
    first = kaohe("demo", "--admin-token-file", "var/token")
    assert first.returncode == 0, first.stderr
    token = (tmp_path / "var" / "token").read_text().strip()
    assert len(token) >= 20 and f"dashboard admin token (demo only, in var/token): {token}" in first.stdout
    assert stat.S_IMODE((tmp_path / "var" / "token").stat().st_mode) == 0o600
    again = kaohe("demo", "--admin-token-file", "var/token")
    assert token in again.stdout and (tmp_path / "var" / "token").read_text().strip() == token


def test_demo_without_the_option_makes_no_token(kaohe, tmp_path):
    assert kaohe("demo").returncode == 0
    assert not list((tmp_path / "var").glob("*token*"))


def test_settings_have_no_admin_token_unless_one_is_given(monkeypatch):
    monkeypatch.delenv("KAOHE_ADMIN_TOKEN", raising=False)
    assert load_settings(_env_file=None).admin_token is None
