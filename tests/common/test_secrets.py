"""wardops_common.secrets: how both programs read a secret, and what a bad one says."""

from __future__ import annotations

from pathlib import Path

import pytest

from wardops_common.secrets import Secret, read_secret


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_SECRET", "  from-env\n")
    monkeypatch.setenv("T_EMPTY", "")
    monkeypatch.delenv("T_UNSET", raising=False)


def test_env_file_and_literal(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-file\n")
    env = read_secret({"token_env": "T_SECRET"}, "token")
    assert env is not None and (env.value, env.source) == ("from-env", "env T_SECRET")
    absolute = read_secret({"token_file": str(tmp_path / "token")}, "token")
    assert absolute is not None and absolute.value == "from-file"
    relative = read_secret({"token_file": "token"}, "token", "api", base_dir=tmp_path)
    assert relative is not None and relative.source == f"file {tmp_path / 'token'}"
    literal = read_secret({"url": "http://x"}, "url", "hooks[0]", literal=True)
    assert literal is not None and (literal.value, literal.source) == ("http://x", "hooks[0].url")
    assert read_secret({}, "token") is None


def test_never_shown() -> None:
    secret = read_secret({"token_env": "T_SECRET"}, "token")
    assert repr(secret) == str(secret) == "Secret(<from env T_SECRET>)"
    assert "from-env" not in repr({"settings": [secret]}) and "from-env" not in f"{secret}"
    assert secret == Secret("from-env", "elsewhere")  # equal by value: reloads compare


# (mapping, key, where, options, the exact message)
BAD = [
    ({"token_env": "T_UNSET"}, "token", "api", {},
     "api.token_env: environment variable T_UNSET is not set or empty"),
    ({"token_env": "T_EMPTY"}, "token", "", {},
     "token_env: environment variable T_EMPTY is not set or empty"),
    ({"token_env": 3}, "token", "", {}, "token_env: must be the name of an environment variable"),
    ({"token_file": "/nonexistent/t"}, "token", "api", {},
     "api.token_file: cannot read /nonexistent/t: No such file or directory"),
    ({"token_file": ""}, "token", "", {}, "token_file: must be a file path"),
    ({"token": "s3cret"}, "token", "", {},
     "token: literal secrets are not accepted; use token_env or token_file"),
    ({"token_env": "T_SECRET", "token_file": "/t"}, "token", "", {},
     "token_env: give only one of token_env, token_file"),
    ({"url": "x", "url_env": "T_SECRET"}, "url", "hooks[0]", {"literal": True},
     "hooks[0].url: give only one of url, url_env"),
    ({}, "community", "", {"required": True},
     "community: required (give community_env or community_file)"),
    ({}, "url", "hooks[0]", {"required": True, "literal": True},
     "hooks[0].url: required (give url, url_env or url_file)"),
]


@pytest.mark.parametrize(("raw", "key", "where", "options", "message"), BAD,
                         ids=[b[-1].split(":")[0] + "-" + str(i) for i, b in enumerate(BAD)])
def test_bad_secrets_name_the_field(raw: dict[str, object], key: str, where: str,
                                    options: dict[str, bool], message: str) -> None:
    with pytest.raises(ValueError) as err:
        read_secret(raw, key, where, **options)  # type: ignore[arg-type]
    assert str(err.value) == message


def test_empty_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "t").write_text("\n")
    with pytest.raises(ValueError, match=r"^token_file: .*/t is empty$"):
        read_secret({"token_file": str(tmp_path / "t")}, "token")


def test_missing_inputs_can_be_collected_instead_of_raised(tmp_path: Path) -> None:
    seen: list[str] = []

    def collect(message: str) -> str:
        seen.append(message)
        return "placeholder"

    env = read_secret({"url_env": "T_UNSET"}, "url", "hook", missing=collect)
    unread = read_secret({"key_file": "nope"}, "key", "", base_dir=tmp_path, missing=collect)
    assert env is not None and env.value == "placeholder"
    assert unread is not None and unread.value == "placeholder"
    assert seen == ["hook.url_env: environment variable T_UNSET is not set or empty",
                    f"key_file: cannot read {tmp_path / 'nope'}: No such file or directory"]
    # Mistakes in the file itself are still raised at once.
    with pytest.raises(ValueError, match="give only one of"):
        read_secret({"url_env": "T_SECRET", "url_file": "x"}, "url", missing=collect)
