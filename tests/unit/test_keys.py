"""Keys come from configuration; only the embedded demo (TDKT_GENERATE_KEYS=1) makes missing local ones, and
the development keys published in docker-compose.yml are refused without TDKT_ALLOW_DEV_KEYS=1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from security import codec
from security.keys import PUBLISHED_DEV_SECRETS, MissingKey, PublishedKey
from security.tokens import keyring_from_env

ROOT = Path(__file__).resolve().parents[2]
DEMO = {"TDKT_GENERATE_KEYS": "1"}


def test_a_missing_codec_key_names_the_variable_and_the_file_and_makes_nothing(tmp_path: Path):
    path = tmp_path / "codec-keys.json"
    with pytest.raises(codec.CodecError, match=rf"TDKT_CODEC_KEYS.*{path}"):
        codec.load_keyring({}, key_file=path)
    assert not path.exists()
    assert codec.load_keyring(DEMO, key_file=path).current_id and path.exists()
    assert codec.load_keyring({}, key_file=path).keys  # once made, it is read without the switch


def test_a_missing_signing_key_names_the_variable_and_the_file_and_makes_nothing(tmp_path: Path):
    with pytest.raises(MissingKey, match=r"TDKT_AUTH_KEYS.*auth-keys.json"):
        keyring_from_env({}, state_dir=tmp_path)
    assert not (tmp_path / "auth-keys.json").exists()
    assert keyring_from_env(DEMO, state_dir=tmp_path).keys


def compose_secrets() -> set[str]:
    document = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("TDKT_CODEC_KEYS", "TDKT_AUTH_KEYS", "TDKT_AUDIT_KEYS") and isinstance(value, str):
                    found.update(entry.partition(":")[2] for entry in value.split(","))
                elif key == "TDKT_CODEC_TOKEN" and isinstance(value, str):
                    found.add(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(document)
    return found


def test_every_key_published_in_the_compose_file_is_known_as_published():
    published = compose_secrets()
    assert len(published) == 4 and published <= PUBLISHED_DEV_SECRETS


def test_published_keys_are_refused_without_the_development_switch():
    codec_dev = "dev:ZGV2LW9ubHkta2V5LWNoYW5nZS1tZS1pbi1wcm9kISE="
    with pytest.raises(codec.CodecError, match=r"published in docker-compose\.yml"):
        codec.load_keyring({"TDKT_CODEC_KEYS": codec_dev})
    assert codec.load_keyring({"TDKT_CODEC_KEYS": codec_dev, "TDKT_ALLOW_DEV_KEYS": "1"}).current_id == "dev"
    auth_dev = "dev:dev-only-signing-secret-change-me-in-production"
    with pytest.raises(PublishedKey, match="TDKT_AUTH_KEYS"):
        keyring_from_env({"TDKT_AUTH_KEYS": auth_dev})
    assert keyring_from_env({"TDKT_AUTH_KEYS": auth_dev, "TDKT_ALLOW_DEV_KEYS": "1"}).current == "dev"


def test_the_cli_stops_with_a_clear_message_when_the_codec_key_is_missing(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TDKT_CODEC", "TDKT_GENERATE"))}
    env |= {"TDKT_CODEC_KEY_FILE": str(tmp_path / "codec-keys.json"), "TDKT_AUTH_KEYS": "k1:" + "k" * 40}
    from security.tokens import Keyring, issue_token

    token = issue_token(Keyring(keys={"k1": "k" * 40}, current="k1"), "tw.ban-tdkt.can-bo-1")
    done = subprocess.run(
        [sys.executable, str(ROOT / "starter.py"), "--token", token, "status", "nomination-2026-BTP-1"],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 1, done.stderr
    assert "TDKT_CODEC_KEYS" in done.stderr and "codec-keys.json" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "codec-keys.json").exists()


@pytest.mark.parametrize("program", [["-m", "api", "--port", "0"], ["worker.py"]], ids=["api", "worker"])
def test_the_api_and_the_worker_stop_at_start_without_their_keys(tmp_path: Path, program: list[str]):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TDKT_CODEC", "TDKT_GENERATE", "TDKT_AUTH"))}
    env |= {
        "TDKT_CODEC_KEY_FILE": str(tmp_path / "codec-keys.json"),
        "TDKT_AUTH_KEYS": "k1:" + "k" * 40,
        "TEMPORAL_ADDRESS": "127.0.0.1:1",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'engine.db'}",
    }
    done = subprocess.run([sys.executable, *program], env=env, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "TDKT_CODEC_KEYS" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert list(tmp_path.iterdir()) == []  # no key, and no database, was made
